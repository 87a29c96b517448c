package bolt

import (
	"context"
	"encoding/json"
	"fmt"

	"go.etcd.io/bbolt"

	"github.com/dtsrepl/dts/api"
	"github.com/dtsrepl/dts/store"
)

// bucketVerify holds each task's last consistency check: id -> verifyRecord JSON. It is created
// on first use, so files written before it existed open unchanged. A deleted task's check is
// left behind (ids are never reused, and every read checks the task exists).
var bucketVerify = []byte("verify")

// verifyRecord is a check with the revision it is compare-and-set at.
type verifyRecord struct {
	Rev    uint64      `json:"rev"`
	Verify *api.Verify `json:"verify"`
}

// Verify returns task id's last consistency check and its revision; nil and 0 when it has
// none, store.ErrNotFound when the task does not exist.
func (d *DB) Verify(ctx context.Context, id int64) (*api.Verify, uint64, error) {
	if err := ctx.Err(); err != nil {
		return nil, 0, fmt.Errorf("verify of task %d: %w", id, err)
	}
	var rec verifyRecord
	err := d.view(func(tx *bbolt.Tx) error {
		if tx.Bucket(bucketTasks).Get(key(id)) == nil {
			return store.ErrNotFound
		}
		b := tx.Bucket(bucketVerify)
		if b == nil {
			return nil
		}
		if v := b.Get(key(id)); v != nil {
			return json.Unmarshal(v, &rec)
		}
		return nil
	})
	if err != nil {
		return nil, 0, fmt.Errorf("verify of task %d: %w", id, err)
	}
	return rec.Verify, rec.Rev, nil
}

// SaveVerify writes task id's consistency check if its stored revision is still rev (0: none
// stored) and returns the new revision; store.ErrConflict when the revision moved,
// store.ErrNotFound when the task does not exist.
func (d *DB) SaveVerify(ctx context.Context, id int64, v *api.Verify, rev uint64) (uint64, error) {
	if err := ctx.Err(); err != nil {
		return 0, fmt.Errorf("save verify of task %d: %w", id, err)
	}
	next := rev + 1
	err := d.update(func(tx *bbolt.Tx) error {
		if tx.Bucket(bucketTasks).Get(key(id)) == nil {
			return store.ErrNotFound
		}
		b, err := tx.CreateBucketIfNotExists(bucketVerify)
		if err != nil {
			return err
		}
		var cur verifyRecord
		if old := b.Get(key(id)); old != nil {
			if err := json.Unmarshal(old, &cur); err != nil {
				return fmt.Errorf("decode verify/%d: %w", id, err)
			}
		}
		if cur.Rev != rev {
			return fmt.Errorf("stored revision is %d, not %d: %w", cur.Rev, rev, store.ErrConflict)
		}
		val, err := json.Marshal(verifyRecord{Rev: next, Verify: v})
		if err != nil {
			return fmt.Errorf("encode: %w", err)
		}
		return b.Put(key(id), val)
	})
	if err != nil {
		return 0, fmt.Errorf("save verify of task %d: %w", id, err)
	}
	return next, nil
}
