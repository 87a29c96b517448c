// Package backoff computes the waits between retries, the same way for every retry loop of dts:
// doubling from Min up to Max, jittered so that competing retries (several workers, several
// dispatchers) spread out instead of arriving in lockstep, and back to Min after a success.
package backoff

import (
	"context"
	"math/rand/v2"
	"time"
)

// Backoff is one retry loop's state. The zero value is not usable: set Min and Max. Not safe for
// concurrent use.
type Backoff struct {
	// Min is the first wait, Max the longest.
	Min, Max time.Duration
	// Jitter makes each wait a random duration between half the interval and the interval.
	Jitter bool

	next time.Duration
}

// New returns a jittered Backoff from min to max.
func New(min, max time.Duration) *Backoff { return &Backoff{Min: min, Max: max, Jitter: true} }

// Next returns the next wait and doubles the interval (up to Max).
func (b *Backoff) Next() time.Duration {
	if b.next < b.Min {
		b.next = b.Min
	}
	d := b.next
	b.next = min(b.next*2, b.Max)
	if b.Jitter && d > 1 {
		d = d/2 + rand.N(d/2+1)
	}
	return d
}

// Reset starts the intervals over after a success.
func (b *Backoff) Reset() { b.next = b.Min }

// Wait sleeps for the next wait, or until ctx ends (then it returns ctx's error).
func (b *Backoff) Wait(ctx context.Context) error { return Sleep(ctx, b.Next()) }

// Sleep sleeps for d, or until ctx ends (then it returns ctx's error).
func Sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
