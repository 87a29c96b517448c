package consul_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	consulapi "github.com/hashicorp/consul/api"

	"github.com/dtsrepl/dts/api"
	"github.com/dtsrepl/dts/dispatcher"
	"github.com/dtsrepl/dts/internal/testenv"
	"github.com/dtsrepl/dts/store"
	"github.com/dtsrepl/dts/store/consul"
	"github.com/dtsrepl/dts/store/storetest"
	"github.com/dtsrepl/dts/worker"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// The stores implement what the dispatcher and the worker use.
var (
	_ dispatcher.Store  = (*consul.Store)(nil)
	_ worker.TaskRecord = (*consul.TaskRecord)(nil)
)

// prefixes numbers the key prefixes, so that tests sharing one agent do not see each other.
var prefixes atomic.Int64

// env is a Consul agent with a fresh key prefix.
type env struct {
	consul *testenv.Consul
	prefix string
	keys   store.Keys
}

func newEnv(t *testing.T, c *testenv.Consul) *env {
	t.Helper()
	prefix := fmt.Sprintf("dts-test-%d/", prefixes.Add(1))
	return &env{consul: c, prefix: prefix, keys: store.Keys{Prefix: prefix}}
}

// client returns a client of the agent as a dispatcher would configure it: pooled, with a bound
// on its connections, since Consul refuses more than 200 concurrent connections from one
// address (http_max_conns_per_client) and the tests' clients all come from 127.0.0.1.
func (e *env) client(t *testing.T) *consulapi.Client {
	t.Helper()
	cfg := consulapi.DefaultConfig()
	cfg.Address = e.consul.Addr
	cfg.Token = ""
	cfg.Transport.MaxConnsPerHost = 32
	cfg.Transport.MaxIdleConnsPerHost = 32
	c, err := consulapi.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cfg.Transport.CloseIdleConnections)
	return c
}

// control returns a TaskRecord logging to the test, unlocked when the test ends so that no
// goroutine outlives it.
func (e *env) record(t *testing.T, s *consul.Store, id int64, name string) *consul.TaskRecord {
	t.Helper()
	c := s.TaskRecord(id, consul.RecordOptions{Name: name, Logger: testLogger(t)})
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := c.Unlock(ctx); err != nil {
			t.Logf("unlock at cleanup: %v", err)
		}
	})
	return c
}

// destroyHolder destroys the session holding task id's lock, as Consul does when a session
// expires.
func (e *env) destroyHolder(t *testing.T, id int64) string {
	t.Helper()
	pair, _, err := e.consul.Client.KV().Get(e.keys.Lock(id), nil)
	if err != nil {
		t.Fatalf("read lock key: %v", err)
	}
	if pair == nil || pair.Session == "" {
		t.Fatalf("lock of task %d is not held", id)
	}
	if _, err := e.consul.Client.Session().Destroy(pair.Session, nil); err != nil {
		t.Fatalf("destroy session: %v", err)
	}
	return pair.Session
}

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
}

func TestStore(t *testing.T) {
	c := testenv.StartConsul(t)
	storetest.TestStore(t, func(t *testing.T) storetest.Backend {
		e := newEnv(t, c)
		s := consul.New(e.client(t), e.prefix)
		return storetest.Backend{
			Store: s,
			Other: consul.New(e.client(t), e.prefix),
			TaskRecord: func(id int64, name string) worker.TaskRecord {
				return e.record(t, s, id, name)
			},
			BreakLock: func(t *testing.T, id int64) { e.destroyHolder(t, id) },
		}
	})
}

func TestDefaultPrefix(t *testing.T) {
	c := testenv.StartConsul(t)
	ctx := t.Context()
	s := consul.New(c.Client, "")
	id, err := s.Create(ctx, storetest.NewTask("t"))
	if err != nil {
		t.Fatal(err)
	}
	pair, _, err := c.Client.KV().Get(store.Keys{Prefix: store.DefaultPrefix}.Spec(id), nil)
	if err != nil || pair == nil {
		t.Fatalf("spec not under %q: %v", store.DefaultPrefix, err)
	}
}

func TestSessionDestroyedClosesLost(t *testing.T) {
	c := testenv.StartConsul(t)
	e := newEnv(t, c)
	ctx := t.Context()
	s := consul.New(c.Client, e.prefix)
	id, err := s.Create(ctx, storetest.NewTask("t"))
	if err != nil {
		t.Fatal(err)
	}
	ctl := e.record(t, s, id, "host-1 pid 7")
	lost, err := ctl.Lock(ctx)
	if err != nil {
		t.Fatal(err)
	}

	pair, _, err := c.Client.KV().Get(e.keys.Lock(id), nil)
	if err != nil || pair == nil {
		t.Fatalf("read lock key: %v", err)
	}
	info, _, err := c.Client.Session().Info(pair.Session, nil)
	if err != nil || info == nil {
		t.Fatalf("session info: %v", err)
	}
	if want := fmt.Sprintf("dts task %d: host-1 pid 7", id); info.Name != want {
		t.Fatalf("session name %q, want %q", info.Name, want)
	}
	if info.Behavior != consulapi.SessionBehaviorRelease || info.TTL != "10s" || info.LockDelay != time.Second {
		t.Fatalf("session %+v, want behavior release, TTL 10s, lock-delay 1s", info)
	}

	e.destroyHolder(t, id)
	select {
	case <-lost:
	case <-time.After(5 * time.Second):
		t.Fatal("lost not closed 5s after the session was destroyed")
	}
	err = ctl.SaveStatus(ctx, storetest.NewStatus("w", 1))
	if !errors.Is(err, store.ErrLockLost) {
		t.Fatalf("save status after the session was destroyed: %v, want ErrLockLost", err)
	}
	if err := ctl.Unlock(ctx); err != nil {
		t.Fatalf("unlock after the session was destroyed: %v", err)
	}
	// After Unlock the same TaskRecord can take the lock again with a new session.
	if _, err := ctl.Lock(ctx); err != nil {
		t.Fatalf("lock again: %v", err)
	}
	if err := ctl.SaveStatus(ctx, storetest.NewStatus("w", 2)); err != nil {
		t.Fatalf("save status with the new session: %v", err)
	}
}

func TestUnlockDestroysSession(t *testing.T) {
	c := testenv.StartConsul(t)
	e := newEnv(t, c)
	ctx := t.Context()
	s := consul.New(c.Client, e.prefix)
	id, err := s.Create(ctx, storetest.NewTask("t"))
	if err != nil {
		t.Fatal(err)
	}
	ctl := e.record(t, s, id, "w")
	if _, err := ctl.Lock(ctx); err != nil {
		t.Fatal(err)
	}
	pair, _, err := c.Client.KV().Get(e.keys.Lock(id), nil)
	if err != nil || pair == nil {
		t.Fatalf("read lock key: %v", err)
	}
	session := pair.Session
	if err := ctl.Unlock(ctx); err != nil {
		t.Fatal(err)
	}
	info, _, err := c.Client.Session().Info(session, nil)
	if err != nil {
		t.Fatal(err)
	}
	if info != nil {
		t.Fatalf("session %s still exists after unlock", session)
	}
	pair, _, err = c.Client.KV().Get(e.keys.Lock(id), nil)
	if err != nil {
		t.Fatal(err)
	}
	if pair != nil && pair.Session != "" {
		t.Fatalf("lock key still held by %s after unlock", pair.Session)
	}
}

func TestUnavailable(t *testing.T) {
	c := testenv.StartConsul(t)
	e := newEnv(t, c)
	ctx := t.Context()
	s := consul.New(c.Client, e.prefix)
	task := storetest.NewTask("t")
	id, err := s.Create(ctx, task)
	if err != nil {
		t.Fatal(err)
	}
	ctl := e.record(t, s, id, "w")
	lost, err := ctl.Lock(ctx)
	if err != nil {
		t.Fatal(err)
	}

	c.Proc.Stop(syscall.SIGKILL, 10*time.Second)

	call := func(name string, fn func(ctx context.Context) error) {
		t.Helper()
		ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		err := fn(ctx)
		if !errors.Is(err, store.ErrUnavailable) {
			t.Errorf("%s with consul stopped: %v, want ErrUnavailable", name, err)
		}
	}
	call("save status", func(ctx context.Context) error { return ctl.SaveStatus(ctx, storetest.NewStatus("w", 1)) })
	call("create", func(ctx context.Context) error { _, err := s.Create(ctx, storetest.NewTask("t")); return err })
	call("get", func(ctx context.Context) error { _, err := s.Get(ctx, id); return err })
	call("update", func(ctx context.Context) error { return s.Update(ctx, task, 1) })
	call("delete", func(ctx context.Context) error { return s.Delete(ctx, id) })
	call("list", func(ctx context.Context) error { _, err := s.List(ctx); return err })
	call("status", func(ctx context.Context) error { _, err := s.Status(ctx, id); return err })
	call("ping", func(ctx context.Context) error { return s.Ping(ctx) })
	call("control task", func(ctx context.Context) error { _, err := ctl.Task(ctx); return err })
	// Lock keeps trying until its ctx ends, and says why.
	call("lock of another task", func(ctx context.Context) error {
		ctx, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		_, err := s.TaskRecord(id+1, consul.RecordOptions{Name: "w2", Logger: testLogger(t)}).Lock(ctx)
		return err
	})

	// A worker that cannot renew its session for a TTL gives the lock up, before Consul would
	// let another worker take it.
	select {
	case <-lost:
	case <-time.After(30 * time.Second):
		t.Fatal("lost not closed although the session could not be renewed for its TTL")
	}
	if err := ctl.SaveStatus(ctx, storetest.NewStatus("w", 2)); !errors.Is(err, store.ErrLockLost) {
		t.Fatalf("save status after the lock was given up: %v, want ErrLockLost", err)
	}
	call("unlock", func(ctx context.Context) error { return ctl.Unlock(ctx) })
}

func TestKVIsReadableJSON(t *testing.T) {
	c := testenv.StartConsul(t)
	e := newEnv(t, c)
	ctx := t.Context()
	s := consul.New(c.Client, e.prefix)
	task := storetest.NewTask("t")
	id, err := s.Create(ctx, task)
	if err != nil {
		t.Fatal(err)
	}
	ctl := e.record(t, s, id, "host-1")
	if _, err := ctl.Lock(ctx); err != nil {
		t.Fatal(err)
	}
	if err := ctl.SaveStatus(ctx, storetest.NewStatus("host-1", 7)); err != nil {
		t.Fatal(err)
	}

	kv := c.Client.KV()
	get := func(key string) []byte {
		t.Helper()
		pair, _, err := kv.Get(key, nil)
		if err != nil || pair == nil {
			t.Fatalf("read %s: %v", key, err)
		}
		return pair.Value
	}
	if got := string(get(e.keys.NextID())); got != "1" {
		t.Fatalf("next-id holds %q, want \"1\"", got)
	}

	var spec struct {
		ID   int64 `json:"id"`
		Spec struct {
			Source map[string]any `json:"source"`
		} `json:"spec"`
	}
	if err := json.Unmarshal(get(e.keys.Spec(id)), &spec); err != nil {
		t.Fatalf("spec is not JSON: %v", err)
	}
	if spec.ID != id || spec.Spec.Source["host"] != "127.0.0.1" {
		t.Fatalf("spec JSON %+v does not hold the task", spec)
	}
	if _, ok := spec.Spec.Source["password"]; ok {
		t.Fatalf("spec JSON has a password key: %s", get(e.keys.Spec(id)))
	}

	var status map[string]any
	if err := json.Unmarshal(get(e.keys.Status(id)), &status); err != nil {
		t.Fatalf("status is not JSON: %v", err)
	}
	if status["state"] != string(api.StateSnapshotting) || status["rows_sent"] != float64(7) {
		t.Fatalf("status JSON %v does not hold the status", status)
	}

	var lock map[string]any
	if err := json.Unmarshal(get(e.keys.Lock(id)), &lock); err != nil {
		t.Fatalf("lock value is not JSON: %v", err)
	}
	if lock["name"] != "host-1" || lock["time"] == nil {
		t.Fatalf("lock value %v lacks the worker's name and time", lock)
	}
}

func TestListKeys(t *testing.T) {
	c := testenv.StartConsul(t)
	e := newEnv(t, c)
	ctx := t.Context()
	s := consul.New(c.Client, e.prefix)
	id, err := s.Create(ctx, storetest.NewTask("t"))
	if err != nil {
		t.Fatal(err)
	}
	kv := c.Client.KV()
	put := func(key, value string) {
		t.Helper()
		if _, err := kv.Put(&consulapi.KVPair{Key: key, Value: []byte(value)}, nil); err != nil {
			t.Fatal(err)
		}
	}
	// Keys dts does not write are left alone.
	put(e.prefix+"tasks/readme", "hello")
	put(e.prefix+"tasks/notes/spec", "not a task")
	put(e.prefix+"tasks/01/spec", "not a task either")
	put(e.keys.Task(id)+"notes", "an operator's note")
	put(e.keys.Task(id)+"spec/extra", "x")
	put(e.keys.Status(id+1), `{"state":"Running"}`) // a status left without its task
	recs, err := s.List(ctx)
	if err != nil {
		t.Fatalf("list with foreign keys: %v", err)
	}
	if len(recs) != 1 || recs[0].Task.ID != id {
		t.Fatalf("list with foreign keys: %+v", recs)
	}

	bad := e.keys.Spec(id + 5)
	put(bad, "{not json")
	_, err = s.List(ctx)
	if err == nil || !strings.Contains(err.Error(), bad) {
		t.Fatalf("list with an undecodable spec: %v, want an error naming %s", err, bad)
	}
}

func TestCreateStepsPastExistingSpec(t *testing.T) {
	c := testenv.StartConsul(t)
	e := newEnv(t, c)
	ctx := t.Context()
	s := consul.New(c.Client, e.prefix)
	// A task whose id the counter has not reached, as after restoring an old counter.
	if _, err := c.Client.KV().Put(&consulapi.KVPair{Key: e.keys.Spec(1), Value: []byte(`{"id":1}`)}, nil); err != nil {
		t.Fatal(err)
	}
	id, err := s.Create(ctx, storetest.NewTask("t"))
	if err != nil {
		t.Fatal(err)
	}
	if id != 2 {
		t.Fatalf("create with task 1 present gave id %d, want 2", id)
	}
	got, err := s.Get(ctx, 1)
	if err != nil || got.ID != 1 || got.Version != 0 {
		t.Fatalf("task 1 was overwritten: %+v, %v", got, err)
	}
}
