package worker_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dtsrepl/dts/api"
	"github.com/dtsrepl/dts/internal/testenv"
	"github.com/dtsrepl/dts/worker"
	"github.com/dtsrepl/dts/worker/taskfile"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// harness runs one worker in-process on a task file and a state directory.
type harness struct {
	t      *testing.T
	db     testenv.MySQLServer
	kafka  *testenv.Kafka
	dir    string
	cancel context.CancelFunc
	done   chan error
	w      *worker.Worker
	addr   string
	// configure, if set, adjusts the worker's configuration before start.
	configure func(*worker.Config)
}

func newHarness(t *testing.T, db testenv.MySQLServer, kafka *testenv.Kafka) *harness {
	return &harness{t: t, db: db, kafka: kafka, dir: t.TempDir()}
}

// spec writes the task file from a spec, filling in source and kafka addresses.
func (h *harness) spec(spec api.TaskSpec) {
	h.t.Helper()
	e := h.db.Endpoint()
	spec.Source = &api.Source{Host: e.Host, Port: e.Port, Username: e.User, Password: e.Password}
	h.write(spec)
}

// specAt writes the task file for a source at host:port.
func (h *harness) specAt(host string, port int, spec api.TaskSpec) {
	h.t.Helper()
	spec.Source = &api.Source{Host: host, Port: port, Username: "repl", Password: "pw"}
	h.write(spec)
}

func (h *harness) write(spec api.TaskSpec) {
	h.t.Helper()
	if spec.Kafka.Addr == "" {
		spec.Kafka.Addr = h.kafka.Addr()
	}
	b, err := json.Marshal(api.SubmitRequest{Task: &spec})
	if err != nil {
		h.t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(h.dir, "task.json"), b, 0o600); err != nil {
		h.t.Fatal(err)
	}
}

func (h *harness) start() {
	h.t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		h.t.Fatal(err)
	}
	h.addr = ln.Addr().String()
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel = cancel
	h.done = make(chan error, 1)
	cfg := worker.Config{
		TaskID:         1,
		Record:         taskfile.New(1, filepath.Join(h.dir, "task.json"), filepath.Join(h.dir, "state")),
		Listener:       ln,
		Name:           h.t.Name(),
		StatusInterval: 100 * time.Millisecond,
		RetryMin:       100 * time.Millisecond,
		RetryMax:       time.Second,
	}
	if h.configure != nil {
		h.configure(&cfg)
	}
	h.w = worker.New(cfg)
	go func() { h.done <- h.w.Run(ctx) }()
	h.t.Cleanup(h.stop)
}

func (h *harness) stop() {
	if h.cancel == nil {
		return
	}
	h.cancel()
	select {
	case err := <-h.done:
		if err != nil {
			h.t.Errorf("worker: %v", err)
		}
	case <-time.After(60 * time.Second):
		h.t.Error("worker did not stop within 60s")
	}
	h.cancel = nil
}

func (h *harness) status() *api.Status {
	h.t.Helper()
	st, err := taskfile.New(1, filepath.Join(h.dir, "task.json"), filepath.Join(h.dir, "state")).Status(context.Background())
	if err != nil {
		h.t.Fatal(err)
	}
	return st
}

// waitStatus polls the saved status until ok accepts it.
func (h *harness) waitStatus(what string, ok func(*api.Status) bool) *api.Status {
	h.t.Helper()
	return h.waitStatusWithin(60*time.Second, what, ok)
}

// waitStatusWithin is waitStatus with another timeout.
func (h *harness) waitStatusWithin(timeout time.Duration, what string, ok func(*api.Status) bool) *api.Status {
	h.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		st := h.status()
		if st != nil && ok(st) {
			return st
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("status never became %s: %+v", what, st)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (h *harness) running() *api.Status {
	return h.waitStatus("Running", func(st *api.Status) bool { return st.State == api.StateRunning && st.Pos != "" })
}

// get reads one of the worker's HTTP endpoints.
func (h *harness) get(path string) string {
	h.t.Helper()
	resp, err := http.Get("http://" + h.addr + path)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		h.t.Fatal(err)
	}
	return string(b)
}

func jsonDecode(t *testing.T, s string, v any) {
	t.Helper()
	if err := json.Unmarshal([]byte(s), v); err != nil {
		t.Fatalf("%v: %s", err, s)
	}
}

// rows leaves out the alter markers an alter writes (see marker.go).
func rows(t *testing.T, recs []testenv.Record) []testenv.Record {
	var out []testenv.Record
	for _, r := range recs {
		if r.JSON(t)["type"] != "alter" {
			out = append(out, r)
		}
	}
	return out
}

func values(t *testing.T, recs []testenv.Record) []map[string]any {
	out := make([]map[string]any, len(recs))
	for i, r := range recs {
		out[i] = r.JSON(t)
	}
	return out
}

func jsonString(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func TestStreamInsertUpdateDelete(t *testing.T) {
	t.Parallel()
	db := testenv.StartMariaDB(t)
	kafka := testenv.StartKafka(t, 3)
	db.Exec(t, "CREATE DATABASE shop", "CREATE TABLE shop.orders (id INT PRIMARY KEY, qty INT, note VARCHAR(20))", "CREATE TABLE shop.other (id INT PRIMARY KEY)")
	h := newHarness(t, db, kafka)
	h.spec(api.TaskSpec{Kafka: api.Kafka{Topic: "cdc"}, Filters: []api.Filter{{DBName: "shop", Match: "orders"}}})
	h.start()
	before := h.running()
	if !strings.HasPrefix(before.Pos, "MariaDB/") {
		t.Fatalf("pos %q is not a MariaDB GTID position", before.Pos)
	}
	db.Exec(t,
		"INSERT INTO shop.orders VALUES (1, 2, 'a'), (2, 5, 'b')",
		"INSERT INTO shop.other VALUES (1)",
		"UPDATE shop.orders SET qty = 3 WHERE id = 1",
		"DELETE FROM shop.orders WHERE id = 2",
	)
	recs := kafka.WaitRecords(t, "cdc", 4, 30*time.Second)
	vs := values(t, recs)
	byType := map[string][]map[string]any{}
	for _, v := range vs {
		byType[v["type"].(string)] = append(byType[v["type"].(string)], v)
	}
	if len(byType["insert"]) != 2 || len(byType["update"]) != 1 || len(byType["delete"]) != 1 || len(vs) != 4 {
		t.Fatalf("messages: %s", jsonString(vs))
	}
	up := byType["update"][0]
	if jsonString(up["data"]) != `{"id":1,"note":"a","qty":3}` || jsonString(up["old"]) != `{"qty":2}` {
		t.Fatalf("update message: %s", jsonString(up))
	}
	if up["database"] != "shop" || up["table"] != "orders" || up["commit"] != true || up["gtid"] == nil || up["pos"] == nil || up["xid"] == nil {
		t.Fatalf("update message envelope: %s", jsonString(up))
	}
	del := byType["delete"][0]
	if jsonString(del["data"]) != `{"id":2,"note":"b","qty":5}` {
		t.Fatalf("delete message: %s", jsonString(del))
	}
	// The two-row insert is one transaction: only its last row carries commit.
	commits := 0
	for _, v := range byType["insert"] {
		if v["commit"] == true {
			commits++
		}
	}
	if commits != 1 {
		t.Fatalf("insert transaction has %d commit rows: %s", commits, jsonString(byType["insert"]))
	}
	// Keys carry the primary key.
	for _, r := range recs {
		var k map[string]any
		if err := json.Unmarshal(r.Key, &k); err != nil || k["database"] != "shop" || k["table"] != "orders" || k["pk"] == nil {
			t.Fatalf("key %s", r.Key)
		}
	}
	// The checkpoint moves past the last transaction and records its time.
	after := h.waitStatus("checkpoint past the writes", func(st *api.Status) bool { return st.Pos != before.Pos && st.RowsSent >= 4 })
	if after.TransactionTime.IsZero() || after.ServiceAddr != h.addr {
		t.Fatalf("status: %+v", after)
	}
	h.stop()
	if st := h.status(); st.State != api.StateStopped {
		t.Fatalf("state after stop = %s", st.State)
	}
	// Restarting resumes from the checkpoint: nothing is sent twice after a clean stop.
	db.Exec(t, "INSERT INTO shop.orders VALUES (3, 1, 'c')")
	h.start()
	recs = kafka.WaitRecords(t, "cdc", 5, 30*time.Second)
	if len(recs) != 5 {
		t.Fatalf("after restart: %d records, want 5: %s", len(recs), jsonString(values(t, recs)))
	}
}

var errNever = errors.New("never")

func init() { _ = fmt.Sprint(errNever) }
