package storetest

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"sync"
	"testing"

	"github.com/dtsrepl/dts/api"
	"github.com/dtsrepl/dts/dispatcher"
	"github.com/dtsrepl/dts/store"
)

func testCreateGet(t *testing.T, b Backend) {
	ctx := testContext(t)
	must(t, "ping", b.Store.Ping(ctx))
	first := create(t, ctx, b.Store, "first")
	if first.ID != 1 {
		t.Fatalf("first id is %d, want 1", first.ID)
	}
	second := create(t, ctx, b.Other, "second")
	if second.ID != 2 {
		t.Fatalf("second id is %d, want 2", second.ID)
	}
	for _, want := range []*api.Task{first, second} {
		for _, s := range []dispatcher.Store{b.Store, b.Other} {
			got, err := s.Get(ctx, want.ID)
			must(t, "get", err)
			sameJSON(t, "get", got, want)
		}
	}
	st, err := b.Store.Status(ctx, first.ID)
	must(t, "status", err)
	if st != nil {
		t.Fatalf("status of a task no worker reported on: %+v, want nil", st)
	}
}

func testUpdate(t *testing.T, b Backend) {
	ctx := testContext(t)
	task := create(t, ctx, b.Store, "before")

	v2 := *task
	v2.Spec.Kafka.Topic = "after"
	v2.Version = 2
	v2.Desired = api.DesiredStopped
	must(t, "update to version 2", b.Store.Update(ctx, &v2, 1))
	got, err := b.Other.Get(ctx, task.ID)
	must(t, "get", err)
	sameJSON(t, "get after update", got, &v2)

	// Both dispatchers read version 1; the second update must not pass.
	stale := *task
	stale.Version = 2
	stale.Spec.Kafka.Topic = "lost update"
	wantErr(t, "update with a stale version", b.Other.Update(ctx, &stale, 1), store.ErrConflict)
	got, err = b.Store.Get(ctx, task.ID)
	must(t, "get", err)
	sameJSON(t, "get after refused update", got, &v2)

	missing := *task
	missing.ID = 999
	wantErr(t, "update of a missing task", b.Store.Update(ctx, &missing, 1), store.ErrNotFound)
}

func testDelete(t *testing.T, b Backend) {
	ctx := testContext(t)
	keep := create(t, ctx, b.Store, "keep")
	gone := create(t, ctx, b.Store, "gone")
	c := b.TaskRecord(gone.ID, "w")
	lock(t, ctx, c)
	must(t, "save status", c.SaveStatus(ctx, NewStatus("w", 1)))
	must(t, "unlock", c.Unlock(ctx))

	must(t, "delete", b.Other.Delete(ctx, gone.ID))
	_, err := b.Store.Get(ctx, gone.ID)
	wantErr(t, "get of a deleted task", err, store.ErrNotFound)
	_, err = b.Store.Status(ctx, gone.ID)
	wantErr(t, "status of a deleted task", err, store.ErrNotFound)
	wantErr(t, "delete again", b.Store.Delete(ctx, gone.ID), store.ErrNotFound)
	if _, err := b.Store.Get(ctx, keep.ID); err != nil {
		t.Fatalf("the other task went too: %v", err)
	}
	// Ids are never reused, so a late request about the deleted task cannot hit a new one.
	next := create(t, ctx, b.Store, "next")
	if next.ID != 3 {
		t.Fatalf("id after a delete is %d, want 3", next.ID)
	}
}

func testList(t *testing.T, b Backend) {
	ctx := testContext(t)
	recs, err := b.Store.List(ctx)
	must(t, "list an empty store", err)
	if len(recs) != 0 {
		t.Fatalf("empty store lists %d tasks", len(recs))
	}
	// Eleven tasks, so that id order differs from the text order of the ids ("10" < "2").
	var tasks []*api.Task
	for range 11 {
		tasks = append(tasks, create(t, ctx, b.Store, "t"))
	}
	statuses := map[int64]*api.Status{}
	for _, id := range []int64{2, 10} {
		c := b.TaskRecord(id, "w")
		lock(t, ctx, c)
		statuses[id] = NewStatus("w", uint64(id))
		must(t, "save status", c.SaveStatus(ctx, statuses[id]))
		must(t, "unlock", c.Unlock(ctx))
	}
	must(t, "delete", b.Store.Delete(ctx, 5))
	tasks = slices.Delete(tasks, 4, 5)

	recs, err = b.Other.List(ctx)
	must(t, "list", err)
	if len(recs) != len(tasks) {
		t.Fatalf("list has %d tasks, want %d", len(recs), len(tasks))
	}
	for i, r := range recs {
		rec := r
		sameJSON(t, "listed task", rec.Task, tasks[i])
		if want := statuses[rec.Task.ID]; want != nil {
			sameJSON(t, "listed status", rec.Status, want)
		} else if rec.Status != nil {
			t.Fatalf("task %d lists status %+v, want nil", rec.Task.ID, rec.Status)
		}
	}

	// A store may keep what it decoded for the next list: the next list still shows every
	// change made since, through either store, and nothing a caller did to a listed record.
	recs[0].Task.Desired = api.DesiredDeleted
	recs[0].Task.Spec.Kafka.Topic = "changed by a caller"
	v2 := *tasks[2]
	v2.Spec.Kafka.Topic = "after"
	v2.Version = 2
	must(t, "update", b.Store.Update(ctx, &v2, 1))
	tasks[2] = &v2
	c := b.TaskRecord(2, "w")
	lock(t, ctx, c)
	statuses[2] = NewStatus("w", 20)
	must(t, "save status", c.SaveStatus(ctx, statuses[2]))
	must(t, "unlock", c.Unlock(ctx))
	must(t, "delete", b.Other.Delete(ctx, 10))
	tasks = slices.DeleteFunc(tasks, func(t *api.Task) bool { return t.ID == 10 })
	delete(statuses, 10)
	recs, err = b.Other.List(ctx)
	must(t, "list again", err)
	if len(recs) != len(tasks) {
		t.Fatalf("second list has %d tasks, want %d", len(recs), len(tasks))
	}
	for i, r := range recs {
		sameJSON(t, "task listed again", r.Task, tasks[i])
		if want := statuses[r.Task.ID]; want != nil {
			sameJSON(t, "status listed again", r.Status, want)
		} else if r.Status != nil {
			t.Fatalf("task %d lists status %+v, want nil", r.Task.ID, r.Status)
		}
	}
}

func testConcurrentCreate(t *testing.T, b Backend) {
	ctx := testContext(t)
	const n = 200
	ids := make([]int64, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		s := b.Store
		if i%2 == 1 {
			s = b.Other
		}
		wg.Go(func() {
			ids[i], errs[i] = s.Create(ctx, NewTask("concurrent"))
		})
	}
	wg.Wait()
	for i, err := range errs {
		must(t, "concurrent create", err)
		if ids[i] <= 0 {
			t.Fatalf("create %d returned id %d", i, ids[i])
		}
	}
	slices.Sort(ids)
	for i, id := range ids {
		if id != int64(i+1) {
			t.Fatalf("ids of %d concurrent creates are not 1..%d: %v", n, n, ids)
		}
	}
	recs, err := b.Store.List(ctx)
	must(t, "list", err)
	if len(recs) != n {
		t.Fatalf("list has %d tasks, want %d", len(recs), n)
	}
	for i, r := range recs {
		if got := r.Task.ID; got != int64(i+1) {
			t.Fatalf("listed task %d has id %d", i, got)
		}
	}
}

func testStatusRoundTrip(t *testing.T, b Backend) {
	ctx := testContext(t)
	task := create(t, ctx, b.Store, "t")
	c := b.TaskRecord(task.ID, "worker-1")

	got, err := c.Task(ctx)
	must(t, "control task", err)
	sameJSON(t, "control task", got, task)
	st, err := c.Status(ctx)
	must(t, "status before any was saved", err)
	if st != nil {
		t.Fatalf("status before any was saved: %+v, want nil", st)
	}

	lost := lock(t, ctx, c)
	again, err := c.Lock(ctx)
	must(t, "lock while holding", err)
	if again != lost {
		t.Fatal("lock while holding returned another lost channel")
	}
	for rows := range uint64(3) {
		want := NewStatus("worker-1", rows)
		must(t, "save status", c.SaveStatus(ctx, want))
		st, err = c.Status(ctx)
		must(t, "control status", err)
		sameJSON(t, "control status", st, want)
		st, err = b.Other.Status(ctx, task.ID)
		must(t, "store status", err)
		sameJSON(t, "store status", st, want)
	}
	if isClosed(lost) {
		t.Fatal("lost closed while the lock is held")
	}
	must(t, "unlock", c.Unlock(ctx))
	// The status stays for the dispatcher after the worker stopped.
	st, err = b.Store.Status(ctx, task.ID)
	must(t, "status after unlock", err)
	sameJSON(t, "status after unlock", st, NewStatus("worker-1", 2))
}

func testLockExclusive(t *testing.T, b Backend) {
	ctx := testContext(t)
	task := create(t, ctx, b.Store, "t")
	first := b.TaskRecord(task.ID, "first")
	second := b.TaskRecord(task.ID, "second")
	firstLost := lock(t, ctx, first)

	short, cancel := context.WithTimeout(ctx, shortWait)
	_, err := second.Lock(short)
	cancel()
	wantErr(t, "lock held by another", err, context.DeadlineExceeded)

	waiting := async(func() (<-chan struct{}, error) { return second.Lock(ctx) })
	must(t, "save status as the holder", first.SaveStatus(ctx, NewStatus("first", 1)))
	must(t, "unlock", first.Unlock(ctx))
	must(t, "unlock again", first.Unlock(ctx))
	waitClosed(t, "lost after unlock", firstLost)

	secondLost, err := await(t, "lock after the holder unlocked", waiting)
	must(t, "lock after the holder unlocked", err)
	if isClosed(secondLost) {
		t.Fatal("new holder's lost is closed")
	}
	wantErr(t, "save status after unlock", first.SaveStatus(ctx, NewStatus("first", 2)), store.ErrLockLost)
	must(t, "save status as the new holder", second.SaveStatus(ctx, NewStatus("second", 3)))
	st, err := b.Store.Status(ctx, task.ID)
	must(t, "status", err)
	sameJSON(t, "status", st, NewStatus("second", 3))
	must(t, "unlock", second.Unlock(ctx))
}

func testLockTakenOver(t *testing.T, b Backend) {
	ctx := testContext(t)
	task := create(t, ctx, b.Store, "t")
	old := b.TaskRecord(task.ID, "old")
	oldLost := lock(t, ctx, old)
	must(t, "save status as the holder", old.SaveStatus(ctx, NewStatus("old", 1)))

	b.BreakLock(t, task.ID)
	waitClosed(t, "old holder's lost after its lock was broken", oldLost)

	taker := b.TaskRecord(task.ID, "new")
	lock(t, ctx, taker)
	wantErr(t, "old holder's save status", old.SaveStatus(ctx, NewStatus("old", 2)), store.ErrLockLost)
	must(t, "new holder's save status", taker.SaveStatus(ctx, NewStatus("new", 3)))

	// The old holder cleaning up must not release the new holder's lock.
	must(t, "old holder's unlock", old.Unlock(ctx))
	must(t, "new holder's save status after the old one unlocked", taker.SaveStatus(ctx, NewStatus("new", 4)))
	st, err := b.Store.Status(ctx, task.ID)
	must(t, "status", err)
	sameJSON(t, "status", st, NewStatus("new", 4))
	must(t, "unlock", taker.Unlock(ctx))
}

func testDeleteRevokesLock(t *testing.T, b Backend) {
	ctx := testContext(t)
	task := create(t, ctx, b.Store, "t")
	holder := b.TaskRecord(task.ID, "holder")
	lost := lock(t, ctx, holder)
	must(t, "save status", holder.SaveStatus(ctx, NewStatus("holder", 1)))
	waiter := b.TaskRecord(task.ID, "waiter")
	waiting := async(func() (<-chan struct{}, error) { return waiter.Lock(ctx) })

	must(t, "delete", b.Other.Delete(ctx, task.ID))
	waitClosed(t, "holder's lost after delete", lost)
	wantErr(t, "save status after delete", holder.SaveStatus(ctx, NewStatus("holder", 2)), store.ErrLockLost)
	_, err := b.Store.Status(ctx, task.ID)
	wantErr(t, "status after delete", err, store.ErrNotFound)
	_, err = holder.Task(ctx)
	wantErr(t, "control task after delete", err, store.ErrNotFound)
	_, err = await(t, "lock waiting when the task was deleted", waiting)
	wantErr(t, "lock waiting when the task was deleted", err, store.ErrNotFound)
	must(t, "unlock after delete", holder.Unlock(ctx))
	_, err = holder.Lock(ctx)
	wantErr(t, "lock after delete", err, store.ErrNotFound)
	recs, err := b.Store.List(ctx)
	must(t, "list", err)
	if len(recs) != 0 {
		t.Fatalf("list after delete has %d tasks", len(recs))
	}
}

func testWatchTask(t *testing.T, b Backend) {
	ctx := testContext(t)
	task := create(t, ctx, b.Store, "t")
	c := b.TaskRecord(task.ID, "w")

	watching := async(func() (*api.Task, error) { return c.WatchTask(ctx, 1) })
	v2 := *task
	v2.Version = 2
	v2.Spec.Kafka.Topic = "changed"
	must(t, "update", b.Other.Update(ctx, &v2, 1))
	got, err := await(t, "watch across an update", watching)
	must(t, "watch across an update", err)
	sameJSON(t, "watched task", got, &v2)

	got, err = c.WatchTask(ctx, 1)
	must(t, "watch an old version", err)
	if got.Version != 2 {
		t.Fatalf("watch an old version returned version %d, want 2", got.Version)
	}

	short, cancel := context.WithTimeout(ctx, shortWait)
	_, err = c.WatchTask(short, 2)
	cancel()
	wantErr(t, "watch without a change", err, context.DeadlineExceeded)

	watching = async(func() (*api.Task, error) { return c.WatchTask(ctx, 2) })
	must(t, "delete", b.Store.Delete(ctx, task.ID))
	_, err = await(t, "watch across a delete", watching)
	wantErr(t, "watch across a delete", err, store.ErrNotFound)
	_, err = c.WatchTask(ctx, 2)
	wantErr(t, "watch a deleted task", err, store.ErrNotFound)
}

func testMissingTask(t *testing.T, b Backend) {
	ctx := testContext(t)
	const id = 42
	_, err := b.Store.Get(ctx, id)
	wantErr(t, "get", err, store.ErrNotFound)
	_, err = b.Store.Status(ctx, id)
	wantErr(t, "status", err, store.ErrNotFound)
	wantErr(t, "delete", b.Store.Delete(ctx, id), store.ErrNotFound)
	missing := NewTask("t")
	missing.ID = id
	wantErr(t, "update", b.Store.Update(ctx, missing, 1), store.ErrNotFound)

	c := b.TaskRecord(id, "w")
	_, err = c.Lock(ctx)
	wantErr(t, "lock", err, store.ErrNotFound)
	_, err = c.Task(ctx)
	wantErr(t, "control task", err, store.ErrNotFound)
	_, err = c.WatchTask(ctx, 1)
	wantErr(t, "watch", err, store.ErrNotFound)
	wantErr(t, "save status without the lock", c.SaveStatus(ctx, NewStatus("w", 1)), store.ErrLockLost)
	must(t, "unlock without the lock", c.Unlock(ctx))
}

func testRelock(t *testing.T, b Backend) {
	ctx := testContext(t)
	task := create(t, ctx, b.Store, "t")
	c := b.TaskRecord(task.ID, "w")
	wantErr(t, "save status before lock", c.SaveStatus(ctx, NewStatus("w", 0)), store.ErrLockLost)
	for i := range uint64(3) {
		lost := lock(t, ctx, c)
		must(t, "save status", c.SaveStatus(ctx, NewStatus("w", i)))
		must(t, "unlock", c.Unlock(ctx))
		waitClosed(t, "lost after unlock", lost)
		wantErr(t, "save status after unlock", c.SaveStatus(ctx, NewStatus("w", i)), store.ErrLockLost)
	}
}

// testPage reads pages: the right tasks in id order with their statuses, the total, and an empty
// page past the end.
func testPage(t *testing.T, b Backend) {
	ctx := testContext(t)
	var ids []int64
	for i := range 7 {
		ids = append(ids, create(t, ctx, b.Store, "p"+strconv.Itoa(i)).ID)
	}
	c := b.TaskRecord(ids[3], "w")
	lock(t, ctx, c)
	must(t, "save status", c.SaveStatus(ctx, NewStatus("w", 3)))
	must(t, "delete", b.Store.Delete(ctx, ids[5]))
	live := slices.Delete(slices.Clone(ids), 5, 6)
	for _, tc := range []struct{ offset, limit int }{{0, 3}, {3, 3}, {6, 3}, {0, 20}, {2, 1}, {0, 100}} {
		recs, total, err := b.Other.Page(ctx, tc.offset, tc.limit)
		must(t, "page", err)
		if total != len(live) {
			t.Errorf("page %+v: total %d, want %d", tc, total, len(live))
		}
		var got []int64
		for _, r := range recs {
			got = append(got, r.Task.ID)
			if (r.Status != nil) != (r.Task.ID == ids[3]) {
				t.Errorf("task %d status %+v", r.Task.ID, r.Status)
			}
		}
		want := live[min(tc.offset, len(live)):min(tc.offset+tc.limit, len(live))]
		if !slices.Equal(got, want) {
			t.Errorf("page %+v: ids %v, want %v", tc, got, want)
		}
	}
}

// testIdempotency: a second create with a task's idempotency key is refused with that task's
// id, on either dispatcher, also when they race; once the task is deleted the key is free.
func testIdempotency(t *testing.T, b Backend) {
	ctx := testContext(t)
	keyed := func(key string) *api.Task {
		tk := NewTask("idem")
		tk.IdempotencyKey = api.IdempotencyKeyHash(key)
		return tk
	}
	first := keyed("k1")
	id, err := b.Store.Create(ctx, first)
	must(t, "create", err)
	_, err = b.Other.Create(ctx, keyed("k1"))
	var dup *store.DuplicateError
	if !errors.As(err, &dup) || dup.ID != id || !errors.Is(err, store.ErrDuplicate) {
		t.Fatalf("second create with the key: %v, want a DuplicateError for task %d", err, id)
	}
	if _, err := b.Other.Create(ctx, keyed("k2")); err != nil {
		t.Fatalf("create with another key: %v", err)
	}

	// Racing retries make one task.
	var wg sync.WaitGroup
	made := make(chan int64, 8)
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := b.Store
			if i%2 == 1 {
				s = b.Other
			}
			id, err := s.Create(ctx, keyed("race"))
			switch {
			case err == nil:
				made <- id
			case !errors.Is(err, store.ErrDuplicate):
				t.Errorf("racing create: %v", err)
			}
		}()
	}
	wg.Wait()
	close(made)
	if n := len(made); n != 1 {
		t.Errorf("racing creates with one key made %d tasks, want 1", n)
	}

	must(t, "delete", b.Store.Delete(ctx, id))
	again, err := b.Other.Create(ctx, keyed("k1"))
	if err != nil {
		t.Fatalf("create with the key of a deleted task: %v", err)
	}
	if again == id {
		t.Fatalf("id %d reused", id)
	}
}
