package e2e

import (
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/dtsrepl/dts/api"
	"github.com/dtsrepl/dts/internal/testenv"
)

// TestDev runs `dts dev` as a process: the seed's submit, rows flowing, alter, stop and start,
// then a SIGTERM and a restart on the same data directory, after which the task resumes from
// its checkpoint and nothing written meanwhile is lost.
func TestDev(t *testing.T) {
	t.Parallel()
	start := time.Now()
	db := testenv.StartMariaDB(t)
	seedDB(t, db)
	kafka := testenv.StartKafkaProcess(t, 2)
	dir := t.TempDir()
	dataDir := filepath.Join(dir, "dts-data")
	srv := startServer(t, "dts-dev", dir, childEnv(), "dev", "--data-dir", dataDir)
	t.Logf("servers up in %s", time.Since(start).Round(time.Millisecond))
	var rec recorder
	base := srv.URL
	kaddr := kafka.Addr()

	// dts dev says it uses the seed's test credentials.
	log := srv.Proc.Log()
	if !strings.Contains(log, "seed's test credentials") || !strings.Contains(log, "user=replicator") || !strings.Contains(log, "password=dtsfor3.1415926") {
		t.Errorf("dts dev does not announce its test credentials:\n%s", log)
	}

	sub := rec.curl(t, "", "-i", "-XPOST", "-H", "content-type:application/json", "-H", seedAuthHeader,
		"-d", seedSubmitBody(db.Port, kaddr, "replicator_test"), base+"/v1/dispatch/submit")
	var submitted api.SubmitResponse
	sub.ok(t, &submitted)
	id := submitted.ID
	if id != 1 || submitted.Addr == "" {
		t.Errorf("submit %s: want id 1 and the in-process worker's address", sub.Body)
	}

	s := rec.waitState(t, base, id, api.StateRunning, 60*time.Second)
	eventually(t, 30*time.Second, "a position", func() error {
		if s, _ = rec.summary(t, base, id); s.Pos == "" {
			return fmt.Errorf("no pos yet: %+v", s)
		}
		return nil
	})
	insertRows(t, db, 1, 6)
	waitRows(t, kafka, "replicator_test", 1, 6, 60*time.Second)
	eventually(t, 30*time.Second, "transaction_time in the list", func() error {
		if s, _ = rec.summary(t, base, id); s.TransactionTime == "" {
			return fmt.Errorf("summary %+v", s)
		}
		return nil
	})
	checkTime(t, "transaction_time", s.TransactionTime)
	if !strings.HasPrefix(s.Pos, "MariaDB/") || s.ServiceAddr != submitted.Addr || s.SourceAddr != fmt.Sprintf("127.0.0.1:%d", db.Port) || s.DestAddr != kaddr {
		t.Errorf("summary %+v", s)
	}
	gtidSeq(t, s.Pos)

	// Alter to another topic.
	alt := rec.curl(t, "", "-i", "-XPUT", "-H", "content-type:application/json", "-H", seedAuthHeader,
		"-d", seedSubmitBody(db.Port, kaddr, "replicator_test2"), fmt.Sprintf("%s/v1/dispatch/alter/%d", base, id))
	alt.ok(t, nil)
	waitApplied(t, &rec, base, id, 2)
	insertRows(t, db, 100, 105)
	waitRows(t, kafka, "replicator_test2", 100, 105, 60*time.Second)
	for k := range rowsIn(t, kafka, "replicator_test") {
		if k.ID >= 100 {
			t.Errorf("row %v written after the alter went to the old topic", k)
		}
	}

	// Stop and start.
	rec.api(t, base, http.MethodPost, fmt.Sprintf("/v1/task/%d/stop", id), "").ok(t, nil)
	rec.waitState(t, base, id, api.StateStopped, 30*time.Second)
	eventually(t, 60*time.Second, "the worker's own Stopped report", func() error {
		if d := rec.detail(t, base, id); d.Status == nil || d.Status.State != api.StateStopped {
			return fmt.Errorf("status %+v", d.Status)
		}
		return nil
	})
	insertRows(t, db, 200, 205)
	for k := range rowsIn(t, kafka, "replicator_test2") {
		if k.ID >= 200 {
			t.Fatalf("row %v arrived while the task was stopped", k)
		}
	}
	rec.api(t, base, http.MethodPost, fmt.Sprintf("/v1/task/%d/start", id), "").ok(t, nil)
	rec.waitState(t, base, id, api.StateRunning, 60*time.Second)
	waitRows(t, kafka, "replicator_test2", 200, 205, 60*time.Second)
	eventually(t, 30*time.Second, "the checkpoint past the rows", func() error {
		d := rec.detail(t, base, id)
		if d.Status == nil || d.Status.RowsSent < uint64(len(matchedTables)*15) {
			return fmt.Errorf("status %+v", d.Status)
		}
		return nil
	})
	before, _ := rec.summary(t, base, id)

	// SIGTERM: dts dev stops its workers, which save their positions, and exits cleanly.
	srv.Proc.Stop(syscall.SIGTERM, 90*time.Second)
	if _, err := srv.Proc.Exited(); err != nil {
		t.Fatalf("dts dev did not exit cleanly on SIGTERM: %v\n%s", err, srv.Proc.Log())
	}
	if log := srv.Proc.Log(); !strings.Contains(log, "dts dev stopping") {
		t.Errorf("no stop message in the log:\n%s", log)
	}
	insertRows(t, db, 300, 305)

	srv = startServer(t, "dts-dev-2", dir, childEnv(), "dev", "--data-dir", dataDir)
	base = srv.URL
	if log := srv.Proc.Log(); !strings.Contains(log, "tasks_resumed=1") {
		t.Errorf("the restarted dts dev did not resume the task:\n%s", log)
	}
	s = rec.waitState(t, base, id, api.StateRunning, 60*time.Second)
	waitRows(t, kafka, "replicator_test2", 300, 305, 60*time.Second)
	eventually(t, 30*time.Second, "the position past the rows written while dts dev was down", func() error {
		s, _ = rec.summary(t, base, id)
		if gtidSeq(t, s.Pos) < gtidSeq(t, before.Pos)+4 {
			return fmt.Errorf("pos %s, was %s", s.Pos, before.Pos)
		}
		return nil
	})
	if d := rec.detail(t, base, id); d.SpecVersion != 2 || d.Spec.Kafka.Topic != "replicator_test2" {
		t.Errorf("after the restart: %+v", d)
	}
	l := rec.list(t, base)
	if l.Total != 1 {
		t.Errorf("list after the restart %+v", l)
	}

	// The dts task client: it refuses a task file with a misspelt field rather than dropping it.
	bin := testenv.Build(t, "./cmd/dts")
	taskFile := filepath.Join(dir, "typo.json")
	typo := strings.Replace(seedSubmitBody(db.Port, kaddr, "x"), `"flat_format":false`, `"flat_format":false,"partiton_mode":"table"`, 1)
	if err := os.WriteFile(taskFile, []byte(typo), 0o600); err != nil {
		t.Fatal(err)
	}
	cli := func(args ...string) (string, error) {
		cmd := exec.Command(bin, append([]string{"task"}, args...)...)
		cmd.Env = childEnv("DTS_ADDR="+base, "DTS_AUTH_USER="+seedAPIUser, "DTS_AUTH_PASSWORD="+seedAPIPass)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	if out, err := cli("submit", "-f", taskFile); err == nil || !strings.Contains(out, `task.kafka.partiton_mode: unknown field`) {
		t.Errorf("dts task submit of a misspelt task: %v: %s", err, out)
	}
	out, err := cli("list")
	if err != nil || !strings.Contains(out, "Running") || !strings.Contains(out, "1 of 1 tasks") {
		t.Errorf("dts task list: %v: %s", err, out)
	}
	noSecret(t, "dts task list", seedDBPassword, out)

	// The MySQL password is in no response and no log line.
	noSecret(t, "response", seedDBPassword, rec.all()...)
	noSecret(t, "dts dev log", seedDBPassword, readFile(t, filepath.Join(dir, "dts-dev.log")), srv.Proc.Log())
	t.Logf("done after %s", time.Since(start).Round(time.Millisecond))
}
