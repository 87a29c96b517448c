package consul

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	consulapi "github.com/hashicorp/consul/api"

	"github.com/dtsrepl/dts/api"
	"github.com/dtsrepl/dts/internal/backoff"
	"github.com/dtsrepl/dts/store"
)

// Defaults of RecordOptions.
const (
	DefaultSessionTTL = 10 * time.Second
	DefaultLockDelay  = time.Second
)

// RecordOptions configure a worker's TaskRecord.
type RecordOptions struct {
	// Name identifies the worker (host, pid, Nomad allocation id). It is shown in the session name
	// and in the lock key's value, so that an operator can tell which process holds a task.
	Name string
	// SessionTTL is how long the lock survives without renewal once the worker stops renewing it
	// (Consul waits up to twice as long before it invalidates the session). Consul accepts 10s to
	// 24h; default DefaultSessionTTL.
	SessionTTL time.Duration
	// LockDelay is how long Consul keeps the lock from being taken again after the session was
	// invalidated, so that a worker that lost it has time to notice and stop producing before
	// the next one starts; default DefaultLockDelay.
	LockDelay time.Duration
	// Logger receives lock events; default slog.Default().
	Logger *slog.Logger
}

// TaskRecord links a worker to its task in Consul: it holds the task's lock with a Consul session
// and writes the status only while the lock is held. It implements the worker's TaskRecord.
type TaskRecord struct {
	s    *Store
	id   int64
	opts RecordOptions
	log  *slog.Logger

	// locking serialises Lock calls; it is a channel so that waiting for it honours ctx.
	locking chan struct{}

	mu   sync.Mutex
	held *holding // nil while the lock is not held
}

// lockValue is the lock key's value, for operators reading the KV store.
type lockValue struct {
	Name string    `json:"name"`
	Time time.Time `json:"time"`
}

func (o *RecordOptions) applyDefaults() {
	if o.SessionTTL <= 0 {
		o.SessionTTL = DefaultSessionTTL
	}
	if o.LockDelay <= 0 {
		o.LockDelay = DefaultLockDelay
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
}

// Validate reports what Consul would refuse once defaults are applied: a session TTL outside
// 10s to 24h, a lock delay over 60s.
func (o RecordOptions) Validate() error {
	o.applyDefaults()
	var errs []error
	if o.SessionTTL < 10*time.Second || o.SessionTTL > 24*time.Hour {
		errs = append(errs, fmt.Errorf("session TTL %s is not between 10s and 24h", o.SessionTTL))
	}
	if o.LockDelay > time.Minute {
		errs = append(errs, fmt.Errorf("lock delay %s is over 60s", o.LockDelay))
	}
	return errors.Join(errs...)
}

// TaskRecord returns the TaskRecord of task id for a worker, with opts' defaults applied (check
// them first with Validate). Nothing happens in Consul until Lock.
func (s *Store) TaskRecord(id int64, opts RecordOptions) *TaskRecord {
	opts.applyDefaults()
	return &TaskRecord{
		s:       s,
		id:      id,
		opts:    opts,
		log:     opts.Logger.With("task", id, "worker", opts.Name),
		locking: make(chan struct{}, 1),
	}
}

func (c *TaskRecord) current() *holding {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.held
}

// Lock blocks until this worker holds the task's lock, or ctx ends. While another worker holds
// it, Lock waits with a blocking query on the lock key rather than polling; Consul being
// unreachable is retried with backoff until ctx ends. A task that does not exist (or was
// deleted meanwhile) gives store.ErrNotFound, so that a deleted task is never run.
//
// The returned channel is closed when the lock is lost: the session was invalidated, could not be
// renewed within its TTL, or the lock key was taken over or deleted; and also by Unlock.
// Calling Lock while the lock is held returns the same channel.
func (c *TaskRecord) Lock(ctx context.Context) (<-chan struct{}, error) {
	select {
	case c.locking <- struct{}{}:
	case <-ctx.Done():
		return nil, fmt.Errorf("lock task %d: %w", c.id, ctx.Err())
	}
	defer func() { <-c.locking }()

	if h := c.current(); h != nil {
		if !h.isLost() {
			return h.lost, nil
		}
		// A lost lock is cleaned up (session destroyed, goroutines stopped) before a new one.
		if err := c.Unlock(ctx); err != nil {
			c.log.Warn("clean up the lost task lock", "err", err)
		}
	}
	h, err := c.acquire(ctx)
	if err != nil {
		return nil, fmt.Errorf("lock task %d: %w", c.id, err)
	}
	c.mu.Lock()
	c.held = h
	c.mu.Unlock()
	c.log.Info("task lock acquired", "session", h.session)
	return h.lost, nil
}

// acquire creates a session and takes the lock with it. On failure the session is destroyed and
// its goroutines stopped.
func (c *TaskRecord) acquire(ctx context.Context) (_ *holding, err error) {
	var h *holding
	defer func() {
		if err != nil && h != nil {
			if rerr := c.release(ctx, h); rerr != nil {
				c.log.Warn("clean up after a failed lock", "err", rerr)
			}
		}
	}()
	bo := backoff.New(100*time.Millisecond, 5*time.Second)
	var lastErr error
	// retry waits before the next attempt after a transient failure. When ctx ends, waiting was
	// the normal state of Lock, so the error is ctx's, with the last failure if there was one.
	retry := func(cause error) error {
		if ctx.Err() == nil {
			if cause != nil {
				lastErr = cause
				c.log.Warn("take task lock, will retry", "err", cause)
			}
			if bo.Wait(ctx) == nil {
				return nil
			}
		}
		if lastErr != nil {
			return fmt.Errorf("%w (last error: %w)", ctx.Err(), lastErr)
		}
		return ctx.Err()
	}
	for {
		if h != nil && h.isLost() {
			if err := c.release(ctx, h); err != nil {
				c.log.Warn("clean up a lost lock session", "err", err)
			}
			h = nil
		}
		if h == nil {
			h, err = c.newHolding(ctx)
			if err != nil {
				h = nil
				if ctx.Err() == nil && !errors.Is(err, store.ErrUnavailable) {
					return nil, err
				}
				if err := retry(err); err != nil {
					return nil, err
				}
				continue
			}
		}

		got, index, err := c.tryLock(ctx, h)
		switch {
		case err != nil && (ctx.Err() != nil || errors.Is(err, store.ErrUnavailable)):
			if err := retry(err); err != nil {
				return nil, err
			}
			continue
		case err != nil:
			return nil, err
		case got:
			h.startWatch(index)
			return h, nil
		}

		// Not taken: see who holds the key, and wait for it to change.
		pair, meta, err := c.s.client.KV().Get(c.s.keys.Lock(c.id), query(ctx))
		if err != nil {
			err = classify(ctx, err)
			if ctx.Err() == nil && !errors.Is(err, store.ErrUnavailable) {
				return nil, err
			}
			if err := retry(err); err != nil {
				return nil, err
			}
			continue
		}
		switch {
		case pair != nil && pair.Session == h.session:
			// An earlier attempt went through although its answer was lost.
			h.startWatch(pair.ModifyIndex)
			return h, nil
		case pair != nil && pair.Session != "":
			var holder lockValue
			_ = json.Unmarshal(pair.Value, &holder) // only for the log line
			c.log.Info("task lock held by another worker, waiting", "holder", holder.Name, "holder_session", pair.Session)
			if err := c.waitRelease(ctx, pair.Session, meta.LastIndex); err != nil {
				if ctx.Err() != nil || errors.Is(err, store.ErrUnavailable) {
					if err := retry(err); err != nil {
						return nil, err
					}
					continue
				}
				return nil, err
			}
			bo.Reset()
		default:
			// The key is free but could not be taken: the previous holder's session was
			// invalidated and Consul's lock-delay is running.
			if err := retry(nil); err != nil {
				return nil, err
			}
		}
	}
}

// tryLock takes the lock key with h's session if the task's spec exists, in one transaction so
// that a task deleted meanwhile cannot be locked.
func (c *TaskRecord) tryLock(ctx context.Context, h *holding) (bool, uint64, error) {
	val, err := json.Marshal(lockValue{Name: c.opts.Name, Time: time.Now().UTC()})
	if err != nil {
		return false, 0, fmt.Errorf("encode lock value: %w", err)
	}
	ops := consulapi.TxnOps{
		{KV: &consulapi.KVTxnOp{Verb: consulapi.KVGet, Key: c.s.keys.Spec(c.id)}},
		{KV: &consulapi.KVTxnOp{Verb: consulapi.KVLock, Key: c.s.keys.Lock(c.id), Value: val, Session: h.session}},
	}
	ok, resp, _, err := c.s.client.Txn().Txn(ops, query(ctx))
	if err != nil {
		return false, 0, classify(ctx, err)
	}
	if ok {
		var index uint64
		if len(resp.Results) > 1 && resp.Results[1].KV != nil {
			index = resp.Results[1].KV.ModifyIndex
		}
		return true, index, nil
	}
	if failedOp(resp, 0) {
		return false, 0, store.ErrNotFound
	}
	for _, e := range resp.Errors {
		if strings.Contains(e.What, "invalid session") {
			// Our session is gone (expired while we waited); a new one is made.
			h.markLost("session invalidated before the lock was taken")
		}
	}
	return false, 0, nil
}

// waitRelease blocks until the lock key is no longer held by session holder.
func (c *TaskRecord) waitRelease(ctx context.Context, holder string, index uint64) error {
	for {
		q := query(ctx)
		q.WaitIndex = index
		pair, meta, err := c.s.client.KV().Get(c.s.keys.Lock(c.id), q)
		if err != nil {
			return classify(ctx, err)
		}
		if pair == nil || pair.Session != holder {
			return nil
		}
		index = nextIndex(index, meta.LastIndex)
	}
}

// Unlock releases the lock, destroys the session and stops the goroutines that kept it; the lost
// channel is closed. Unlocking when the lock is not held does nothing. The goroutines are
// stopped even if Consul cannot be reached; the session then expires after its TTL.
func (c *TaskRecord) Unlock(ctx context.Context) error {
	c.mu.Lock()
	h := c.held
	c.held = nil
	c.mu.Unlock()
	if h == nil {
		return nil
	}
	if err := c.release(ctx, h); err != nil {
		return fmt.Errorf("unlock task %d: %w", c.id, err)
	}
	c.log.Info("task lock released", "session", h.session)
	return nil
}

// release stops h's goroutines, unlocks the key and destroys the session.
func (c *TaskRecord) release(ctx context.Context, h *holding) error {
	h.stop()
	// A failed Lock may arrive here with ctx already done; cleaning up still deserves a moment.
	if ctx.Err() != nil {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
	}
	// Unlocking the key explicitly frees it at once, whereas the keys of a destroyed session stay
	// blocked for the lock-delay. A rolled-back unlock means the key was not ours any more.
	ops := consulapi.TxnOps{
		{KV: &consulapi.KVTxnOp{Verb: consulapi.KVUnlock, Key: c.s.keys.Lock(c.id), Session: h.session}},
	}
	var errs []error
	if _, _, _, err := c.s.client.Txn().Txn(ops, query(ctx)); err != nil {
		errs = append(errs, fmt.Errorf("release lock key: %w", classify(ctx, err)))
	}
	if _, err := c.s.client.Session().Destroy(h.session, write(ctx)); err != nil {
		errs = append(errs, fmt.Errorf("destroy session %s: %w", h.session, classify(ctx, err)))
	}
	return errors.Join(errs...)
}

// SaveStatus writes st only if this worker's session still holds the lock key: the check and the
// write are one Consul transaction, so a worker that lost its lock can never move the
// checkpoint. A failed check gives store.ErrLockLost and closes the lost channel; Consul being
// unreachable gives store.ErrUnavailable and the worker may retry.
func (c *TaskRecord) SaveStatus(ctx context.Context, st *api.Status) error {
	if st == nil {
		return fmt.Errorf("save status of task %d: nil status", c.id)
	}
	h := c.current()
	if h == nil || h.isLost() {
		return fmt.Errorf("save status of task %d: %w", c.id, store.ErrLockLost)
	}
	b, err := json.Marshal(st)
	if err != nil {
		return fmt.Errorf("save status of task %d: encode: %w", c.id, err)
	}
	ops := consulapi.TxnOps{
		{KV: &consulapi.KVTxnOp{Verb: consulapi.KVCheckSession, Key: c.s.keys.Lock(c.id), Session: h.session}},
		{KV: &consulapi.KVTxnOp{Verb: consulapi.KVSet, Key: c.s.keys.Status(c.id), Value: b}},
	}
	ok, resp, _, err := c.s.client.Txn().Txn(ops, query(ctx))
	if err != nil {
		return fmt.Errorf("save status of task %d: %w", c.id, classify(ctx, err))
	}
	if ok {
		return nil
	}
	if failedOp(resp, 0) {
		h.markLost("status write refused: the lock key is not held by this session")
		return fmt.Errorf("save status of task %d: %w", c.id, store.ErrLockLost)
	}
	return fmt.Errorf("save status of task %d: %w", c.id, txnError(resp))
}

// Task returns the task's current record; store.ErrNotFound if it was deleted.
func (c *TaskRecord) Task(ctx context.Context) (*api.Task, error) {
	return c.s.Get(ctx, c.id)
}

// Status returns the last saved status, or nil if none was saved.
func (c *TaskRecord) Status(ctx context.Context) (*api.Status, error) {
	return c.s.Status(ctx, c.id)
}

// WatchTask blocks until the task's version differs from version, or ctx ends, and returns the
// new record; store.ErrNotFound if the task is deleted. It waits with blocking queries on the
// spec key, and rides out Consul outages by retrying with backoff.
func (c *TaskRecord) WatchTask(ctx context.Context, version int64) (*api.Task, error) {
	bo := backoff.New(100*time.Millisecond, 5*time.Second)
	var index uint64
	for {
		q := query(ctx)
		q.WaitIndex = index
		pair, meta, err := c.s.client.KV().Get(c.s.keys.Spec(c.id), q)
		if err != nil {
			if ctx.Err() != nil {
				// Waiting is WatchTask's normal state: its end is not an outage.
				return nil, fmt.Errorf("watch task %d: %w", c.id, ctx.Err())
			}
			err = classify(ctx, err)
			if !errors.Is(err, store.ErrUnavailable) {
				return nil, fmt.Errorf("watch task %d: %w", c.id, err)
			}
			c.log.Warn("watch task, will retry", "err", err)
			if werr := bo.Wait(ctx); werr != nil {
				return nil, fmt.Errorf("watch task %d: %w (last error: %w)", c.id, werr, err)
			}
			continue
		}
		bo.Reset()
		if pair == nil {
			return nil, fmt.Errorf("watch task %d: %w", c.id, store.ErrNotFound)
		}
		var t api.Task
		if err := decode(pair, &t); err != nil {
			return nil, fmt.Errorf("watch task %d: %w", c.id, err)
		}
		if t.Version != version {
			return &t, nil
		}
		index = nextIndex(index, meta.LastIndex)
	}
}
