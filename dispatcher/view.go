package dispatcher

import (
	"context"
	"sync"
	"time"

	"github.com/dtsrepl/dts/api"
	"github.com/dtsrepl/dts/store"
)

// The list shows, beside what workers report, the scheduler's view of their processes (placed,
// failing, why not placed). Asking Nomad for it on every list made the list cost what Nomad
// takes to filter every job and evaluation: 0.4 s for a page of 20 with 1,000 pending jobs, and 5
// s (then nothing) before. A list therefore reads the scheduler's view from a snapshot of every
// task's job that the dispatcher takes in the background, at most every ViewMaxAge and only while
// someone lists: a page costs one store read, whatever the number of tasks, and Nomad sees one
// full read every few seconds however many operators poll. Tasks changed since the snapshot was
// taken (a submit, a start) are asked about directly, so the list never says a new task has no
// job.

// jobView is the snapshot of the scheduler's view.
type jobView struct {
	mu         sync.Mutex
	jobs       map[int64]*api.JobInfo
	at         time.Time // when the snapshot's read began
	refreshing bool
}

// pageJobs is the scheduler's view of the tasks of a page.
func (s *Server) pageJobs(ctx context.Context, recs []store.Record) map[int64]*api.JobInfo {
	v := &s.view
	v.mu.Lock()
	snap, at := v.jobs, v.at
	if time.Since(at) > s.cfg.ViewMaxAge && !v.refreshing {
		v.refreshing = true
		go s.refreshView()
	}
	v.mu.Unlock()

	out := make(map[int64]*api.JobInfo, len(recs))
	var ask []int64
	for _, r := range recs {
		t := r.Task
		if snap == nil || !t.UpdatedAt.Before(at) {
			ask = append(ask, t.ID)
			continue
		}
		if j := snap[t.ID]; j != nil {
			out[t.ID] = j
		}
	}
	if len(ask) > 0 {
		for id, j := range s.jobs(ctx, ask) {
			out[id] = j
		}
	}
	return out
}

// refreshView takes a new snapshot. A failed read keeps the old one, which the next list tries
// to replace again.
func (s *Server) refreshView() {
	ctx, cancel := context.WithTimeout(context.Background(), 3*s.cfg.BackendTimeout)
	defer cancel()
	at := time.Now()
	all, err := s.cfg.Launcher.Jobs(ctx, nil)
	v := &s.view
	v.mu.Lock()
	defer v.mu.Unlock()
	v.refreshing = false
	if err != nil {
		s.log.Warn("scheduler view not refreshed", "err", err)
		return
	}
	v.jobs, v.at = all, at
}
