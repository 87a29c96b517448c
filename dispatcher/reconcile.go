package dispatcher

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/dtsrepl/dts/api"
	"github.com/dtsrepl/dts/internal/backoff"
	"github.com/dtsrepl/dts/jobs"
	"github.com/dtsrepl/dts/store"
)

// Reconciling. Every request changes the store and the scheduler in a few steps (a submit stores
// the task, then writes its credentials, then registers its job); a dispatcher that dies between
// two leaves them apart. The reconciler brings them together again, from the store's side, which
// is the operator's intent:
//
//   - a task that should run has credentials and a current job: one that has credentials gets
//     its job registered again from the stored spec (a task using the default account gets the
//     account again);
//   - a task that should be stopped has no running job;
//   - a task marked deleted is removed from the scheduler and then from the store;
//   - a task with neither credentials nor job nor status, older than ReconcileGrace, is what a
//     submit that died before it stored the account left; its client got no id (or retries with
//     its Idempotency-Key, which completes it first), and without the account it can never run:
//     it is deleted;
//   - a job or credentials without a task are removed.
//
// The launcher's view is read before the store's, since tasks are created before their jobs and
// deleted after: a job the inventory shows without a task was not made by a submit in progress.
// A difference is repaired only when two passes in a row see it unchanged, so that the steps of
// a request in progress (a stop between the scheduler and the store, a submit between its
// credentials and its job) are not taken for the remains of one that died. Every step is
// idempotent, so two dispatchers that both believe they lead do the work twice, never wrongly.

// Reconcile runs the reconciler until ctx ends: while this dispatcher leads (cfg.Leadership), a
// pass every ReconcileInterval.
func (s *Server) Reconcile(ctx context.Context) error {
	bo := backoff.New(time.Second, 30*time.Second)
	for {
		lost, err := s.cfg.Leadership.Lead(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			s.log.Warn("reconciler: cannot take the leadership, will retry", "err", err)
			if bo.Wait(ctx) != nil {
				return nil
			}
			continue
		}
		bo.Reset()
		s.log.Info("reconciler: leading")
		s.lead(ctx, lost)
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.BackendTimeout)
		if err := s.cfg.Leadership.Resign(rctx); err != nil {
			s.log.Warn("reconciler: resign", "err", err)
		}
		cancel()
		if ctx.Err() != nil {
			return nil
		}
		s.log.Info("reconciler: leadership lost")
	}
}

// lead runs passes until the leadership is lost or ctx ends.
func (s *Server) lead(ctx context.Context, lost <-chan struct{}) {
	var seen map[int64]string
	ticker := time.NewTicker(s.cfg.ReconcileInterval)
	defer ticker.Stop()
	for {
		next, err := s.ReconcileOnce(ctx, seen)
		if err != nil {
			s.log.Warn("reconcile", "err", err)
		} else {
			seen = next
		}
		select {
		case <-ctx.Done():
			return
		case <-lost:
			return
		case <-ticker.C:
		}
	}
}

// ReconcileOnce makes one pass. seen is what the previous pass found to repair (nil on the
// first); it returns what this one found. Only what both found is repaired.
func (s *Server) ReconcileOnce(ctx context.Context, seen map[int64]string) (map[int64]string, error) {
	bctx, cancel := s.backend(ctx)
	held, err := s.cfg.Launcher.Inventory(bctx)
	cancel()
	if err != nil {
		return nil, fmt.Errorf("inventory of the scheduler: %w", err)
	}
	bctx, cancel = s.backend(ctx)
	recs, err := s.cfg.Store.List(bctx)
	cancel()
	if err != nil {
		return nil, fmt.Errorf("list tasks: %w", err)
	}
	found := map[int64]string{}
	counts := map[api.State]int{}
	now := time.Now()
	stored := make(map[int64]bool, len(recs))
	var errs []error
	for _, r := range recs {
		t := r.Task
		h := held[t.ID]
		stored[t.ID] = true
		counts[summarize(r, heldJob(h), s.cfg.Location).State]++
		what := s.repair(r, h, now)
		if what == "" {
			continue
		}
		// The same repair of the same version of the task, seen by the last pass too.
		key := fmt.Sprintf("%s v%d %s %s", what, t.Version, t.Desired, t.UpdatedAt.Format(time.RFC3339Nano))
		found[t.ID] = key
		if seen[t.ID] != key {
			continue
		}
		if err := s.apply(ctx, what, t); err != nil {
			errs = append(errs, fmt.Errorf("task %d: %s: %w", t.ID, what, err))
		}
	}
	for id := range held {
		if stored[id] {
			continue
		}
		const what = "remove what is left of a deleted task"
		found[id] = what
		if seen[id] != what {
			continue
		}
		if err := s.apply(ctx, what, &api.Task{ID: id}); err != nil {
			errs = append(errs, fmt.Errorf("task %d: %s: %w", id, what, err))
		}
	}
	s.metrics.observeStates(counts)
	return found, errors.Join(errs...)
}

// Repairs the reconciler makes.
const (
	repairDelete  = "finish the delete"
	repairDrop    = "delete the remains of a submit that died before storing the account"
	repairLaunch  = "register the job again"
	repairDefault = "hand the default account again and register the job"
	repairStop    = "stop the job"
)

// repair says what task r needs, "" when nothing.
func (s *Server) repair(r store.Record, h jobs.Held, now time.Time) string {
	t := r.Task
	switch t.Desired {
	case api.DesiredDeleted:
		return repairDelete
	case api.DesiredStopped:
		if h.Job && h.Running {
			return repairStop
		}
	case api.DesiredRunning:
		switch {
		case !h.Credentials && t.DefaultAccount:
			return repairDefault
		case !h.Credentials && !h.Job && r.Status == nil && now.Sub(t.CreatedAt) > s.cfg.ReconcileGrace:
			return repairDrop
		case h.Credentials && (!h.Job || !h.Running || !s.cfg.Launcher.Current(t, h)):
			return repairLaunch
		}
	}
	return ""
}

// apply makes one repair.
func (s *Server) apply(ctx context.Context, what string, t *api.Task) error {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.RequestTimeout)
	defer cancel()
	log := s.log.With("task", t.ID, "repair", what)
	var err error
	switch what {
	case repairDelete, repairDrop, "remove what is left of a deleted task":
		err = s.cfg.Launcher.Remove(ctx, t.ID)
		var stuck *jobs.StopTimeoutError
		if errors.As(err, &stuck) {
			log.Warn("reconciler: the task's worker did not stop; deleting the task all the same", "err", err)
			err = nil
		}
		if err == nil && t.Version != 0 {
			err = s.cfg.Store.Delete(ctx, t.ID)
			if errors.Is(err, store.ErrNotFound) {
				err = nil
			}
		}
	case repairStop:
		err = s.cfg.Launcher.Stop(ctx, t.ID)
	case repairLaunch:
		err = s.cfg.Launcher.Launch(ctx, t, nil)
	case repairDefault:
		// The default account with the task's stored Kafka secrets: the Variable is replaced
		// as a whole.
		var creds *api.Credentials
		if creds, err = s.storedCredentials(ctx, t); err == nil {
			err = s.cfg.Launcher.Launch(ctx, t, creds)
		}
	}
	if err != nil {
		return err
	}
	log.Info("reconciler: repaired")
	return nil
}

// heldJob is a JobInfo good enough for counting states from an inventory.
func heldJob(h jobs.Held) *api.JobInfo {
	switch {
	case !h.Job:
		return nil
	case h.Running:
		return &api.JobInfo{Status: api.JobRunning}
	default:
		return &api.JobInfo{Status: api.JobStopped}
	}
}
