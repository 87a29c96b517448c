package bolt

import (
	"context"
	"encoding/json"
	"fmt"

	"go.etcd.io/bbolt"

	"github.com/dtsrepl/dts/api"
	"github.com/dtsrepl/dts/store"
)

// TaskRecord links an in-process worker to its task. It implements the worker's TaskRecord with a lock
// kept in memory: the process that owns the file runs every worker, so no one else can hold it.
type TaskRecord struct {
	d    *DB
	id   int64
	name string

	// lease is this TaskRecord's holding of the lock, nil if none; guarded by d.mu. It may have
	// been revoked since, which SaveStatus finds by comparing its token with the holder's.
	lease *lease
}

// TaskRecord returns the TaskRecord of task id for the worker called name.
func (d *DB) TaskRecord(id int64, name string) *TaskRecord {
	return &TaskRecord{d: d, id: id, name: name}
}

// Lock blocks until no other TaskRecord of this DB holds the task's lock, or ctx ends, and takes
// it with a fresh token. store.ErrNotFound if the task does not exist or is deleted while
// waiting. The returned channel is closed when the lock ends: Unlock, Delete of the task, or
// Close of the DB. Calling Lock while the lock is held returns the same channel.
func (c *TaskRecord) Lock(ctx context.Context) (<-chan struct{}, error) {
	d := c.d
	for {
		d.mu.Lock()
		if d.closed {
			d.mu.Unlock()
			return nil, fmt.Errorf("lock task %d: %w", c.id, d.errClosed())
		}
		cur := d.locks[c.id]
		if cur != nil && cur == c.lease {
			d.mu.Unlock()
			return cur.ended, nil
		}
		// Checked under d.mu, which Delete holds across its write: a task is either deleted
		// before this check, or its lock is revoked after this Lock took it.
		err := d.view(func(tx *bbolt.Tx) error {
			if tx.Bucket(bucketTasks).Get(key(c.id)) == nil {
				return store.ErrNotFound
			}
			return nil
		})
		if err != nil {
			d.mu.Unlock()
			return nil, fmt.Errorf("lock task %d: %w", c.id, err)
		}
		if cur == nil {
			d.token++
			l := &lease{token: d.token, ended: make(chan struct{})}
			d.locks[c.id] = l
			c.lease = l
			d.mu.Unlock()
			return l.ended, nil
		}
		wait := cur.ended
		d.mu.Unlock()
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("lock task %d: %w", c.id, ctx.Err())
		case <-wait:
		case <-d.done:
		}
	}
}

// Unlock releases the lock if this TaskRecord still holds it; the lost channel is closed. Unlocking
// a lock that is not held does nothing.
func (c *TaskRecord) Unlock(ctx context.Context) error {
	d := c.d
	d.mu.Lock()
	defer d.mu.Unlock()
	if c.lease != nil && d.locks[c.id] == c.lease {
		d.revoke(c.id)
	}
	c.lease = nil
	return nil
}

// holds reports whether c's token is the task's current holder. d.mu must be held.
func (c *TaskRecord) holds() bool {
	cur := c.d.locks[c.id]
	return c.lease != nil && cur != nil && cur.token == c.lease.token
}

// SaveStatus writes st only if this TaskRecord's token is the lock's current holder, else
// store.ErrLockLost. The check and the write happen under the lock that Delete and Close take to
// revoke holders, so a revoked holder can never write.
func (c *TaskRecord) SaveStatus(ctx context.Context, st *api.Status) error {
	if st == nil {
		return fmt.Errorf("save status of task %d: nil status", c.id)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("save status of task %d: %w", c.id, err)
	}
	b, err := json.Marshal(st)
	if err != nil {
		return fmt.Errorf("save status of task %d: encode: %w", c.id, err)
	}
	d := c.d
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed || !c.holds() {
		return fmt.Errorf("save status of task %d: %w", c.id, store.ErrLockLost)
	}
	err = d.update(func(tx *bbolt.Tx) error {
		return tx.Bucket(bucketStatus).Put(key(c.id), b)
	})
	if err != nil {
		return fmt.Errorf("save status of task %d: %w", c.id, err)
	}
	return nil
}

// Task returns the task's current record; store.ErrNotFound if it was deleted.
func (c *TaskRecord) Task(ctx context.Context) (*api.Task, error) {
	return c.d.Get(ctx, c.id)
}

// Status returns the last saved status, or nil if none was saved.
func (c *TaskRecord) Status(ctx context.Context) (*api.Status, error) {
	return c.d.Status(ctx, c.id)
}

// WatchTask blocks until the task's version differs from version, or ctx ends, and returns the
// new record; store.ErrNotFound once the task is deleted. Update and Delete wake it.
func (c *TaskRecord) WatchTask(ctx context.Context, version int64) (*api.Task, error) {
	d := c.d
	for {
		// The channel is taken before the read, so that a change after the read still wakes us.
		d.mu.Lock()
		if d.closed {
			d.mu.Unlock()
			return nil, fmt.Errorf("watch task %d: %w", c.id, d.errClosed())
		}
		changed := d.watch(c.id)
		d.mu.Unlock()

		t, err := d.Get(ctx, c.id)
		if err != nil {
			return nil, fmt.Errorf("watch task %d: %w", c.id, err)
		}
		if t.Version != version {
			return t, nil
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("watch task %d: %w", c.id, ctx.Err())
		case <-changed:
		case <-d.done:
		}
	}
}
