package dispatcher

import (
	"testing"
	"time"

	"github.com/dtsrepl/dts/api"
	"github.com/dtsrepl/dts/jobs"
	"github.com/dtsrepl/dts/store"
)

// TestRepair is the reconciler's decision for each combination of what the store and the
// launcher hold for a task.
func TestRepair(t *testing.T) {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	s := &Server{cfg: Config{ReconcileGrace: time.Minute, Launcher: newFakeLauncher()}}
	task := func(d api.Desired, age time.Duration, dflt bool) *api.Task {
		return &api.Task{ID: 1, Desired: d, Version: 1, DefaultAccount: dflt, CreatedAt: now.Add(-age), UpdatedAt: now.Add(-age)}
	}
	running := jobs.Held{Job: true, Running: true, Credentials: true}
	stoppedJob := jobs.Held{Job: true, Credentials: true}
	credsOnly := jobs.Held{Credentials: true}
	status := &api.Status{State: api.StateRunning}
	tests := []struct {
		name   string
		task   *api.Task
		status *api.Status
		held   jobs.Held
		want   string
	}{
		{"running task with its job", task(api.DesiredRunning, time.Hour, false), status, running, ""},
		{"credentials, no job", task(api.DesiredRunning, time.Hour, false), nil, credsOnly, repairLaunch},
		{"credentials, job stopped", task(api.DesiredRunning, time.Hour, false), status, stoppedJob, repairLaunch},
		{"default account without credentials", task(api.DesiredRunning, time.Hour, true), nil, jobs.Held{}, repairDefault},
		{"nothing, young: a submit in progress", task(api.DesiredRunning, time.Second, false), nil, jobs.Held{}, ""},
		{"nothing, old: a submit that died", task(api.DesiredRunning, time.Hour, false), nil, jobs.Held{}, repairDrop},
		{"nothing but a status: never dropped", task(api.DesiredRunning, time.Hour, false), status, jobs.Held{}, ""},
		{"stopped task, job running", task(api.DesiredStopped, time.Hour, false), status, running, repairStop},
		{"stopped task, job stopped", task(api.DesiredStopped, time.Hour, false), status, stoppedJob, ""},
		{"stopped task, no job", task(api.DesiredStopped, time.Hour, false), nil, credsOnly, ""},
		{"delete half done", task(api.DesiredDeleted, time.Second, false), status, running, repairDelete},
		{"delete, job already gone", task(api.DesiredDeleted, time.Second, false), nil, jobs.Held{}, repairDelete},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := s.repair(store.Record{Task: tc.task, Status: tc.status}, tc.held, now); got != tc.want {
				t.Errorf("repair %q, want %q", got, tc.want)
			}
		})
	}
}

// TestReconcileTwoPasses: a difference is repaired only when two passes in a row see it, and a
// job without a task is removed the same way.
func TestReconcileTwoPasses(t *testing.T) {
	h := newHarness(t)
	ctx := t.Context()
	id := h.submit()
	h.launcher.mu.Lock()
	delete(h.launcher.jobs, id) // as if the dispatcher had died before registering the job
	h.launcher.jobs[99] = &api.JobInfo{ID: "dts-task-99", Status: api.JobRunning}
	h.launcher.mu.Unlock()
	launches, _, _ := h.launcher.calls()
	before := len(launches)

	seen, err := h.srv.ReconcileOnce(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if launches, _, removes := h.launcher.calls(); len(launches) != before || len(removes) != 0 {
		t.Fatalf("the first pass repaired: %d launches, removes %v", len(launches)-before, removes)
	}
	if seen[id] == "" || seen[99] == "" {
		t.Fatalf("the first pass found %v, want tasks %d and 99", seen, id)
	}
	if _, err := h.srv.ReconcileOnce(ctx, seen); err != nil {
		t.Fatal(err)
	}
	launches, _, removes := h.launcher.calls()
	if len(launches) != before+1 || launches[len(launches)-1].Task.ID != id || launches[len(launches)-1].Creds != nil {
		t.Errorf("the second pass did not register task %d's job again from the store: %+v", id, launches[before:])
	}
	if len(removes) != 1 || removes[0] != 99 {
		t.Errorf("the second pass removed %v, want the job without a task (99)", removes)
	}
}
