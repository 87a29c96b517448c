package storetest

import (
	"errors"
	"testing"
	"time"

	"github.com/dtsrepl/dts/api"
	"github.com/dtsrepl/dts/store"
	"github.com/dtsrepl/dts/verify"
)

// TestChecks runs the suite of what the checks keep in a store: a task's history travels with
// it (written in the same compare-and-set as its version), the worker's applied position with
// its status, and a consistency check's state is compare-and-set by revision. open is called
// once per subtest and must return an empty store whose Store is also a verify.Store.
func TestChecks(t *testing.T, open func(t *testing.T) Backend) {
	t.Run("History", func(t *testing.T) { testHistory(t, open(t)) })
	t.Run("Verify", func(t *testing.T) { testVerify(t, open(t)) })
}

func testHistory(t *testing.T, b Backend) {
	ctx := testContext(t)
	at := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	task := NewTask("history")
	task.History = []api.Revision{{Version: 1, At: at, Action: "submit", Forced: true}}
	id, err := b.Store.Create(ctx, task)
	must(t, "create", err)
	next := *task
	next.Version = 2
	next.History = append(task.History, api.Revision{Version: 2, At: at.Add(time.Minute), Action: "alter", Changed: []string{"kafka.topic"}, Pos: "MariaDB/0-1-7", AppliedAt: at.Add(2 * time.Minute)})
	must(t, "update", b.Store.Update(ctx, &next, 1))
	got, err := b.Other.Get(ctx, id)
	must(t, "get", err)
	sameJSON(t, "history", got.History, next.History)

	rec := b.TaskRecord(id, "w1")
	lock(t, ctx, rec)
	st := NewStatus("w1", 5)
	st.AppliedVersion, st.AppliedPos, st.AppliedAt = 2, "MariaDB/0-1-7", at
	must(t, "save status", rec.SaveStatus(ctx, st))
	gotSt, err := b.Other.Status(ctx, id)
	must(t, "status", err)
	sameJSON(t, "status", gotSt, st)
}

func testVerify(t *testing.T, b Backend) {
	ctx := testContext(t)
	vs, ok := b.Store.(verify.Store)
	other, ok2 := b.Other.(verify.Store)
	if !ok || !ok2 {
		t.Fatalf("%T is not a verify.Store", b.Store)
	}
	if _, _, err := vs.Verify(ctx, 4242); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("verify of a missing task: %v", err)
	}
	if _, err := vs.SaveVerify(ctx, 4242, &api.Verify{Run: "x"}, 0); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("save verify of a missing task: %v", err)
	}
	id, err := b.Store.Create(ctx, NewTask("verify"))
	must(t, "create", err)
	v, rev, err := vs.Verify(ctx, id)
	if err != nil || v != nil || rev != 0 {
		t.Fatalf("verify of a task without one: %v %d %v", v, rev, err)
	}
	first := &api.Verify{Run: "r1", State: api.VerifyRunning, Owner: "d1", Tables: []api.VerifyTable{{DB: "shop", Table: "orders", Matching: 3}}}
	rev1, err := vs.SaveVerify(ctx, id, first, 0)
	must(t, "save", err)
	if _, err := other.SaveVerify(ctx, id, &api.Verify{Run: "r2"}, 0); !errors.Is(err, store.ErrConflict) {
		t.Errorf("a second first save: %v", err)
	}
	first.RowsChecked = 10
	rev2, err := vs.SaveVerify(ctx, id, first, rev1)
	must(t, "save again", err)
	if rev2 == rev1 {
		t.Errorf("the revision did not move: %d", rev2)
	}
	if _, err := other.SaveVerify(ctx, id, first, rev1); !errors.Is(err, store.ErrConflict) {
		t.Errorf("a save at a stale revision: %v", err)
	}
	got, rev, err := other.Verify(ctx, id)
	must(t, "verify", err)
	if rev != rev2 {
		t.Errorf("revision %d, want %d", rev, rev2)
	}
	sameJSON(t, "verify", got, first)
	must(t, "delete", b.Store.Delete(ctx, id))
	if _, _, err := vs.Verify(ctx, id); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("verify of a deleted task: %v", err)
	}
	if _, err := vs.SaveVerify(ctx, id, first, rev2); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("save verify of a deleted task: %v", err)
	}
}
