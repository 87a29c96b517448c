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
	s := &Server{cfg: Config{ReconcileGrace: time.Minute, Launcher: &testLauncher{}}}
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

// TestReconcileTwoPasses: a difference is repaired only when two passes in a row see it: a task
// stored with its credentials whose worker was never started (the dispatcher died before) is
// started, and a worker whose task is gone is removed.
func TestReconcileTwoPasses(t *testing.T) {
	h := newHarness(t)
	ctx := t.Context()
	now := time.Now()
	spec := api.TaskSpec{Source: &api.Source{Host: "127.0.0.1", Port: srcPort, Username: "u"}, Kafka: api.Kafka{Addr: kafkaAddr, Topic: "t"}, Filters: []api.Filter{{DBName: "d"}}}
	newTask := func() *api.Task {
		return &api.Task{Spec: spec, Version: 1, Desired: api.DesiredRunning, CreatedAt: now, UpdatedAt: now}
	}
	unlaunched, err := h.store.DB.CreateWithCredentials(ctx, newTask(), api.Credentials{Username: "u", Password: "p"})
	if err != nil {
		t.Fatal(err)
	}
	orphan := newTask()
	if _, err := h.store.DB.CreateWithCredentials(ctx, orphan, api.Credentials{Username: "u", Password: "p"}); err != nil {
		t.Fatal(err)
	}
	if err := h.launcher.Launcher.Launch(ctx, orphan, nil); err != nil {
		t.Fatal(err)
	}
	if err := h.store.DB.Delete(ctx, orphan.ID); err != nil { // its worker runs on
		t.Fatal(err)
	}

	seen, err := h.srv.ReconcileOnce(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if launches, _, removes := h.launcher.calls(); len(launches) != 0 || len(removes) != 0 {
		t.Fatalf("the first pass repaired: launches %+v, removes %v", launches, removes)
	}
	if seen[unlaunched] == "" || seen[orphan.ID] == "" {
		t.Fatalf("the first pass found %v, want tasks %d and %d", seen, unlaunched, orphan.ID)
	}
	if _, err := h.srv.ReconcileOnce(ctx, seen); err != nil {
		t.Fatal(err)
	}
	launches, _, removes := h.launcher.calls()
	if len(launches) != 1 || launches[0].Task.ID != unlaunched || launches[0].Creds != nil {
		t.Errorf("the second pass did not start task %d from the store: %+v", unlaunched, launches)
	}
	if j, err := h.launcher.Job(ctx, unlaunched); err != nil || j == nil || j.Status != api.JobRunning {
		t.Errorf("task %d's worker: %+v, %v", unlaunched, j, err)
	}
	if len(removes) != 1 || removes[0] != orphan.ID {
		t.Errorf("the second pass removed %v, want the worker without a task (%d)", removes, orphan.ID)
	}
	if again, err := h.srv.ReconcileOnce(ctx, nil); err != nil || len(again) != 0 {
		t.Errorf("after the repairs a pass finds %v, %v", again, err)
	}
}
