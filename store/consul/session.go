package consul

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	consulapi "github.com/hashicorp/consul/api"

	"github.com/dtsrepl/dts/internal/backoff"
)

// holding is one Consul session of a TaskRecord with the goroutines that keep it: one renews the
// session, one watches the lock key once it is held. Both stop when ctx is cancelled (by stop, or
// when the lock is lost).
type holding struct {
	client  *consulapi.Client
	lockKey string
	session string
	log     *slog.Logger

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	lost     chan struct{}
	lostOnce sync.Once
}

// newHolding creates a session and starts renewing it. The session has no health checks: its TTL,
// kept alive by this process, is the worker's liveness, whereas a node check would tie the lock
// to the health of whichever agent the worker talks to.
func (c *TaskRecord) newHolding(ctx context.Context) (*holding, error) {
	se := &consulapi.SessionEntry{
		Name:      fmt.Sprintf("dts task %d: %s", c.id, c.opts.Name),
		TTL:       c.opts.SessionTTL.String(),
		LockDelay: c.opts.LockDelay,
		Behavior:  consulapi.SessionBehaviorRelease,
	}
	// The TTL runs from when Consul made the session, some time between sending the request and
	// reading its answer. The renewal clock starts when the answer is read: started before the
	// call, a create slower than half the TTL made the first renewal believe the TTL had passed,
	// and the worker gave up a lock it held. Starting late is safe as long as the answer took less
	// than a TTL to arrive, since Consul invalidates a session only after twice its TTL; the
	// create's deadline makes sure of that.
	cctx, cancel := context.WithTimeout(ctx, c.opts.SessionTTL)
	defer cancel()
	id, _, err := c.s.client.Session().CreateNoChecks(se, write(cctx))
	if err != nil {
		return nil, fmt.Errorf("create session: %w", classify(cctx, err))
	}
	created := time.Now()
	// The goroutines outlive Lock's ctx: they run until Unlock, so their context is the TaskRecord's.
	hctx, cancel := context.WithCancel(context.Background())
	h := &holding{
		client:  c.s.client,
		lockKey: c.s.keys.Lock(c.id),
		session: id,
		log:     c.log.With("session", id),
		ctx:     hctx,
		cancel:  cancel,
		lost:    make(chan struct{}),
	}
	h.wg.Add(1)
	go h.renew(c.opts.SessionTTL, created)
	return h, nil
}

// isLost reports whether the lost channel is closed.
func (h *holding) isLost() bool {
	select {
	case <-h.lost:
		return true
	default:
		return false
	}
}

// markLost closes the lost channel and stops the goroutines: nothing more is to be done with a
// lock that is gone, and the worker must stop producing.
func (h *holding) markLost(reason string, args ...any) {
	h.lostOnce.Do(func() {
		h.log.Warn("task lock lost: "+reason, args...)
		close(h.lost)
		h.cancel()
	})
}

// stop closes the lost channel (the lock is given up) and waits for the goroutines to end.
func (h *holding) stop() {
	h.lostOnce.Do(func() { close(h.lost) })
	h.cancel()
	h.wg.Wait()
}

// renew keeps the session alive. Consul invalidates a session only after twice its TTL, so a
// worker that could not renew for one TTL gives the lock up first: it stops producing before
// anyone else can take over.
//
// last is when the session was last known to be renewed: when the request that renewed it was
// sent, since Consul restarted the TTL no earlier than that.
func (h *holding) renew(ttl time.Duration, last time.Time) {
	defer h.wg.Done()
	sessions := h.client.Session()
	wait := ttl / 2
	for {
		t := time.NewTimer(wait)
		select {
		case <-h.ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		sent := time.Now()
		// A request to a Consul that stopped answering must not outlast the TTL, or the lock
		// would never be given up.
		rctx, cancel := context.WithDeadline(h.ctx, last.Add(ttl))
		entry, _, err := sessions.Renew(h.session, write(rctx))
		cancel()
		if h.ctx.Err() != nil {
			return
		}
		switch {
		case err != nil:
			if time.Since(last) >= ttl {
				h.markLost("session not renewed within its TTL", "ttl", ttl, "err", err)
				return
			}
			h.log.Warn("renew lock session, will retry", "err", err)
			wait = max(ttl/10, 100*time.Millisecond)
		case entry == nil:
			h.markLost("session invalidated")
			return
		default:
			last = sent
			// Consul may have raised the TTL (it enforces a minimum).
			if d, err := time.ParseDuration(entry.TTL); err == nil && d > 0 {
				ttl = d
			}
			wait = ttl / 2
		}
	}
}

// startWatch starts watching the lock key, which was at index when taken.
func (h *holding) startWatch(index uint64) {
	h.wg.Add(1)
	go h.watch(index)
}

// watch follows the lock key with blocking queries and reports the lock lost as soon as the key
// is deleted (the task was deleted) or held by another session, or by none (the session was
// destroyed). This finds a lost lock at once, rather than at the next renewal.
func (h *holding) watch(index uint64) {
	defer h.wg.Done()
	kv := h.client.KV()
	bo := backoff.New(100*time.Millisecond, 5*time.Second)
	for {
		q := query(h.ctx)
		q.WaitIndex = index
		pair, meta, err := kv.Get(h.lockKey, q)
		if h.ctx.Err() != nil {
			return
		}
		if err != nil {
			// The renewal notices an outage that lasts; here it only delays the watch.
			h.log.Debug("watch lock key, will retry", "err", err)
			if bo.Wait(h.ctx) != nil {
				return
			}
			continue
		}
		bo.Reset()
		switch {
		case pair == nil:
			h.markLost("lock key deleted (the task was deleted)")
			return
		case pair.Session != h.session:
			h.markLost("lock key not held by this session any more", "holder_session", pair.Session)
			return
		}
		index = nextIndex(index, meta.LastIndex)
	}
}
