package bolt

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	berrors "go.etcd.io/bbolt/errors"

	"github.com/dtsrepl/dts/api"
	"github.com/dtsrepl/dts/dispatcher"
	"github.com/dtsrepl/dts/store"
	"github.com/dtsrepl/dts/store/storetest"
	"github.com/dtsrepl/dts/worker"
)

// The stores implement what the dispatcher and the worker use.
var (
	_ dispatcher.Store  = (*DB)(nil)
	_ worker.TaskRecord = (*TaskRecord)(nil)
)

// open opens a store in a new directory and closes it when the test ends.
func open(t *testing.T) (*DB, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "state", "dts.db")
	d, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := d.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return d, path
}

// breakLock revokes task id's lock holder, which is how this store loses locks (Delete and
// Close do it).
func (d *DB) breakLock(t *testing.T, id int64) {
	t.Helper()
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.locks[id] == nil {
		t.Fatalf("lock of task %d is not held", id)
	}
	d.revoke(id)
}

func TestStore(t *testing.T) {
	storetest.TestStore(t, func(t *testing.T) storetest.Backend {
		d, _ := open(t)
		return storetest.Backend{
			Store: d,
			Other: d,
			TaskRecord: func(id int64, name string) worker.TaskRecord {
				c := d.TaskRecord(id, name)
				t.Cleanup(func() { _ = c.Unlock(context.Background()) })
				return c
			},
			BreakLock: d.breakLock,
		}
	})
}

func TestReopen(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "dts.db")
	d, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	task := storetest.NewTask("t")
	id, err := d.Create(ctx, task)
	if err != nil {
		t.Fatal(err)
	}
	creds := api.Credentials{Username: "repl", Password: "secret"}
	if err := d.PutCredentials(ctx, id, creds); err != nil {
		t.Fatal(err)
	}
	c := d.TaskRecord(id, "w")
	if _, err := c.Lock(ctx); err != nil {
		t.Fatal(err)
	}
	st := storetest.NewStatus("w", 9)
	if err := c.SaveStatus(ctx, st); err != nil {
		t.Fatal(err)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}

	d, err = Open(path)
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	t.Cleanup(func() { d.Close() })
	got, err := d.Get(ctx, id)
	if err != nil || got.Spec.Kafka.Topic != "t" || got.CreatedAt.IsZero() {
		t.Fatalf("task after reopen: %+v, %v", got, err)
	}
	gotSt, err := d.Status(ctx, id)
	if err != nil || gotSt == nil || gotSt.RowsSent != 9 {
		t.Fatalf("status after reopen: %+v, %v", gotSt, err)
	}
	gotCreds, err := d.Credentials(ctx, id)
	if err != nil || *gotCreds != creds {
		t.Fatalf("credentials after reopen: %+v, %v", gotCreds, err)
	}
	// The lock did not survive the process, so a new worker takes it at once.
	if _, err := d.TaskRecord(id, "w2").Lock(ctx); err != nil {
		t.Fatalf("lock after reopen: %v", err)
	}
	next, err := d.Create(ctx, storetest.NewTask("t"))
	if err != nil || next != id+1 {
		t.Fatalf("create after reopen: id %d, %v; want %d", next, err, id+1)
	}
}

func TestOpenInUse(t *testing.T) {
	_, path := open(t)
	start := time.Now()
	d, err := Open(path)
	if err == nil {
		d.Close()
		t.Fatal("second open of the same file succeeded")
	}
	if !strings.Contains(err.Error(), "is in use by another dts dev (bbolt lock)") || !strings.Contains(err.Error(), path) {
		t.Fatalf("second open: %v, want it to say that %s is in use", err, path)
	}
	if !errors.Is(err, berrors.ErrTimeout) {
		t.Fatalf("second open: %v, want it to wrap the bbolt timeout", err)
	}
	t.Logf("second open failed after %s: %v", time.Since(start).Round(time.Millisecond), err)
}

func TestOpenModes(t *testing.T) {
	_, path := open(t)
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("file mode %v, want 0600", fi.Mode().Perm())
	}
	di, err := os.Stat(filepath.Dir(path))
	if err != nil {
		t.Fatal(err)
	}
	if di.Mode().Perm() != 0o700 {
		t.Fatalf("directory mode %v, want 0700", di.Mode().Perm())
	}
}

func TestCredentials(t *testing.T) {
	ctx := t.Context()
	d, _ := open(t)
	creds := api.Credentials{Username: "repl", Password: "secret"}
	if err := d.PutCredentials(ctx, 1, creds); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("put credentials of a missing task: %v, want ErrNotFound", err)
	}
	id, err := d.Create(ctx, storetest.NewTask("t"))
	if err != nil {
		t.Fatal(err)
	}
	if c, err := d.Credentials(ctx, id); c != nil || err != nil {
		t.Fatalf("credentials before put: %+v, %v, want nil, nil (no account is no error)", c, err)
	}
	if err := d.PutCredentials(ctx, id, creds); err != nil {
		t.Fatal(err)
	}
	got, err := d.Credentials(ctx, id)
	if err != nil || *got != creds {
		t.Fatalf("credentials: %+v, %v", got, err)
	}
	if err := d.DeleteCredentials(ctx, id); err != nil {
		t.Fatal(err)
	}
	if err := d.DeleteCredentials(ctx, id); err != nil {
		t.Fatalf("delete credentials twice: %v", err)
	}
	if c, err := d.Credentials(ctx, id); c != nil || err != nil {
		t.Fatalf("credentials after delete: %+v, %v, want nil, nil (no account is no error)", c, err)
	}

	// Deleting the task takes its credentials along.
	if err := d.PutCredentials(ctx, id, creds); err != nil {
		t.Fatal(err)
	}
	if err := d.Delete(ctx, id); err != nil {
		t.Fatal(err)
	}
	if c, err := d.Credentials(ctx, id); c != nil || err != nil {
		t.Fatalf("credentials after the task was deleted: %+v, %v, want nil, nil (no account is no error)", c, err)
	}
}

func TestClose(t *testing.T) {
	ctx := t.Context()
	d, err := Open(filepath.Join(t.TempDir(), "dts.db"))
	if err != nil {
		t.Fatal(err)
	}
	id, err := d.Create(ctx, storetest.NewTask("t"))
	if err != nil {
		t.Fatal(err)
	}
	holder := d.TaskRecord(id, "holder")
	lost, err := holder.Lock(ctx)
	if err != nil {
		t.Fatal(err)
	}
	type result struct{ err error }
	waiting := make(chan result, 2)
	go func() {
		_, err := d.TaskRecord(id, "waiter").Lock(ctx)
		waiting <- result{err}
	}()
	go func() {
		_, err := holder.WatchTask(ctx, 1)
		waiting <- result{err}
	}()

	if err := d.Ping(ctx); err != nil {
		t.Fatalf("ping: %v", err)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-lost:
	case <-time.After(10 * time.Second):
		t.Fatal("holder's lost not closed by Close")
	}
	for range 2 {
		select {
		case r := <-waiting:
			if !errors.Is(r.err, store.ErrUnavailable) {
				t.Fatalf("lock or watch waiting when the store closed: %v, want ErrUnavailable", r.err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("a waiting lock or watch did not return after Close")
		}
	}
	if err := holder.SaveStatus(ctx, storetest.NewStatus("holder", 1)); !errors.Is(err, store.ErrLockLost) {
		t.Fatalf("save status after close: %v, want ErrLockLost", err)
	}
	if err := d.Ping(ctx); !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("ping after close: %v, want ErrUnavailable", err)
	}
	if _, err := d.Get(ctx, id); !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("get after close: %v, want ErrUnavailable", err)
	}
	if _, err := d.Create(ctx, storetest.NewTask("t")); !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("create after close: %v, want ErrUnavailable", err)
	}
	if err := d.Close(); err != nil {
		t.Fatalf("close twice: %v", err)
	}
}

// TestCreateWithCredentials: dts dev stores a submitted task and its credentials in one
// transaction, so no crash can leave a task its worker cannot log in for.
func TestCreateWithCredentials(t *testing.T) {
	ctx := t.Context()
	d, path := open(t)
	creds := api.Credentials{Username: "repl", Password: "secret"}
	task := storetest.NewTask("t")
	id, err := d.CreateWithCredentials(ctx, task, creds)
	if err != nil {
		t.Fatal(err)
	}
	if task.ID != id || id != 1 {
		t.Fatalf("id %d, task.ID %d", id, task.ID)
	}
	got, err := d.Credentials(ctx, id)
	if err != nil || *got != creds {
		t.Fatalf("credentials %+v, %v", got, err)
	}
	if tk, err := d.Get(ctx, id); err != nil || tk.Spec.Kafka.Topic != "t" {
		t.Fatalf("task %+v, %v", tk, err)
	}
	// Both are there after a restart, and ids go on.
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	d2, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer d2.Close()
	if got, err := d2.Credentials(ctx, id); err != nil || *got != creds {
		t.Fatalf("credentials after reopen %+v, %v", got, err)
	}
	if next, err := d2.CreateWithCredentials(ctx, storetest.NewTask("u"), creds); err != nil || next != 2 {
		t.Fatalf("next create: %d, %v", next, err)
	}
	// A closed store stores neither.
	d2.Close()
	if _, err := d2.CreateWithCredentials(ctx, storetest.NewTask("v"), creds); !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("create on a closed store: %v", err)
	}
}
