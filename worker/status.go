package worker

import (
	"encoding/json"
	"sync"

	"github.com/dtsrepl/dts/api"
)

// board is the worker's current status, shared by the session, the retry loop and the HTTP
// handlers; every save writes a copy of it.
type board struct {
	mu sync.Mutex
	st api.Status
}

// set changes the status under the lock.
func (b *board) set(f func(*api.Status)) {
	b.mu.Lock()
	defer b.mu.Unlock()
	f(&b.st)
}

// snapshot returns a copy that shares nothing mutable.
func (b *board) snapshot() api.Status {
	b.mu.Lock()
	defer b.mu.Unlock()
	st := b.st
	if st.Snapshot != nil {
		s := *st.Snapshot
		s.Tables = append([]string(nil), s.Tables...)
		s.LastKey = append(json.RawMessage(nil), s.LastKey...)
		st.Snapshot = &s
	}
	return st
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
}

func (b *board) setSpecVersion(v int64) {
	b.set(func(st *api.Status) { st.SpecVersion = v })
}
