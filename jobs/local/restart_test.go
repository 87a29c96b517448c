package local

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dtsrepl/dts/api"
)

func TestRestartsWithBackoff(t *testing.T) {
	ctx := testCtx(t)
	starts := make(chan time.Time, 10)
	var n atomic.Int32
	l, _ := newTestLauncher(t, func(ctx context.Context, _ *api.Task, _ api.Credentials, _ net.Listener) error {
		starts <- time.Now()
		if i := n.Add(1); i <= 4 {
			return fmt.Errorf("boom %d", i)
		}
		<-ctx.Done()
		return ctx.Err()
	})
	l.policy = restartPolicy{min: 20 * time.Millisecond, max: 60 * time.Millisecond, reset: time.Hour}
	rec := recordBackoffs(t, l)
	if err := l.Launch(ctx, task(1), &api.Credentials{Username: "u"}); err != nil {
		t.Fatal(err)
	}
	var at []time.Time
	for range 5 {
		at = append(at, recv(t, ctx, starts, "a start"))
	}
	// 20ms, doubling, capped at 60ms, each jittered down to no less than half; the restart
	// comes after the wait it logged (a timer never fires early).
	want := []time.Duration{20 * time.Millisecond, 40 * time.Millisecond, 60 * time.Millisecond, 60 * time.Millisecond}
	got := rec.get()
	if len(got) != len(want) {
		t.Fatalf("backoffs %v, want %d of them", got, len(want))
	}
	for i, w := range want {
		if got[i] < w/2 || got[i] > w {
			t.Errorf("backoff %d is %s, want between %s and %s", i+1, got[i], w/2, w)
		}
		if gap := at[i+1].Sub(at[i]); gap < got[i] {
			t.Errorf("restart %d after %s, before its backoff %s ended", i+1, gap, got[i])
		}
	}
	info := waitStatus(t, ctx, l, 1, api.JobRunning)
	if info.ID != "local-1" || info.Message != "boom 4" || info.Addr == "" {
		t.Errorf("job info %+v, want local-1 running with the last error", *info)
	}
}

func TestBackoffResetsAfterLongRun(t *testing.T) {
	ctx := testCtx(t)
	starts := make(chan struct{}, 10)
	var n atomic.Int32
	l, _ := newTestLauncher(t, func(ctx context.Context, _ *api.Task, _ api.Credentials, _ net.Listener) error {
		starts <- struct{}{}
		switch i := n.Add(1); {
		case i <= 4: // fail at once: 20, 40, 80, 160ms
			return errors.New("fast failure")
		case i == 5: // run past reset, then fail: the next wait is 20ms again, not 320ms
			time.Sleep(100 * time.Millisecond)
			return errors.New("slow failure")
		}
		<-ctx.Done()
		return nil
	})
	l.policy = restartPolicy{min: 20 * time.Millisecond, max: time.Minute, reset: 50 * time.Millisecond}
	rec := recordBackoffs(t, l)
	if err := l.Launch(ctx, task(1), testCreds); err != nil {
		t.Fatal(err)
	}
	for range 6 {
		recv(t, ctx, starts, "a start")
	}
	want := []time.Duration{20 * time.Millisecond, 40 * time.Millisecond, 80 * time.Millisecond, 160 * time.Millisecond, 20 * time.Millisecond}
	// Waits are jittered between half the interval and the interval.
	got := rec.get()
	ok := len(got) == len(want)
	for i := 0; ok && i < len(got); i++ {
		ok = got[i] >= want[i]/2 && got[i] <= want[i]
	}
	if !ok {
		t.Errorf("backoffs %v, want within half of and at most %v (reset to 20ms after the long run)", got, want)
	}
}

func TestRestartingStatusAndStopDuringBackoff(t *testing.T) {
	ctx := testCtx(t)
	l, _ := newTestLauncher(t, func(context.Context, *api.Task, api.Credentials, net.Listener) error {
		return errors.New("source unreachable")
	})
	l.policy = restartPolicy{min: time.Hour, max: time.Hour, reset: time.Hour}
	if err := l.Launch(ctx, task(1), testCreds); err != nil {
		t.Fatal(err)
	}
	info := waitStatus(t, ctx, l, 1, api.JobRestarting)
	if info.Message != "source unreachable" {
		t.Errorf("message %q", info.Message)
	}
	if err := l.Stop(ctx, 1); err != nil { // must not wait out the hour
		t.Fatal(err)
	}
	info = jobInfo(t, ctx, l, 1)
	if info.Status != api.JobStopped || info.Message != "source unreachable" {
		t.Errorf("after stop: %+v", *info)
	}
}

func TestCredentialsChangeRestarts(t *testing.T) {
	ctx := testCtx(t)
	type run struct {
		task  *api.Task
		creds api.Credentials
		ctx   context.Context
	}
	runs := make(chan run, 10)
	l, secrets := newTestLauncher(t, func(ctx context.Context, t *api.Task, c api.Credentials, _ net.Listener) error {
		runs <- run{t, c, ctx}
		<-ctx.Done()
		return ctx.Err()
	})
	a := api.Credentials{Username: "repl", Password: "a"}
	b := api.Credentials{Username: "repl", Password: "b"}
	t1 := task(1)
	if err := l.Launch(ctx, t1, &a); err != nil {
		t.Fatal(err)
	}
	first := recv(t, ctx, runs, "first run")
	if first.creds != a || first.task != t1 {
		t.Fatalf("first run got %+v", first)
	}
	// Same credentials, no credentials, a new spec: the worker keeps running.
	t2 := task(1)
	t2.Version = 2
	for _, c := range []*api.Credentials{&a, nil} {
		if err := l.Launch(ctx, t2, c); err != nil {
			t.Fatal(err)
		}
	}
	if first.ctx.Err() != nil {
		t.Fatal("worker stopped without a credentials change")
	}
	// New credentials restart it, with the newest task record.
	if err := l.Launch(ctx, t2, &b); err != nil {
		t.Fatal(err)
	}
	second := recv(t, ctx, runs, "second run")
	if first.ctx.Err() == nil {
		t.Error("first run's context still live after the restart")
	}
	if second.creds != b || second.task != t2 {
		t.Errorf("second run got creds %+v task version %d", second.creds, second.task.Version)
	}
	if c, _ := secrets.Credentials(ctx, 1); c == nil || *c != b {
		t.Errorf("stored credentials %v, want %v", c, b)
	}
	select {
	case r := <-runs:
		t.Errorf("unexpected extra run with %+v", r.creds)
	default:
	}

	// After a stop, Launch without credentials uses the stored ones.
	if err := l.Stop(ctx, 1); err != nil {
		t.Fatal(err)
	}
	if err := l.Launch(ctx, t2, nil); err != nil {
		t.Fatal(err)
	}
	if third := recv(t, ctx, runs, "third run"); third.creds != b {
		t.Errorf("relaunched worker got %+v, want the stored %+v", third.creds, b)
	}
}

func TestCredentialsChangeDuringBackoff(t *testing.T) {
	ctx := testCtx(t)
	runs := make(chan api.Credentials, 10)
	l, _ := newTestLauncher(t, func(ctx context.Context, _ *api.Task, c api.Credentials, _ net.Listener) error {
		runs <- c
		if c.Password == "wrong" {
			return errors.New("access denied")
		}
		<-ctx.Done()
		return nil
	})
	l.policy = restartPolicy{min: time.Hour, max: time.Hour, reset: time.Hour}
	if err := l.Launch(ctx, task(1), &api.Credentials{Password: "wrong"}); err != nil {
		t.Fatal(err)
	}
	recv(t, ctx, runs, "first run")
	waitStatus(t, ctx, l, 1, api.JobRestarting)
	// Fixed credentials end the hour-long backoff at once.
	if err := l.Launch(ctx, task(1), &api.Credentials{Password: "right"}); err != nil {
		t.Fatal(err)
	}
	if c := recv(t, ctx, runs, "run with fixed credentials"); c.Password != "right" {
		t.Errorf("second run got %+v", c)
	}
	waitStatus(t, ctx, l, 1, api.JobRunning)
}

func TestPanickingWorkerIsRestarted(t *testing.T) {
	ctx := testCtx(t)
	var n atomic.Int32
	second := make(chan struct{})
	l, _ := newTestLauncher(t, func(ctx context.Context, _ *api.Task, _ api.Credentials, _ net.Listener) error {
		if n.Add(1) == 1 {
			panic("a bug in the worker")
		}
		close(second)
		<-ctx.Done()
		return nil
	})
	if err := l.Launch(ctx, task(1), testCreds); err != nil {
		t.Fatal(err)
	}
	recv(t, ctx, second, "run after the panic")
	if info := waitStatus(t, ctx, l, 1, api.JobRunning); !strings.Contains(info.Message, "worker panicked") {
		t.Errorf("message %q", info.Message)
	}
}

// TestRestartWorker: Restart stops the task's worker and starts it again at once, with its
// credentials read again (a Failed worker waits for a spec change; start makes it try again),
// on the same address. A task without a running worker has nothing to restart.
func TestRestartWorker(t *testing.T) {
	ctx := testCtx(t)
	type run struct {
		creds api.Credentials
		addr  string
	}
	runs := make(chan run, 4)
	var stops atomic.Int32
	l, secrets := newTestLauncher(t, func(ctx context.Context, _ *api.Task, c api.Credentials, ln net.Listener) error {
		runs <- run{c, ln.Addr().String()}
		<-ctx.Done() // a Failed worker waiting for a fix
		stops.Add(1)
		return nil
	})
	if err := l.Restart(ctx, 1); err != nil {
		t.Fatalf("restart of an unknown task: %v", err)
	}
	if err := l.Launch(ctx, task(1), testCreds); err != nil {
		t.Fatal(err)
	}
	first := recv(t, ctx, runs, "first run")
	// The account changed in the store behind the launcher's back (dts dev restarted, say).
	rotated := api.Credentials{Username: "repl", Password: "rotated"}
	if err := secrets.PutCredentials(ctx, 1, rotated); err != nil {
		t.Fatal(err)
	}
	if err := l.Restart(ctx, 1); err != nil {
		t.Fatal(err)
	}
	if stops.Load() != 1 {
		t.Errorf("Restart returned before the old worker stopped (%d stops)", stops.Load())
	}
	second := recv(t, ctx, runs, "second run")
	if second.creds != rotated || second.addr != first.addr {
		t.Errorf("restarted with %+v on %s, want %+v on %s", second.creds, second.addr, rotated, first.addr)
	}
	waitStatus(t, ctx, l, 1, api.JobRunning)
	// A stopped task is not restarted.
	if err := l.Stop(ctx, 1); err != nil {
		t.Fatal(err)
	}
	if err := l.Restart(ctx, 1); err != nil {
		t.Fatal(err)
	}
	select {
	case r := <-runs:
		t.Errorf("a stopped task was restarted: %+v", r)
	default:
	}
}
