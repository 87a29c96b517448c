package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/dtsrepl/dts/api"
	"github.com/dtsrepl/dts/dispatcher"
	"github.com/dtsrepl/dts/worker"
)

// Bounds of the waits in the suite. They are generous: they only turn a hang into a failure.
const (
	testTimeout = 2 * time.Minute
	waitTimeout = 30 * time.Second
	// shortWait is how long a call that must block is given before its ctx ends.
	shortWait = 500 * time.Millisecond
)

// testContext is the context of one subtest.
func testContext(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), testTimeout)
	t.Cleanup(cancel)
	return ctx
}

// NewTask returns a valid task at version 1 whose spec holds no password, named by its topic.
func NewTask(topic string) *api.Task {
	incr := true
	now := time.Now().UTC()
	return &api.Task{
		Spec: api.TaskSpec{
			Source:  &api.Source{Host: "127.0.0.1", Port: 3306, Username: "repl"},
			Kafka:   api.Kafka{Addr: "127.0.0.1:9092", Topic: topic},
			Filters: []api.Filter{{DBName: "shop", Match: "/orders_\\d+/"}},
			Incr:    &incr,
		},
		Version:   1,
		Desired:   api.DesiredRunning,
		CreatedAt: now,
		UpdatedAt: now,
	}
}

// NewStatus returns a status with every field set, so that a round trip checks them all.
func NewStatus(worker string, rows uint64) *api.Status {
	at := time.Date(2026, 1, 2, 3, 4, 5, 600, time.UTC)
	return &api.Status{
		State:           api.StateSnapshotting,
		Pos:             "MariaDB/0-1-123",
		TransactionTime: at,
		Message:         "copying",
		ServiceAddr:     "127.0.0.1:8080",
		UpdatedAt:       at.Add(time.Second),
		SpecVersion:     1,
		LagSeconds:      1.5,
		RowsSent:        rows,
		Snapshot: &api.SnapshotProgress{
			Pos:           "MariaDB/0-1-100",
			Tables:        []api.TableRef{{DB: "shop", Table: "orders_1"}, {DB: "shop.v2", Table: "orders_2"}},
			TablesDone:    1,
			Table:         &api.TableRef{DB: "shop.v2", Table: "orders_2"},
			LastKey:       json.RawMessage(`[42,"x"]`),
			RowsCopied:    10,
			RowsEstimated: 20,
		},
		Worker: worker,
	}
}

// sameJSON fails the test unless got and want encode to the same JSON.
func sameJSON(t *testing.T, what string, got, want any) {
	t.Helper()
	g, err := json.Marshal(got)
	if err != nil {
		t.Fatalf("%s: encode: %v", what, err)
	}
	w, err := json.Marshal(want)
	if err != nil {
		t.Fatalf("%s: encode: %v", what, err)
	}
	if string(g) != string(w) {
		t.Fatalf("%s:\n got %s\nwant %s", what, g, w)
	}
}

// wantErr fails the test unless errors.Is(err, target).
func wantErr(t *testing.T, what string, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("%s: got error %v, want %v", what, err, target)
	}
}

// must fails the test on err.
func must(t *testing.T, what string, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// waitClosed fails the test unless ch is closed within waitTimeout.
func waitClosed(t *testing.T, what string, ch <-chan struct{}) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(waitTimeout):
		t.Fatalf("%s: not closed after %s", what, waitTimeout)
	}
}

// isClosed reports whether ch is closed now.
func isClosed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// create stores a new task and fails the test on error.
func create(t *testing.T, ctx context.Context, s dispatcher.Store, topic string) *api.Task {
	t.Helper()
	task := NewTask(topic)
	id, err := s.Create(ctx, task)
	must(t, "create", err)
	if id <= 0 || task.ID != id {
		t.Fatalf("create: id %d, task.ID %d", id, task.ID)
	}
	return task
}

// lock takes c's lock and fails the test on error.
func lock(t *testing.T, ctx context.Context, c worker.TaskRecord) <-chan struct{} {
	t.Helper()
	lost, err := c.Lock(ctx)
	must(t, "lock", err)
	if lost == nil {
		t.Fatal("lock: nil lost channel")
	}
	if isClosed(lost) {
		t.Fatal("lock: lost channel closed at once")
	}
	return lost
}

// result is what a call run in a goroutine returned.
type result[T any] struct {
	v   T
	err error
}

// async runs fn in a goroutine; the channel receives its result. The goroutine ends with fn,
// which the caller bounds with its ctx.
func async[T any](fn func() (T, error)) <-chan result[T] {
	ch := make(chan result[T], 1)
	go func() {
		v, err := fn()
		ch <- result[T]{v, err}
	}()
	return ch
}

// await returns the result of an async call, failing the test after waitTimeout.
func await[T any](t *testing.T, what string, ch <-chan result[T]) (T, error) {
	t.Helper()
	select {
	case r := <-ch:
		return r.v, r.err
	case <-time.After(waitTimeout):
		t.Fatalf("%s: no result after %s", what, waitTimeout)
		var zero T
		return zero, nil
	}
}
