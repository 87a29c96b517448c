// Package track follows Kafka acknowledgements back to source positions. Each transaction (or
// snapshot chunk) is a Batch; the checkpoint advances to a batch's position only when it and
// every batch before it are wholly acknowledged, however the acks arrive across partitions.
package track

import (
	"context"
	"sync"
	"sync/atomic"
)

// Tracker orders batches. Open and Seal are called by one goroutine (the reader); Add is called
// before each message is sent and Ack when Kafka acknowledges it, from any goroutine.
type Tracker[P any] struct {
	mu      sync.Mutex
	queue   []*Batch[P] // open and unfinished batches, oldest first
	head    int
	pos     P
	hasPos  bool
	changed chan struct{} // closed and replaced whenever the checkpoint advances
}

// Batch is one transaction's (or chunk's) messages.
type Batch[P any] struct {
	t *Tracker[P]
	// pending counts unacknowledged messages plus one until the batch is sealed, so it can only
	// reach zero once the batch is sealed and every message is acknowledged.
	pending atomic.Int64
	sealed  atomic.Bool
	pos     P
}

// New returns a Tracker whose checkpoint starts at start.
func New[P any](start P) *Tracker[P] {
	return &Tracker[P]{pos: start, hasPos: true, changed: make(chan struct{})}
}

// Open starts a batch after every batch opened before.
func (t *Tracker[P]) Open() *Batch[P] {
	b := &Batch[P]{t: t}
	b.pending.Store(1)
	t.mu.Lock()
	t.queue = append(t.queue, b)
	t.mu.Unlock()
	return b
}

// Add counts one more message of the batch in flight; call it before sending the message.
func (b *Batch[P]) Add() { b.pending.Add(1) }

// Ack counts one message of the batch acknowledged.
func (b *Batch[P]) Ack() {
	if b.pending.Add(-1) == 0 {
		b.t.advance()
	}
}

// Seal closes the batch: no more messages will be added, and pos is the checkpoint once it and
// every earlier batch are acknowledged.
func (b *Batch[P]) Seal(pos P) {
	b.pos = pos
	b.sealed.Store(true)
	if b.pending.Add(-1) == 0 {
		b.t.advance()
	}
}

// Pass records a position reached without any message (a transaction with nothing in scope).
// It moves the checkpoint at once when nothing is in flight, else queues behind what is.
func (t *Tracker[P]) Pass(pos P) {
	t.mu.Lock()
	if t.head == len(t.queue) {
		t.pos = pos
		t.mu.Unlock()
		return
	}
	t.mu.Unlock()
	t.Open().Seal(pos)
}

// advance pops finished batches off the head of the queue.
func (t *Tracker[P]) advance() {
	t.mu.Lock()
	defer t.mu.Unlock()
	moved := false
	for t.head < len(t.queue) && t.queue[t.head].pending.Load() == 0 {
		t.pos = t.queue[t.head].pos
		t.queue[t.head] = nil
		t.head++
		moved = true
	}
	if t.head == len(t.queue) {
		t.queue, t.head = t.queue[:0], 0
	} else if t.head > 1024 && t.head*2 > len(t.queue) {
		n := copy(t.queue, t.queue[t.head:])
		clear(t.queue[n:])
		t.queue, t.head = t.queue[:n], 0
	}
	if moved {
		close(t.changed)
		t.changed = make(chan struct{})
	}
}

// Checkpoint returns the position after the last batch that, with every earlier one, is wholly
// acknowledged, and how many batches are still open or unacknowledged.
func (t *Tracker[P]) Checkpoint() (P, int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.pos, len(t.queue) - t.head
}

// Drain waits until every sealed batch is acknowledged, or ctx ends. A batch still open (a
// transaction cut short by a stop) is left behind: its position is never reached.
func (t *Tracker[P]) Drain(ctx context.Context) error {
	for {
		t.mu.Lock()
		done := true
		for _, b := range t.queue[t.head:] {
			if b.sealed.Load() {
				done = false
				break
			}
		}
		ch := t.changed
		t.mu.Unlock()
		if done {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}
