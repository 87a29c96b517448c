package bolt

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"

	"go.etcd.io/bbolt"

	"github.com/dtsrepl/dts/api"
	"github.com/dtsrepl/dts/store"
)

// Create allocates the next id and stores t under it, in one bbolt transaction: bbolt runs one
// writer at a time, so concurrent creates never share an id. It sets t.ID.
func (d *DB) Create(ctx context.Context, t *api.Task) (int64, error) {
	return d.create(ctx, t, nil)
}

// CreateWithCredentials is Create that also stores the task's source account (PutCredentials),
// in the same transaction: in dts dev the local launcher reads credentials from this file, and a
// process killed between two writes would leave a task whose worker cannot log in.
func (d *DB) CreateWithCredentials(ctx context.Context, t *api.Task, c api.Credentials) (int64, error) {
	return d.create(ctx, t, &c)
}

func (d *DB) create(ctx context.Context, t *api.Task, creds *api.Credentials) (int64, error) {
	if t == nil {
		return 0, errors.New("create task: nil task")
	}
	if err := ctx.Err(); err != nil {
		return 0, fmt.Errorf("create task: %w", err)
	}
	var cb []byte
	if creds != nil {
		var err error
		if cb, err = json.Marshal(creds); err != nil {
			return 0, fmt.Errorf("create task: encode credentials: %w", err)
		}
	}
	var id int64
	err := d.update(func(tx *bbolt.Tx) error {
		idem := tx.Bucket(bucketIdempotency)
		if t.IdempotencyKey != "" {
			if v := idem.Get([]byte(t.IdempotencyKey)); len(v) == 8 {
				prev := int64(binary.BigEndian.Uint64(v))
				if tx.Bucket(bucketTasks).Get(v) != nil {
					return &store.DuplicateError{ID: prev}
				}
			}
		}
		meta := tx.Bucket(bucketMeta)
		var last uint64
		if v := meta.Get(keyNextID); v != nil {
			if len(v) != 8 {
				return fmt.Errorf("meta/next-id holds %d bytes, not a task id", len(v))
			}
			last = binary.BigEndian.Uint64(v)
		}
		id = int64(last + 1)
		c := *t
		c.ID = id
		b, err := json.Marshal(&c)
		if err != nil {
			return fmt.Errorf("encode: %w", err)
		}
		if err := tx.Bucket(bucketTasks).Put(key(id), b); err != nil {
			return err
		}
		if cb != nil {
			if err := tx.Bucket(bucketCredentials).Put(key(id), cb); err != nil {
				return err
			}
		}
		if t.IdempotencyKey != "" {
			if err := idem.Put([]byte(t.IdempotencyKey), key(id)); err != nil {
				return err
			}
		}
		return meta.Put(keyNextID, key(id))
	})
	if err != nil {
		return 0, fmt.Errorf("create task: %w", err)
	}
	t.ID = id
	return id, nil
}

// getTask reads and decodes task id in tx.
func getTask(tx *bbolt.Tx, id int64) (*api.Task, error) {
	v := tx.Bucket(bucketTasks).Get(key(id))
	if v == nil {
		return nil, store.ErrNotFound
	}
	var t api.Task
	if err := json.Unmarshal(v, &t); err != nil {
		return nil, fmt.Errorf("decode tasks/%d: %w", id, err)
	}
	return &t, nil
}

// getStatus reads and decodes task id's status in tx; nil if none.
func getStatus(tx *bbolt.Tx, id int64) (*api.Status, error) {
	v := tx.Bucket(bucketStatus).Get(key(id))
	if v == nil {
		return nil, nil
	}
	var st api.Status
	if err := json.Unmarshal(v, &st); err != nil {
		return nil, fmt.Errorf("decode status/%d: %w", id, err)
	}
	return &st, nil
}

// Get returns one task.
func (d *DB) Get(ctx context.Context, id int64) (*api.Task, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("get task %d: %w", id, err)
	}
	var t *api.Task
	err := d.view(func(tx *bbolt.Tx) error {
		var err error
		t, err = getTask(tx, id)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("get task %d: %w", id, err)
	}
	return t, nil
}

// Update replaces t if its stored version is still prevVersion; the check and the write are one
// bbolt transaction. Watchers of the task are woken.
func (d *DB) Update(ctx context.Context, t *api.Task, prevVersion int64) error {
	if t == nil {
		return errors.New("update task: nil task")
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("update task %d: %w", t.ID, err)
	}
	err := d.update(func(tx *bbolt.Tx) error {
		cur, err := getTask(tx, t.ID)
		if err != nil {
			return err
		}
		if cur.Version != prevVersion {
			return fmt.Errorf("stored version is %d, not %d: %w", cur.Version, prevVersion, store.ErrConflict)
		}
		b, err := json.Marshal(t)
		if err != nil {
			return fmt.Errorf("encode: %w", err)
		}
		return tx.Bucket(bucketTasks).Put(key(t.ID), b)
	})
	if err != nil {
		return fmt.Errorf("update task %d: %w", t.ID, err)
	}
	d.mu.Lock()
	d.broadcast(t.ID)
	d.mu.Unlock()
	return nil
}

// Delete removes a task with its status and credentials, revokes its lock (the holder sees lost
// closed and can no longer save a status) and wakes its watchers.
func (d *DB) Delete(ctx context.Context, id int64) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("delete task %d: %w", id, err)
	}
	// Held across the write so that no Lock can take the lock of a task being deleted.
	d.mu.Lock()
	defer d.mu.Unlock()
	err := d.update(func(tx *bbolt.Tx) error {
		k := key(id)
		t, err := getTask(tx, id)
		if err != nil {
			return err
		}
		if t.IdempotencyKey != "" {
			if err := tx.Bucket(bucketIdempotency).Delete([]byte(t.IdempotencyKey)); err != nil {
				return err
			}
		}
		for _, b := range [][]byte{bucketTasks, bucketStatus, bucketCredentials} {
			if err := tx.Bucket(b).Delete(k); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("delete task %d: %w", id, err)
	}
	d.revoke(id)
	d.broadcast(id)
	return nil
}

// List returns every task in id order, each with its status (nil if none was reported).
func (d *DB) List(ctx context.Context) ([]store.Record, error) {
	recs, _, err := d.Page(ctx, 0, math.MaxInt)
	return recs, err
}

// Page returns limit tasks in id order from the offset-th on, each with its status, and how many
// tasks there are.
func (d *DB) Page(ctx context.Context, offset, limit int) ([]store.Record, int, error) {
	if err := ctx.Err(); err != nil {
		return nil, 0, fmt.Errorf("list tasks: %w", err)
	}
	var out []store.Record
	total := 0
	err := d.view(func(tx *bbolt.Tx) error {
		c := tx.Bucket(bucketTasks).Cursor()
		for k, _ := c.First(); k != nil; k, _ = c.Next() {
			if len(k) != 8 {
				continue
			}
			total++
			if total <= offset || len(out) >= limit {
				continue
			}
			id := int64(binary.BigEndian.Uint64(k))
			t, err := getTask(tx, id)
			if err != nil {
				return err
			}
			st, err := getStatus(tx, id)
			if err != nil {
				return err
			}
			out = append(out, store.Record{Task: t, Status: st})
		}
		return nil
	})
	if err != nil {
		return nil, 0, fmt.Errorf("list tasks: %w", err)
	}
	return out, total, nil
}

// Status returns a task's last reported status, nil if none was reported, and
// store.ErrNotFound if the task does not exist.
func (d *DB) Status(ctx context.Context, id int64) (*api.Status, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("status of task %d: %w", id, err)
	}
	var st *api.Status
	err := d.view(func(tx *bbolt.Tx) error {
		if tx.Bucket(bucketTasks).Get(key(id)) == nil {
			return store.ErrNotFound
		}
		var err error
		st, err = getStatus(tx, id)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("status of task %d: %w", id, err)
	}
	return st, nil
}

// Ping returns nil unless the store was closed: the file is local, there is nothing else to
// check.
func (d *DB) Ping(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("ping task store: %w", err)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return d.errClosed()
	}
	return nil
}
