package backoff

import (
	"testing"
	"time"
)

func TestNext(t *testing.T) {
	tests := []struct {
		name    string
		b       Backoff
		want    []time.Duration
		resetAt int
	}{
		{"doubles up to max", Backoff{Min: time.Second, Max: 5 * time.Second}, []time.Duration{1, 2, 4, 5, 5}, -1},
		{"reset starts over", Backoff{Min: time.Second, Max: time.Minute}, []time.Duration{1, 2, 1, 2}, 2},
		{"min equals max", Backoff{Min: 3 * time.Second, Max: 3 * time.Second}, []time.Duration{3, 3}, -1},
	}
	for _, tt := range tests {
		b := tt.b
		for i, w := range tt.want {
			if i == tt.resetAt {
				b.Reset()
			}
			if got := b.Next(); got != w*time.Second {
				t.Errorf("%s: wait %d = %s, want %s", tt.name, i, got, w*time.Second)
			}
		}
	}
}

func TestJitter(t *testing.T) {
	b := New(time.Second, 8*time.Second)
	for i, interval := range []time.Duration{1, 2, 4, 8, 8} {
		d := b.Next()
		if d < interval*time.Second/2 || d > interval*time.Second {
			t.Errorf("wait %d = %s, want within [%s, %s]", i, d, interval*time.Second/2, interval*time.Second)
		}
	}
}
