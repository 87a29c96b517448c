package produce

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestBudget(t *testing.T) {
	ctx := context.Background()
	b := budget{max: 100}
	for _, n := range []int64{60, 40} {
		if err := b.acquire(ctx, n, nil); err != nil {
			t.Fatalf("acquire %d: %v", n, err)
		}
	}
	// Full: the next sender waits until bytes come back.
	got := make(chan error, 1)
	go func() { got <- b.acquire(ctx, 30, nil) }()
	select {
	case err := <-got:
		t.Fatalf("acquired past the budget: %v", err)
	case <-time.After(50 * time.Millisecond):
	}
	b.release(40)
	if err := <-got; err != nil {
		t.Fatalf("acquire after release: %v", err)
	}
	if u := b.used.Load(); u != 90 {
		t.Fatalf("used %d, want 90", u)
	}

	// A wait ends with the context, or when the producer stops, taking nothing.
	cctx, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	if err := b.acquire(cctx, 50, nil); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("acquire with an ended context: %v", err)
	}
	stop := make(chan struct{})
	close(stop)
	if err := b.acquire(ctx, 50, stop); !errors.Is(err, errStopped) {
		t.Fatalf("acquire on a stopped producer: %v", err)
	}
	if u := b.used.Load(); u != 90 {
		t.Fatalf("used %d after failed acquires, want 90", u)
	}

	// A message larger than the whole budget goes alone.
	b.release(90)
	if err := b.acquire(ctx, 500, nil); err != nil {
		t.Fatalf("a lone large message: %v", err)
	}
	b.release(500)
}
