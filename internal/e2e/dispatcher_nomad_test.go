package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	nomadapi "github.com/hashicorp/nomad/api"

	"github.com/dtsrepl/dts/api"
	"github.com/dtsrepl/dts/internal/testenv"
)

// TestNomadEndToEnd drives `dts dispatcher` on real Consul and Nomad with the seed document's
// curl examples, and follows one task through submit, list, alter, stop, start and delete with
// rows flowing from MariaDB to a Kafka-protocol broker through a Nomad-run worker.
func TestNomadEndToEnd(t *testing.T) {
	t.Parallel()
	start := time.Now()
	bin := testenv.Build(t, "./cmd/dts")
	db := testenv.StartMariaDB(t)
	seedDB(t, db)
	kafka := testenv.StartKafkaProcess(t, 2)
	consul := testenv.StartConsul(t)
	nomad := testenv.StartNomad(t, consul)
	t.Cleanup(func() { dumpWorkerLogs(t, nomad.DataDir) })
	dir := t.TempDir()
	srv := startServer(t, "dispatcher", dir,
		childEnv("CONSUL_HTTP_ADDR="+consul.Addr, "NOMAD_ADDR="+nomad.Addr),
		"dispatcher", "--auth-user", "replicator", "--auth-password", "dtsfor3.1415926", "--worker-command", bin)
	t.Logf("servers up in %s", time.Since(start).Round(time.Millisecond))
	var rec recorder
	base := srv.URL
	kaddr := kafka.Addr()
	srcAddr := fmt.Sprintf("127.0.0.1:%d", db.Port)

	// The seed's submit example, verbatim but for the addresses.
	sub := rec.curl(t, "", "-i", "-XPOST", "-H", "content-type:application/json", "-H", seedAuthHeader,
		"-d", seedSubmitBody(db.Port, kaddr, "replicator_test"), base+"/v1/dispatch/submit")
	var submitted api.SubmitResponse
	sub.ok(t, &submitted)
	if !regexp.MustCompile(`^\{"code":0,"message":"0","ttl":1,"data":\{"addr":"[0-9.:]*","id":\d+\}\}$`).MatchString(sub.Body) {
		t.Errorf("submit body %s does not have the seed's shape", sub.Body)
	}
	if ct := sub.Header.Get("Content-Type"); ct != "application/json; charset=utf-8" {
		t.Errorf("Content-Type %q", ct)
	}
	t.Logf("submit: HTTP %d Content-Type %q %s: %s", sub.Status, sub.Header.Get("Content-Type"), api.StatusHeader, sub.Body)
	id := submitted.ID
	if id <= 0 {
		t.Fatalf("submit id %d", id)
	}
	t.Logf("submitted task %d, worker at %q, after %s", id, submitted.Addr, time.Since(start).Round(time.Millisecond))
	jobID := fmt.Sprintf("dts-task-%d", id)
	waitJobRunning(t, nomad.Client, jobID)

	// The worker reports Running with its start position before any row is written (incr=true
	// streams from the moment it starts).
	s := rec.waitState(t, base, id, api.StateRunning, 90*time.Second)
	eventually(t, 30*time.Second, "a position", func() error {
		if s, _ = rec.summary(t, base, id); s.Pos == "" {
			return fmt.Errorf("no pos yet: %+v", s)
		}
		return nil
	})
	insertRows(t, db, 1, 6)
	waitRows(t, kafka, "replicator_test", 1, 6, 60*time.Second)

	// The seed's list example.
	var list api.TaskList
	eventually(t, 30*time.Second, "transaction_time in the list", func() error {
		rep := rec.curl(t, "", "-i", "-H", "content-type:application/json", "-H", seedAuthHeader, base+"/v1/task/list?per_page=5&page=1")
		rep.ok(t, &list)
		if len(list.Tasks) != 1 || list.Tasks[0].TransactionTime == "" {
			return fmt.Errorf("list %+v", list)
		}
		return nil
	})
	t.Logf("list: %s", mustJSON(t, list))
	s = list.Tasks[0]
	if list.Total != 1 || s.ID != id || s.State != api.StateRunning || s.SourceAddr != srcAddr || s.DestAddr != kaddr || s.Message != "" {
		t.Errorf("list %+v", list)
	}
	checkTime(t, "transaction_time", s.TransactionTime)
	checkTime(t, "updated_at", s.UpdatedAt)
	if !strings.HasPrefix(s.Pos, "MariaDB/") {
		t.Errorf("pos %q", s.Pos)
	}
	if s.ServiceAddr == "" || submitted.Addr != "" && s.ServiceAddr != submitted.Addr {
		t.Errorf("service_addr %q, submit addr %q", s.ServiceAddr, submitted.Addr)
	}
	seq := gtidSeq(t, s.Pos)
	insertRows(t, db, 6, 11)
	waitRows(t, kafka, "replicator_test", 6, 11, 60*time.Second)
	eventually(t, 30*time.Second, "the position advancing", func() error {
		s, _ = rec.summary(t, base, id)
		if gtidSeq(t, s.Pos) < seq+4 {
			return fmt.Errorf("pos %s, was %d", s.Pos, seq)
		}
		return nil
	})

	// The seed's alter example, to another topic.
	alt := rec.curl(t, "", "-i", "-XPUT", "-H", "content-type:application/json", "-H", seedAuthHeader,
		"-d", seedSubmitBody(db.Port, kaddr, "replicator_test2"), fmt.Sprintf("%s/v1/dispatch/alter/%d", base, id))
	alt.ok(t, nil)
	if alt.Body != `{"code":0,"message":"0","ttl":1,"data":{}}` {
		t.Errorf("alter body %s", alt.Body)
	}
	waitApplied(t, &rec, base, id, 2)
	insertRows(t, db, 100, 105)
	waitRows(t, kafka, "replicator_test2", 100, 105, 90*time.Second)
	for k := range rowsIn(t, kafka, "replicator_test") {
		if k.ID >= 100 {
			t.Errorf("row %v written after the alter went to the old topic", k)
		}
	}
	// The same alter again changes nothing: the version stays, and re-sending the same account
	// leaves the worker alone.
	alloc := runningAlloc(t, nomad.Client, jobID)
	rec.curl(t, "", "-i", "-XPUT", "-H", "content-type:application/json", "-H", seedAuthHeader,
		"-d", seedSubmitBody(db.Port, kaddr, "replicator_test2"), fmt.Sprintf("%s/v1/dispatch/alter/%d", base, id)).ok(t, nil)
	insertRows(t, db, 150, 155)
	waitRows(t, kafka, "replicator_test2", 150, 155, 60*time.Second)
	if d := rec.detail(t, base, id); d.SpecVersion != 2 {
		t.Errorf("an unchanged alter made version %d", d.SpecVersion)
	}
	if again := runningAlloc(t, nomad.Client, jobID); again.ID != alloc.ID || again.restarts != alloc.restarts {
		t.Errorf("an unchanged alter restarted the worker: allocation %+v, was %+v", again, alloc)
	}
	rec.api(t, base, http.MethodPut, fmt.Sprintf("/v1/dispatch/alter/%d", id), seedSubmitBody(db.Port+1, kaddr, "replicator_test2")).
		want(t, api.CodeConflict, "task.source")
	rec.api(t, base, http.MethodPut, "/v1/dispatch/alter/999999", seedSubmitBody(db.Port, kaddr, "replicator_test2")).
		want(t, api.CodeNotFound, "999999")
	if d := rec.detail(t, base, id); d.SpecVersion != 2 || d.Spec.Kafka.Topic != "replicator_test2" {
		t.Errorf("refused alters changed the task: %+v", d)
	}

	// Stop: the job stops, the list says Stopped, and rows written meanwhile wait in the binlog.
	rec.api(t, base, http.MethodPost, fmt.Sprintf("/v1/task/%d/stop", id), "").ok(t, nil)
	eventually(t, 90*time.Second, "the job stopped", func() error {
		job, _, err := nomad.Client.Jobs().Info(jobID, nil)
		if err != nil {
			return err
		}
		if job.Stop == nil || !*job.Stop {
			return fmt.Errorf("job %s not stopped: %s", jobID, *job.Status)
		}
		if n := liveAllocs(t, nomad.Client, jobID); n > 0 {
			return fmt.Errorf("%d allocations still running", n)
		}
		return nil
	})
	s = rec.waitState(t, base, id, api.StateStopped, 30*time.Second)
	if s.Desired != api.DesiredStopped {
		t.Errorf("stopped task %+v", s)
	}
	insertRows(t, db, 200, 205)
	for k := range rowsIn(t, kafka, "replicator_test2") {
		if k.ID >= 200 {
			t.Fatalf("row %v arrived while the task was stopped", k)
		}
	}
	rec.api(t, base, http.MethodPost, fmt.Sprintf("/v1/task/%d/start", id), "").ok(t, nil)
	waitJobRunning(t, nomad.Client, jobID)
	rec.waitState(t, base, id, api.StateRunning, 90*time.Second)
	waitRows(t, kafka, "replicator_test2", 200, 205, 90*time.Second)
	t.Logf("submit, alter, stop and start done after %s", time.Since(start).Round(time.Millisecond))

	// The source password is in Nomad only as the task's Variable.
	v, _, err := nomad.Client.Variables().Read("nomad/jobs/"+jobID, nil)
	if err != nil {
		t.Fatalf("read the task's variable: %v", err)
	}
	if v.Items["password"] != seedDBPassword {
		t.Errorf("the task's variable does not hold the source password")
	}
	jobTexts, versions := jobHistory(t, nomad.Client, jobID)
	t.Logf("job %s has %d versions", jobID, versions)
	if versions < 2 {
		t.Errorf("job %s has %d versions, want the alter and the restart to have made more", jobID, versions)
	}
	noSecret(t, "nomad job", seedDBPassword, jobTexts...)
	kvBefore := consulValues(t, consul)
	if len(kvBefore) == 0 {
		t.Error("nothing under dts/ in Consul")
	}
	noSecret(t, "consul kv", seedDBPassword, kvBefore...)

	// The workers' logs go with their allocations when the job is purged.
	wlogs := workerLogs(t, nomad.DataDir)
	if len(wlogs) == 0 {
		t.Error("found no worker log")
	}

	// Delete: the job is purged with its variable, the task is gone.
	rec.api(t, base, http.MethodDelete, fmt.Sprintf("/v1/task/%d", id), "").ok(t, nil)
	if _, _, err := nomad.Client.Jobs().Info(jobID, nil); err == nil || !strings.Contains(err.Error(), "404") {
		t.Errorf("job %s after delete: %v, want 404", jobID, err)
	}
	if _, _, err := nomad.Client.Variables().Read("nomad/jobs/"+jobID, nil); err == nil {
		t.Errorf("the task's variable outlived the task")
	}
	if _, ok := rec.summary(t, base, id); ok {
		t.Errorf("task %d still listed after delete", id)
	}
	rec.api(t, base, http.MethodGet, fmt.Sprintf("/v1/task/%d", id), "").want(t, api.CodeNotFound, fmt.Sprint(id))
	eventually(t, 90*time.Second, "the deleted task's worker gone", func() error {
		if n := liveAllocs(t, nomad.Client, ""); n > 0 {
			return fmt.Errorf("%d allocations still running", n)
		}
		return nil
	})

	badInput(t, &rec, base, db.Port, kaddr)
	kafkaSecrets := securedKafkaUnderNomad(t, &rec, base, db, nomad, consul)

	if exited, err := srv.Proc.Exited(); exited {
		t.Fatalf("the dispatcher exited: %v", err)
	}
	log := srv.Proc.Log()
	if !strings.Contains(log, "task submitted") {
		t.Errorf("the dispatcher log has no submit: %.2000s", log)
	}
	noSecret(t, "dispatcher log", seedDBPassword, log)
	noSecret(t, "response", seedDBPassword, rec.all()...)
	noSecret(t, "consul kv after delete", seedDBPassword, consulValues(t, consul)...)
	noSecret(t, "worker log", seedDBPassword, wlogs...)
	for _, secret := range kafkaSecrets {
		noSecret(t, "dispatcher log (kafka)", secret, log)
		noSecret(t, "response (kafka)", secret, rec.all()...)
	}
	for _, line := range strings.Split(log, "\n") {
		if strings.Contains(line, `"level":"ERROR"`) {
			t.Errorf("the dispatcher logged an error: %s", line)
		}
	}
	t.Logf("done after %s", time.Since(start).Round(time.Millisecond))
}

// badInput sends the bad requests the API must refuse with a -400 or -401 naming the field, to
// the real server.
func badInput(t *testing.T, rec *recorder, base string, port int, kaddr string) {
	valid := seedSubmitBody(port, kaddr, "replicator_test")
	replace := func(old, new string) string {
		t.Helper()
		if !strings.Contains(valid, old) {
			t.Fatalf("%q is not in the body", old)
		}
		return strings.Replace(valid, old, new, 1)
	}
	submit := base + "/v1/dispatch/submit"
	for _, tc := range []struct {
		name, body, msg string
	}{
		{"not json", `task=1&source=2`, "body: is not valid JSON"},
		{"unknown partition_mode", replace(`"flat_format":false`, `"flat_format":false,"partition_mode":"round_robin"`), "task.kafka.partition_mode"},
		{"bad regex", replace(`/xes_class_students_\\d+/`, `/(unclosed/`), "task.filters[0].match"},
		{"filter does not parse", replace(`"match":"check_delay","filter":""`, `"match":"check_delay","filter":"status = = 1"`), "task.filters[1].filter"},
		{"missing kafka.addr", replace(`"addr":"`+kaddr+`",`, ``), "task.kafka.addr"},
		{"port 70000", replace(fmt.Sprintf(`"port":%d`, port), `"port":70000`), "task.source.port"},
		{"port as a string", replace(fmt.Sprintf(`"port":%d`, port), `"port":"3306"`), "task.source.port"},
	} {
		rep := rec.api(t, base, http.MethodPost, "/v1/dispatch/submit", tc.body)
		if rep.Env.Code != api.CodeBadRequest {
			t.Errorf("%s: code %d, want -400: %s", tc.name, rep.Env.Code, rep.Body)
			continue
		}
		rep.want(t, api.CodeBadRequest, tc.msg)
	}

	// Over 1 MiB, sent by curl from a file as an operator would.
	path := filepath.Join(t.TempDir(), "big.json")
	if err := os.WriteFile(path, []byte(bigBody(1<<20)), 0o644); err != nil {
		t.Fatal(err)
	}
	rec.curl(t, "", "-sS", "-i", "-XPOST", "-H", "content-type:application/json", "-H", seedAuthHeader, "--data-binary", "@"+path, submit).
		want(t, api.CodeBadRequest, "body: larger than")

	// No auth, wrong auth.
	for _, tc := range []struct {
		name string
		args []string
		msg  string
	}{
		{"no auth", nil, "authentication required"},
		{"wrong password", []string{"-H", "Authorization:Basic " + base64Std("replicator:dtsfor3")}, "wrong user name or password"},
		{"wrong user", []string{"-u", "xes_replicator:" + seedAPIPass}, "wrong user name or password"},
	} {
		args := append([]string{"-sS", "-i", "-XPOST", "-H", "content-type:application/json", "-d", valid}, tc.args...)
		rep := rec.curl(t, "", append(args, submit)...)
		rep.want(t, api.CodeUnauthorized, tc.msg)
		if rep.Status != http.StatusUnauthorized || !strings.HasPrefix(rep.Header.Get("WWW-Authenticate"), "Basic") {
			t.Errorf("%s: HTTP %d, WWW-Authenticate %q", tc.name, rep.Status, rep.Header.Get("WWW-Authenticate"))
		}
		rep = rec.curl(t, "", append(append([]string{"-sS", "-i"}, tc.args...), base+"/v1/task/list?per_page=5&page=1")...)
		rep.want(t, api.CodeUnauthorized, tc.msg)
	}

	// None of it created a task or hurt the server.
	if l := rec.list(t, base); l.Total != 0 {
		t.Errorf("bad input created tasks: %+v", l)
	}
	rep := rec.curl(t, "", "-sS", "-i", base+"/healthz")
	rep.ok(t, nil)
}

// jobHistory returns the job as Nomad keeps it, each of its versions and their diffs, as JSON,
// and how many versions it has.
func jobHistory(t *testing.T, c *nomadapi.Client, jobID string) ([]string, int) {
	t.Helper()
	job, _, err := c.Jobs().Info(jobID, nil)
	if err != nil {
		t.Fatal(err)
	}
	texts := []string{mustJSON(t, job)}
	versions, diffs, _, err := c.Jobs().Versions(jobID, true, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, j := range versions {
		texts = append(texts, mustJSON(t, j))
	}
	return append(texts, mustJSON(t, diffs)), len(versions)
}

func waitJobRunning(t *testing.T, c *nomadapi.Client, jobID string) {
	t.Helper()
	eventually(t, 90*time.Second, "job "+jobID+" running", func() error {
		job, _, err := c.Jobs().Info(jobID, nil)
		if err != nil {
			return err
		}
		if job.Stop != nil && *job.Stop || *job.Status != "running" {
			return fmt.Errorf("job status %s stop %v", *job.Status, *job.Stop)
		}
		allocs, _, err := c.Jobs().Allocations(jobID, false, nil)
		if err != nil {
			return err
		}
		for _, a := range allocs {
			if a.ClientStatus == "running" && a.DesiredStatus == "run" {
				return nil
			}
		}
		return fmt.Errorf("no running allocation among %d", len(allocs))
	})
}

// allocRun is a running allocation and how often its worker restarted in place.
type allocRun struct {
	ID       string
	restarts uint64
}

func runningAlloc(t *testing.T, c *nomadapi.Client, jobID string) allocRun {
	t.Helper()
	allocs, _, err := c.Jobs().Allocations(jobID, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range allocs {
		if a.ClientStatus == "running" && a.DesiredStatus == "run" {
			r := allocRun{ID: a.ID}
			if ts := a.TaskStates["worker"]; ts != nil {
				r.restarts = ts.Restarts
			}
			return r
		}
	}
	t.Fatalf("job %s has no running allocation", jobID)
	return allocRun{}
}

// liveAllocs counts the running or pending allocations of jobID ("" for every job).
func liveAllocs(t *testing.T, c *nomadapi.Client, jobID string) int {
	t.Helper()
	var allocs []*nomadapi.AllocationListStub
	var err error
	if jobID == "" {
		allocs, _, err = c.Allocations().List(nil)
	} else {
		allocs, _, err = c.Jobs().Allocations(jobID, true, nil)
	}
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, a := range allocs {
		if a.ClientStatus == "running" || a.ClientStatus == "pending" {
			n++
		}
	}
	return n
}

// waitApplied waits until the task's worker runs spec version v.
func waitApplied(t *testing.T, rec *recorder, base string, id, v int64) {
	t.Helper()
	eventually(t, 90*time.Second, fmt.Sprintf("task %d running spec version %d", id, v), func() error {
		d := rec.detail(t, base, id)
		if d.SpecVersion != v {
			return fmt.Errorf("stored version %d", d.SpecVersion)
		}
		if d.Status == nil || d.Status.SpecVersion != v || d.State != api.StateRunning {
			return fmt.Errorf("state %s, status %+v", d.State, d.Status)
		}
		return nil
	})
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// consulValues returns every key and value under dts/.
func consulValues(t *testing.T, c *testenv.Consul) []string {
	t.Helper()
	pairs, _, err := c.Client.KV().List("dts/", nil)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, p := range pairs {
		out = append(out, p.Key+"="+string(p.Value))
	}
	return out
}

// workerLogs returns what the Nomad-run workers wrote.
func workerLogs(t *testing.T, dataDir string) []string {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(dataDir, "alloc", "*", "alloc", "logs", "worker.std*"))
	var out []string
	for _, f := range files {
		if b, err := os.ReadFile(f); err == nil {
			out = append(out, string(b))
		}
	}
	return out
}

// dumpWorkerLogs shows the workers' output when the test failed.
func dumpWorkerLogs(t *testing.T, dataDir string) {
	if !t.Failed() {
		return
	}
	files, _ := filepath.Glob(filepath.Join(dataDir, "alloc", "*", "alloc", "logs", "worker.std*"))
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil || len(b) == 0 {
			continue
		}
		if len(b) > 8<<10 {
			b = b[len(b)-8<<10:]
		}
		t.Logf("---- %s ----\n%s", f, b)
	}
}

// securedKafkaUnderNomad runs a task to a broker that requires mutual TLS and SCRAM-SHA-512 on
// a Nomad-run worker, which gets the secrets from the task's Variable through its template: rows
// arrive; a rotation of the SASL password to a wrong one reaches the running worker (Failed,
// naming kafka.sasl) and so does the rotation back. The job, its versions and Consul hold no
// secret; the Variable holds them. The task is deleted at the end; it returns the secrets, for
// the caller's checks of the logs and responses.
func securedKafkaUnderNomad(t *testing.T, rec *recorder, base string, db *testenv.MariaDB, nomad *testenv.Nomad, consul *testenv.Consul) []string {
	t.Helper()
	const user, pass, wrong = "dts-nomad", "sasl-Nomad-0b7e1f", "sasl-Wrong-c4d2aa"
	ca := testenv.NewCA(t, "kafka-ca")
	client := ca.Issue(t, "dts-worker")
	kafka := testenv.StartSecureKafka(t, 1, testenv.SecureKafka{CA: ca, RequireClientCert: true, Mechanism: api.SASLScramSHA512, User: user, Password: pass})
	body := func(sasl, key string) string {
		spec := api.TaskSpec{
			Source: &api.Source{Host: "127.0.0.1", Port: db.Port, Username: seedDBUser, Password: seedDBPassword},
			Kafka: api.Kafka{Addr: kafka.Addr(), Topic: "secured",
				TLS:  &api.KafkaTLS{Enabled: true, CAPEM: ca.PEM, CertPEM: client.CertPEM, KeyPEM: key},
				SASL: &api.KafkaSASL{Mechanism: api.SASLScramSHA512, Username: user, Password: sasl}},
			Filters: []api.Filter{{DBName: "oa_data_service", Match: "check_delay"}},
		}
		return mustJSON(t, api.SubmitRequest{Task: &spec})
	}
	var sub api.SubmitResponse
	rec.api(t, base, http.MethodPost, "/v1/dispatch/submit", body(pass, client.KeyPEM)).ok(t, &sub)
	jobID := fmt.Sprintf("dts-task-%d", sub.ID)
	rec.waitState(t, base, sub.ID, api.StateRunning, 90*time.Second)
	db.Exec(t, "INSERT INTO oa_data_service.check_delay VALUES (9001, NOW())")
	kafka.WaitRecords(t, "secured", 1, 60*time.Second)

	alter := fmt.Sprintf("/v1/dispatch/alter/%d", sub.ID)
	rec.api(t, base, http.MethodPut, alter, body(wrong, "")).ok(t, nil)
	failed := rec.waitState(t, base, sub.ID, api.StateFailed, 90*time.Second)
	if !strings.Contains(failed.Message, "kafka.sasl") {
		t.Errorf("a wrong SASL password under Nomad: %s", failed.Message)
	}
	rec.api(t, base, http.MethodPut, alter, body(pass, "")).ok(t, nil)
	rec.waitState(t, base, sub.ID, api.StateRunning, 90*time.Second)
	t.Logf("secured Kafka under Nomad: the wrong password reached the worker (%s), and the right one again", failed.Message)
	db.Exec(t, "INSERT INTO oa_data_service.check_delay VALUES (9002, NOW())")
	kafka.WaitRecords(t, "secured", 2, 60*time.Second)

	v, _, err := nomad.Client.Variables().Read("nomad/jobs/"+jobID, nil)
	if err != nil {
		t.Fatalf("read the task's variable: %v", err)
	}
	if v.Items["kafka_sasl_password"] != pass || v.Items["kafka_key_pem"] != client.KeyPEM || v.Items["password"] != seedDBPassword {
		t.Errorf("the task's Variable does not hold its current secrets")
	}
	texts, _ := jobHistory(t, nomad.Client, jobID)
	secrets := []string{pass, wrong, keyBody(client.KeyPEM)}
	wlogs := workerLogs(t, nomad.DataDir)
	for _, secret := range append(secrets, seedDBPassword) {
		noSecret(t, "nomad job (kafka)", secret, texts...)
		noSecret(t, "consul kv (kafka)", secret, consulValues(t, consul)...)
		noSecret(t, "worker log (kafka)", secret, wlogs...)
	}
	rec.api(t, base, http.MethodDelete, fmt.Sprintf("/v1/task/%d", sub.ID), "").ok(t, nil)
	return secrets
}
