package dispatcher

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"

	"github.com/dtsrepl/dts/api"
	"github.com/dtsrepl/dts/internal/testenv"
	"github.com/dtsrepl/dts/store/bolt"
)

// checkBody is a submit body for the source and broker of a test, with one filter.
func checkBody(db *testenv.MariaDB, kafka, topic, filter string) string {
	return fmt.Sprintf(`{"task":{"source":{"host":%q,"port":%d,"username":"dts_repl","password":"repl-pw-9"},"kafka":{"addr":%q,"topic":%q},"filters":[{"dbname":"shop","match":"orders","filter":%q}]}}`,
		db.Host, db.Port, kafka, topic, filter)
}

// TestSubmitAlterPrecheck: submit and alter run the precheck and refuse blocking failures
// unless forced; the history records each version, what it changed and, once the worker
// reports it, where it took effect.
func TestSubmitAlterPrecheck(t *testing.T) {
	t.Parallel()
	db := testenv.StartMariaDB(t)
	db.Exec(t, "CREATE DATABASE shop", "CREATE TABLE shop.orders (id INT PRIMARY KEY, status INT, note VARCHAR(20))",
		"INSERT INTO shop.orders VALUES (1, 1, 'a'), (2, 0, 'b'), (3, 1, 'c')")
	db.CreateReplicationUser(t, "dts_repl", "repl-pw-9")
	kafka := testenv.StartKafka(t, 2)
	admin, err := sarama.NewClusterAdmin(kafka.Addrs, testenv.SaramaConfig())
	if err != nil {
		t.Fatal(err)
	}
	if err := admin.CreateTopic("orders", &sarama.TopicDetail{NumPartitions: 4, ReplicationFactor: 1}, false); err != nil {
		t.Fatal(err)
	}
	admin.Close()
	h := newHarness(t, func(c *Config) { c.SubmitPrecheck = true })

	// A filter on a column the table lacks: refused, with the checklist, nothing stored.
	bad := checkBody(db, kafka.Addr(), "orders", "colour = 'red'")
	r := h.do(http.MethodPost, "/v1/dispatch/submit", bad)
	r.wantCode(t, api.CodeBadRequest, "precheck", "tables.filter_columns", "colour", "force=true")
	var refusal api.Refusal
	r.data(t, &refusal)
	if refusal.Precheck == nil || refusal.Precheck.Result != api.CheckFail || refusal.Precheck.Item("source.binlog_row_image") == nil {
		t.Fatalf("refusal data %s", r.Env.Data)
	}
	if strings.Contains(r.Raw, "repl-pw-9") {
		t.Errorf("the refusal shows the password: %s", r.Raw)
	}
	if launches, _, _ := h.launcher.calls(); len(launches) != 0 {
		t.Fatalf("a refused submit launched: %+v", launches)
	}
	h.do(http.MethodPost, "/v1/dispatch/submit?force=maybe", bad).wantCode(t, api.CodeBadRequest, "force")

	// Forced: stored, and the history says so.
	r = h.do(http.MethodPost, "/v1/dispatch/submit?force=true", bad)
	r.wantCode(t, api.CodeOK)
	var forcedOut api.SubmitResponse
	r.data(t, &forcedOut)
	if got := h.store.task(t, forcedOut.ID); len(got.History) != 1 || !got.History[0].Forced || got.History[0].Action != "submit" {
		t.Errorf("history of a forced submit: %+v", got.History)
	}

	// Servers the dispatcher cannot reach do not block: the worker may, and retries.
	unreachable := strings.Replace(checkBody(db, "127.0.0.1:1", "orders", ""), fmt.Sprintf(`"port":%d`, db.Port), `"port":1`, 1)
	h.do(http.MethodPost, "/v1/dispatch/submit", unreachable).wantCode(t, api.CodeOK)

	// A good task; an alter that changes the topic and the filter; an alter that breaks it.
	r = h.do(http.MethodPost, "/v1/dispatch/submit", checkBody(db, kafka.Addr(), "orders", "status = 1"))
	r.wantCode(t, api.CodeOK)
	var out api.SubmitResponse
	r.data(t, &out)
	id := out.ID
	h.do(http.MethodPut, fmt.Sprintf("/v1/dispatch/alter/%d", id), checkBody(db, kafka.Addr(), "orders2", "status = 0")).wantCode(t, api.CodeOK)
	h.do(http.MethodPut, fmt.Sprintf("/v1/dispatch/alter/%d", id), checkBody(db, kafka.Addr(), "orders2", "nope > 1")).
		wantCode(t, api.CodeBadRequest, "alter refused by its precheck", "nope")
	got := h.store.task(t, id)
	if got.Version != 2 || len(got.History) != 2 {
		t.Fatalf("after the alters: version %d history %+v", got.Version, got.History)
	}
	if c := got.History[1].Changed; !slices.Equal(c, []string{"filters[0].filter", "kafka.topic"}) {
		t.Errorf("changed %v", c)
	}

	// The worker reports where version 2 took effect; GET shows it in the history.
	h.store.setStatus(t, id, api.Status{State: api.StateRunning, SpecVersion: 2, AppliedVersion: 2, AppliedPos: "MariaDB/0-1-9", AppliedAt: time.Now(), UpdatedAt: time.Now()})
	r = h.do(http.MethodGet, fmt.Sprintf("/v1/task/%d", id), "")
	r.wantCode(t, api.CodeOK)
	var d api.TaskDetail
	r.data(t, &d)
	if len(d.History) != 2 || d.History[0].Version != 1 || d.History[0].Action != "submit" || d.History[1].Pos != "MariaDB/0-1-9" || d.History[1].AppliedAt == "" {
		t.Errorf("history %+v", d.History)
	}
	// The next alter keeps that position in the stored history.
	h.do(http.MethodPut, fmt.Sprintf("/v1/dispatch/alter/%d", id), checkBody(db, kafka.Addr(), "orders3", "status = 0")).wantCode(t, api.CodeOK)
	if got := h.store.task(t, id); len(got.History) != 3 || got.History[1].Pos != "MariaDB/0-1-9" || got.History[2].Pos != "" {
		t.Errorf("history after a third version %+v", got.History)
	}

	// Precheck and preview answer without storing anything.
	r = h.do(http.MethodPost, "/v1/dispatch/precheck", bad)
	r.wantCode(t, api.CodeOK)
	var list api.Checklist
	r.data(t, &list)
	if it := list.Item("tables.filter_columns"); it == nil || it.Status != api.CheckFail || !it.Blocking {
		t.Errorf("precheck of the bad task: %s", r.Env.Data)
	}
	r = h.do(http.MethodPost, "/v1/dispatch/preview?rows=2", checkBody(db, kafka.Addr(), "orders", "status = 1"))
	r.wantCode(t, api.CodeOK)
	var p api.Preview
	r.data(t, &p)
	if len(p.Tables) != 1 || p.Tables[0].RowsRead != 2 || len(p.Tables[0].Records) != 1 || len(p.Tables[0].Dropped) != 1 {
		t.Fatalf("preview %s", r.Env.Data)
	}
	rec := p.Tables[0].Records[0]
	var val map[string]any
	if err := json.Unmarshal(rec.Value, &val); err != nil || val["type"] != "snapshot" || rec.Topic != "orders" || rec.Partition == nil || *rec.Partition != int32(rec.Hash%4) {
		t.Errorf("preview record %+v: %v", rec, err)
	}
	if string(rec.Key) != `{"database":"shop","table":"orders","pk":{"id":1}}` {
		t.Errorf("preview key %s", rec.Key)
	}
	h.do(http.MethodPost, "/v1/dispatch/preview?rows=0", checkBody(db, kafka.Addr(), "orders", "")).wantCode(t, api.CodeBadRequest, "rows")
	if n := h.store.count(t); n != 3 {
		t.Errorf("%d tasks stored, want the 3 submitted", n)
	}
}

// TestVerifyInput: the verify endpoints check their input before anything runs.
func TestVerifyInput(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	id := h.submit()
	for _, tc := range []struct{ body, msg string }{
		{`{"tables":["nodot"]}`, "tables[0]"},
		{`{"rate":-1}`, "rate"},
		{`{"chunk_rows":1000000}`, "chunk_rows"},
		{`{"table":["a.b"]}`, "unknown field"},
	} {
		h.do(http.MethodPost, fmt.Sprintf("/v1/task/%d/verify", id), tc.body).wantCode(t, api.CodeBadRequest, tc.msg)
	}
	// Good input starts a check (which fails in the background: nothing listens at the source).
	h.do(http.MethodPost, fmt.Sprintf("/v1/task/%d/verify", id), "").wantCode(t, api.CodeOK)
	h.do(http.MethodGet, "/v1/task/01/verify", "").wantCode(t, api.CodeBadRequest, "id")
}

// TestVerifyState: a check's state lives in the store, so a dispatcher shows a check another
// one runs, refuses a second one, and shows a check whose dispatcher stopped reporting as
// abandoned.
func TestVerifyState(t *testing.T) {
	t.Parallel()
	db, err := bolt.Open(filepath.Join(t.TempDir(), "dts.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	h := newHarness(t, func(c *Config) { c.Store = db })
	ctx := context.Background()
	task := &api.Task{Spec: api.TaskSpec{Source: &api.Source{Host: "127.0.0.1", Port: 1, Username: "u"}, Kafka: api.Kafka{Addr: "127.0.0.1:1", Topic: "t"},
		Filters: []api.Filter{{DBName: "d"}}}, Version: 1, Desired: api.DesiredRunning}
	id, err := db.CreateWithCredentials(ctx, task, api.Credentials{Username: "u", Password: "p"})
	if err != nil {
		t.Fatal(err)
	}
	path := fmt.Sprintf("/v1/task/%d/verify", id)
	h.do(http.MethodGet, path, "").wantCode(t, api.CodeNotFound, "no consistency check", "POST")
	h.do(http.MethodGet, "/v1/task/99/verify", "").wantCode(t, api.CodeNotFound, "task 99")

	// Another dispatcher's running check.
	running := &api.Verify{Run: "elsewhere", State: api.VerifyRunning, Owner: "other-host/1", StartedAt: time.Now(), UpdatedAt: time.Now()}
	rev, err := db.SaveVerify(ctx, id, running, 0)
	if err != nil {
		t.Fatal(err)
	}
	r := h.do(http.MethodGet, path, "")
	r.wantCode(t, api.CodeOK)
	var v api.Verify
	r.data(t, &v)
	if v.Run != "elsewhere" || v.State != api.VerifyRunning {
		t.Errorf("verify %+v", v)
	}
	h.do(http.MethodPost, path, "{}").wantCode(t, api.CodeConflict, "running", "elsewhere")

	// Its dispatcher went away: abandoned, and a new check may start (it fails here: nothing
	// listens at the source).
	running.UpdatedAt = time.Now().Add(-time.Hour)
	if _, err := db.SaveVerify(ctx, id, running, rev); err != nil {
		t.Fatal(err)
	}
	r = h.do(http.MethodGet, path, "")
	r.data(t, &v)
	if v.State != api.VerifyAbandoned || !strings.Contains(v.Message, "other-host/1") {
		t.Errorf("verify %+v", v)
	}
	r = h.do(http.MethodPost, path, "")
	r.wantCode(t, api.CodeOK)
	r.data(t, &v)
	if v.Run == "elsewhere" || v.Owner == "" {
		t.Errorf("new check %+v", v)
	}
	// It fails on its own (nothing listens at the source), before the dispatcher closes.
	deadline := time.Now().Add(30 * time.Second)
	for {
		cur, _, err := db.Verify(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if cur.State != api.VerifyRunning || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	h.srv.Close()
	// A task in another message format is refused before anything runs: verify reads dts's.
	task.Spec.Kafka.Format = api.FormatDebezium
	other, err := db.CreateWithCredentials(ctx, task, api.Credentials{Username: "u", Password: "p"})
	if err != nil {
		t.Fatal(err)
	}
	h2 := newHarness(t, func(c *Config) { c.Store = db })
	h2.do(http.MethodPost, fmt.Sprintf("/v1/task/%d/verify", other), "").wantCode(t, api.CodeBadRequest, "dts message format", "debezium")
	stored, _, err := db.Verify(ctx, id)
	if err != nil || stored.Run != v.Run || stored.State != api.VerifyFailed || !strings.Contains(stored.Message, "127.0.0.1:1") {
		t.Errorf("stored check %+v %v", stored, err)
	}
}
