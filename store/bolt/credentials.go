package bolt

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"

	"go.etcd.io/bbolt"

	"github.com/dtsrepl/dts/api"
	"github.com/dtsrepl/dts/store"
)

// PutCredentials keeps the source account the local launcher starts task id's worker with. It is
// kept apart from the task, whose spec never holds the password, and deleted with it; the task
// must exist (store.ErrNotFound otherwise), so that no credentials outlive their task.
func (d *DB) PutCredentials(ctx context.Context, id int64, c api.Credentials) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("put credentials of task %d: %w", id, err)
	}
	b, err := json.Marshal(c)
	if err != nil {
		return fmt.Errorf("put credentials of task %d: encode: %w", id, err)
	}
	// Held so that a concurrent Delete cannot slip between the existence check and the write.
	d.mu.Lock()
	defer d.mu.Unlock()
	err = d.update(func(tx *bbolt.Tx) error {
		if tx.Bucket(bucketTasks).Get(key(id)) == nil {
			return store.ErrNotFound
		}
		return tx.Bucket(bucketCredentials).Put(key(id), b)
	})
	if err != nil {
		return fmt.Errorf("put credentials of task %d: %w", id, err)
	}
	return nil
}

// Credentials returns task id's source account; nil, nil if none was put (the launchers' Secrets
// contract: a task without an account is a state to report, not an error).
func (d *DB) Credentials(ctx context.Context, id int64) (*api.Credentials, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("credentials of task %d: %w", id, err)
	}
	var c *api.Credentials
	err := d.view(func(tx *bbolt.Tx) error {
		v := tx.Bucket(bucketCredentials).Get(key(id))
		if v == nil {
			return nil
		}
		c = new(api.Credentials)
		if err := json.Unmarshal(v, c); err != nil {
			return fmt.Errorf("decode credentials/%d: %w", id, err)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("credentials of task %d: %w", id, err)
	}
	return c, nil
}

// CredentialIDs lists the tasks that have a stored source account, for the launcher's inventory.
func (d *DB) CredentialIDs(ctx context.Context) ([]int64, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("list credentials: %w", err)
	}
	var ids []int64
	err := d.view(func(tx *bbolt.Tx) error {
		return tx.Bucket(bucketCredentials).ForEach(func(k, _ []byte) error {
			if len(k) == 8 {
				ids = append(ids, int64(binary.BigEndian.Uint64(k)))
			}
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("list credentials: %w", err)
	}
	return ids, nil
}

// DeleteCredentials forgets task id's source account. Deleting credentials that are not there
// does nothing, so that the launcher's Remove stays idempotent.
func (d *DB) DeleteCredentials(ctx context.Context, id int64) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("delete credentials of task %d: %w", id, err)
	}
	err := d.update(func(tx *bbolt.Tx) error {
		return tx.Bucket(bucketCredentials).Delete(key(id))
	})
	if err != nil {
		return fmt.Errorf("delete credentials of task %d: %w", id, err)
	}
	return nil
}
