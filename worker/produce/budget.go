package produce

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
)

// errStopped: the producer failed while a sender waited for room.
var errStopped = errors.New("the producer stopped")

// budget bounds the bytes of the messages in flight. Taking and giving back are one atomic add
// each while there is room; only a sender that must wait takes the lock. One message larger
// than the whole budget goes alone.
type budget struct {
	max  int64
	used atomic.Int64

	mu      sync.Mutex
	wake    chan struct{} // closed when bytes are given back while a sender waits
	waiting atomic.Bool
}

// acquire takes n bytes, waiting while they would exceed the budget, until ctx ends or stop
// is closed.
func (b *budget) acquire(ctx context.Context, n int64, stop <-chan struct{}) error {
	for {
		if u := b.used.Add(n); u <= b.max || u == n {
			return nil
		}
		b.used.Add(-n)
		b.mu.Lock()
		if b.wake == nil {
			b.wake = make(chan struct{})
		}
		wake := b.wake
		b.waiting.Store(true)
		b.mu.Unlock()
		// Bytes given back before waiting was set were not announced: look again.
		if u := b.used.Load(); u+n <= b.max || u == 0 {
			continue
		}
		select {
		case <-wake:
		case <-stop:
			return errStopped
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// release gives back n bytes and wakes a waiting sender.
func (b *budget) release(n int64) {
	b.used.Add(-n)
	if b.waiting.Load() {
		b.mu.Lock()
		if b.wake != nil {
			close(b.wake)
			b.wake = nil
		}
		b.waiting.Store(false)
		b.mu.Unlock()
	}
}
