package worker

import (
	"encoding/json"
	"math"
	"sync"
	"time"

	"github.com/dtsrepl/dts/api"
)

// board is the worker's current status, shared by the session, the retry loop and the HTTP
// handlers; every save writes a copy of it.
type board struct {
	mu sync.Mutex
	st api.Status
	// caughtUp is true while the checkpoint is at the source's end: the lag is then 0 rather
	// than the age of the last transaction.
	caughtUp bool
}

// set changes the status under the lock.
func (b *board) set(f func(*api.Status)) {
	b.mu.Lock()
	defer b.mu.Unlock()
	f(&b.st)
}

func (b *board) setCaughtUp(v bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.caughtUp = v
}

// snapshot returns a copy that shares nothing mutable, with the lag as of now.
func (b *board) snapshot() api.Status {
	b.mu.Lock()
	defer b.mu.Unlock()
	st := b.st
	if st.Snapshot != nil {
		s := *st.Snapshot
		s.Tables = append([]api.TableRef(nil), s.Tables...)
		s.LastKey = append(json.RawMessage(nil), s.LastKey...)
		st.Snapshot = &s
	}
	st.LagSeconds = 0
	if !b.caughtUp && !st.TransactionTime.IsZero() {
		st.LagSeconds = math.Round(max(0, time.Since(st.TransactionTime).Seconds())*1000) / 1000
	}
	return st
}

// stamp takes the status to save: a snapshot, with updated_at now (also kept on the board, so
// the worker's /status shows when the status was last saved).
func (b *board) stamp() api.Status {
	now := time.Now()
	b.set(func(st *api.Status) { st.UpdatedAt = now })
	return b.snapshot()
}

// resume takes the checkpoint and counters from the saved status at a session's start.
func (b *board) resume(prev *api.Status, version int64) {
	b.set(func(st *api.Status) {
		st.SpecVersion = version
		if prev == nil {
			return
		}
		st.Pos = prev.Pos
		st.TransactionTime = prev.TransactionTime
		st.RowsSent = prev.RowsSent
		st.Snapshot = prev.Snapshot
	})
	b.setCaughtUp(false)
}

func (b *board) setSpecVersion(v int64) {
	b.set(func(st *api.Status) { st.SpecVersion = v })
}

// publicStatus is what the worker's unauthenticated HTTP port shows of the status: progress and
// health, nothing derived from rows (no copy key, no message, which may quote a row's key).
// The whole status is on the dispatcher's authenticated API.
type publicStatus struct {
	State           api.State       `json:"state"`
	Pos             string          `json:"pos,omitempty"`
	TransactionTime time.Time       `json:"transaction_time,omitzero"`
	UpdatedAt       time.Time       `json:"updated_at"`
	SpecVersion     int64           `json:"spec_version,omitempty"`
	LagSeconds      float64         `json:"lag_seconds"`
	RowsSent        uint64          `json:"rows_sent"`
	HasMessage      bool            `json:"has_message"`
	Snapshot        *publicSnapshot `json:"snapshot,omitempty"`
}

type publicSnapshot struct {
	TablesDone    int    `json:"tables_done"`
	Tables        int    `json:"tables"`
	RowsCopied    uint64 `json:"rows_copied"`
	RowsEstimated uint64 `json:"rows_estimated"`
	Done          bool   `json:"done"`
}

func public(st api.Status) publicStatus {
	p := publicStatus{State: st.State, Pos: st.Pos, TransactionTime: st.TransactionTime, UpdatedAt: st.UpdatedAt,
		SpecVersion: st.SpecVersion, LagSeconds: st.LagSeconds, RowsSent: st.RowsSent, HasMessage: st.Message != ""}
	if sn := st.Snapshot; sn != nil {
		p.Snapshot = &publicSnapshot{TablesDone: sn.TablesDone, Tables: len(sn.Tables), RowsCopied: sn.RowsCopied, RowsEstimated: sn.RowsEstimated, Done: sn.Done}
	}
	return p
}
