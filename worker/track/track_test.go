package track

import (
	"context"
	"sync"
	"testing"
	"time"
)

func TestCheckpointOrder(t *testing.T) {
	type step struct {
		do   func(bs []*Batch[int])
		want int
		open int
	}
	tests := []struct {
		name    string
		batches int
		steps   []step
	}{
		{
			name: "empty batch advances when sealed", batches: 1,
			steps: []step{{do: func(bs []*Batch[int]) { bs[0].Seal(1) }, want: 1, open: 0}},
		},
		{
			name: "later batch acked first waits for earlier", batches: 2,
			steps: []step{
				{do: func(bs []*Batch[int]) { bs[0].Add(); bs[1].Add(); bs[0].Seal(1); bs[1].Seal(2) }, want: 0, open: 2},
				{do: func(bs []*Batch[int]) { bs[1].Ack() }, want: 0, open: 2},
				{do: func(bs []*Batch[int]) { bs[0].Ack() }, want: 2, open: 0},
			},
		},
		{
			name: "unsealed batch holds the checkpoint even when acked", batches: 2,
			steps: []step{
				{do: func(bs []*Batch[int]) { bs[0].Add(); bs[0].Ack() }, want: 0, open: 2},
				{do: func(bs []*Batch[int]) { bs[1].Seal(2) }, want: 0, open: 2},
				{do: func(bs []*Batch[int]) { bs[0].Seal(1) }, want: 2, open: 0},
			},
		},
		{
			name: "partial acks of a batch", batches: 1,
			steps: []step{
				{do: func(bs []*Batch[int]) { bs[0].Add(); bs[0].Add(); bs[0].Seal(7) }, want: 0, open: 1},
				{do: func(bs []*Batch[int]) { bs[0].Ack() }, want: 0, open: 1},
				{do: func(bs []*Batch[int]) { bs[0].Ack() }, want: 7, open: 0},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := New(0)
			bs := make([]*Batch[int], tt.batches)
			for i := range bs {
				bs[i] = tr.Open()
			}
			for i, s := range tt.steps {
				s.do(bs)
				got, open := tr.Checkpoint()
				if got != s.want || open != s.open {
					t.Fatalf("step %d: checkpoint %d with %d open, want %d with %d", i, got, open, s.want, s.open)
				}
			}
		})
	}
}

// TestConcurrentAcks acks many batches' messages in random order from several goroutines and
// checks the checkpoint never passes an unacknowledged batch and ends at the last one.
func TestConcurrentAcks(t *testing.T) {
	tr := New(-1)
	const batches, per = 2000, 5
	bs := make([]*Batch[int], batches)
	acks := make(chan *Batch[int], batches*per)
	for i := range bs {
		bs[i] = tr.Open()
		for range per {
			bs[i].Add()
			acks <- bs[i]
		}
		bs[i].Seal(i)
	}
	close(acks)
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for b := range acks {
				b.Ack()
				pos, _ := tr.Checkpoint()
				for j := 0; j <= pos; j++ {
					if bs[j].pending.Load() != 0 {
						t.Errorf("checkpoint %d passed batch %d with unacked messages", pos, j)
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := tr.Drain(ctx); err != nil {
		t.Fatal(err)
	}
	if pos, open := tr.Checkpoint(); pos != batches-1 || open != 0 {
		t.Fatalf("final checkpoint %d with %d open", pos, open)
	}
}

func TestPass(t *testing.T) {
	tr := New(0)
	tr.Pass(1)
	if pos, open := tr.Checkpoint(); pos != 1 || open != 0 {
		t.Fatalf("pass with nothing in flight: %d, %d open", pos, open)
	}
	b := tr.Open()
	b.Add()
	b.Seal(2)
	tr.Pass(3)
	if pos, open := tr.Checkpoint(); pos != 1 || open != 2 {
		t.Fatalf("pass behind an unacked batch moved the checkpoint: %d, %d open", pos, open)
	}
	b.Ack()
	if pos, open := tr.Checkpoint(); pos != 3 || open != 0 {
		t.Fatalf("after ack: %d, %d open", pos, open)
	}
}

func TestDrainLeavesOpenBatch(t *testing.T) {
	tr := New(0)
	sealed := tr.Open()
	sealed.Add()
	sealed.Seal(1)
	open := tr.Open()
	open.Add()
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := tr.Drain(ctx); err == nil {
		t.Fatal("drain returned with a sealed batch unacknowledged")
	}
	sealed.Ack()
	if err := tr.Drain(context.Background()); err != nil {
		t.Fatal(err)
	}
	if pos, n := tr.Checkpoint(); pos != 1 || n != 1 {
		t.Fatalf("checkpoint %d with %d open, want 1 with the open batch left", pos, n)
	}
}
