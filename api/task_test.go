package api

import (
	"testing"
	"time"
)

// TestRetentionHeadroom tells the headroom from a status: the retention less the age of the
// checkpoint, or of the copy's start while the copy runs; the reported value without the
// retention.
func TestRetentionHeadroom(t *testing.T) {
	now := time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)
	f := func(v float64) *float64 { return &v }
	copying := &SnapshotProgress{Started: now.Add(-2 * time.Hour)}
	copied := &SnapshotProgress{Started: now.Add(-2 * time.Hour), Done: true}
	tests := []struct {
		name string
		st   Status
		want *float64
	}{
		{"nothing known", Status{}, nil},
		{"reported only (an older worker)", Status{RetentionHeadroomSeconds: f(100)}, f(100)},
		{"from the checkpoint's age", Status{BinlogRetentionSeconds: f(3600), TransactionTime: now.Add(-10 * time.Minute), RetentionHeadroomSeconds: f(3599)}, f(3000)},
		{"fraction dropped", Status{BinlogRetentionSeconds: f(3600), TransactionTime: now.Add(-1500 * time.Millisecond)}, f(3598)},
		{"gone", Status{BinlogRetentionSeconds: f(3600), TransactionTime: now.Add(-2 * time.Hour)}, f(-3600)},
		{"copy running: its start", Status{BinlogRetentionSeconds: f(86400), TransactionTime: now.Add(-time.Minute), Snapshot: copying}, f(86400 - 7200)},
		{"copy done: the checkpoint", Status{BinlogRetentionSeconds: f(86400), TransactionTime: now.Add(-time.Minute), Snapshot: copied}, f(86400 - 60)},
		{"no checkpoint time yet", Status{BinlogRetentionSeconds: f(3600)}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := tc.st.RetentionHeadroom(now)
			if (got == nil) != (tc.want == nil) || got != nil && *got != *tc.want {
				t.Errorf("headroom %v, want %v", deref(got), deref(tc.want))
			}
		})
	}
}

func deref(p *float64) any {
	if p == nil {
		return nil
	}
	return *p
}
