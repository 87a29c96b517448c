// Package bolt is the embedded task store of `dts dev`: one bbolt file holds the tasks, their
// statuses and the source credentials of the local launcher. The dispatcher and the workers run
// in the one process that owns the file, so task locks are kept in memory.
package bolt

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"

	"github.com/dtsrepl/dts/store"
)

// Buckets and keys of the file. Task ids are 8-byte big-endian keys, so that iteration is in id
// order.
var (
	bucketTasks       = []byte("tasks")       // id -> api.Task JSON
	bucketStatus      = []byte("status")      // id -> api.Status JSON
	bucketCredentials = []byte("credentials") // id -> api.Credentials JSON
	bucketMeta        = []byte("meta")        // next-id -> last allocated id
	bucketIdempotency = []byte("idempotency") // api.IdempotencyKeyHash -> task id
	keyNextID         = []byte("next-id")
)

// openTimeout bounds the wait for the file lock: another process holding it will not let go.
const openTimeout = time.Second

// DB is the embedded task store. It implements the dispatcher's Store and, through TaskRecord, the
// worker's TaskRecord. It is safe for concurrent use.
type DB struct {
	db   *bbolt.DB
	path string

	// mu guards the fields below, and is held across the writes that must be atomic with the
	// in-memory locks (a status write by the lock holder, a delete revoking it).
	mu      sync.Mutex
	closed  bool
	done    chan struct{} // closed by Close, to wake waiting Lock and WatchTask calls
	token   uint64        // last lock token handed out
	locks   map[int64]*lease
	watches map[int64]chan struct{} // per task, closed and replaced on every change
}

// lease is one holding of a task's lock.
type lease struct {
	token uint64
	// ended is closed when the lease ends (unlocked, or revoked by Delete or Close): it is the
	// holder's lost channel and what waiting Lock calls wait for.
	ended chan struct{}
}

// Open opens or creates the store at path; the parent directory is created if needed. Only one
// process may have the file open: a second Open fails after a second.
func Open(path string) (*DB, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("open task store: %w", err)
	}
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{Timeout: openTimeout})
	if errors.Is(err, berrors.ErrTimeout) {
		return nil, fmt.Errorf("open task store: %s is in use by another dts dev (bbolt lock): %w", path, err)
	}
	if err != nil {
		return nil, fmt.Errorf("open task store %s: %w", path, err)
	}
	err = db.Update(func(tx *bbolt.Tx) error {
		for _, b := range [][]byte{bucketTasks, bucketStatus, bucketCredentials, bucketMeta, bucketIdempotency} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return fmt.Errorf("create bucket %s: %w", b, err)
			}
		}
		return nil
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("open task store %s: %w", path, err)
	}
	return &DB{
		db:      db,
		path:    path,
		done:    make(chan struct{}),
		locks:   map[int64]*lease{},
		watches: map[int64]chan struct{}{},
	}, nil
}

// Close revokes every task lock (their holders see lost closed and can no longer save a status),
// wakes every waiting Lock and WatchTask, and closes the file. Closing twice does nothing.
func (d *DB) Close() error {
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return nil
	}
	d.closed = true
	for id := range d.locks {
		d.revoke(id)
	}
	close(d.done)
	d.mu.Unlock()
	if err := d.db.Close(); err != nil {
		return fmt.Errorf("close task store %s: %w", d.path, err)
	}
	return nil
}

// errClosed is what operations on a closed store return.
func (d *DB) errClosed() error {
	return fmt.Errorf("task store %s is closed: %w", d.path, store.ErrUnavailable)
}

// view and update run a bbolt transaction; a closed file is reported as store.ErrUnavailable.
func (d *DB) view(fn func(tx *bbolt.Tx) error) error {
	return d.closedErr(d.db.View(fn))
}

func (d *DB) update(fn func(tx *bbolt.Tx) error) error {
	return d.closedErr(d.db.Update(fn))
}

func (d *DB) closedErr(err error) error {
	if errors.Is(err, berrors.ErrDatabaseNotOpen) {
		return d.errClosed()
	}
	return err
}

// revoke ends task id's lease, if any. d.mu must be held.
func (d *DB) revoke(id int64) {
	if l := d.locks[id]; l != nil {
		delete(d.locks, id)
		close(l.ended)
	}
}

// watch returns the channel closed at task id's next change. d.mu must be held.
func (d *DB) watch(id int64) chan struct{} {
	ch := d.watches[id]
	if ch == nil {
		ch = make(chan struct{})
		d.watches[id] = ch
	}
	return ch
}

// broadcast wakes the watchers of task id; the next watcher gets a fresh channel. d.mu must be
// held.
func (d *DB) broadcast(id int64) {
	if ch := d.watches[id]; ch != nil {
		close(ch)
		delete(d.watches, id)
	}
}

// key is the bucket key of a task id.
func key(id int64) []byte {
	return binary.BigEndian.AppendUint64(nil, uint64(id))
}
