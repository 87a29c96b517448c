package local

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dtsrepl/dts/api"
	"github.com/dtsrepl/dts/jobs"
	"github.com/dtsrepl/dts/store"
	"github.com/dtsrepl/dts/store/bolt"
)

func TestStopWaitsForWorker(t *testing.T) {
	ctx := testCtx(t)
	started := make(chan struct{}, 1)
	var checkpointed atomic.Bool
	l, secrets := newTestLauncher(t, func(ctx context.Context, _ *api.Task, _ api.Credentials, _ net.Listener) error {
		started <- struct{}{}
		<-ctx.Done()
		time.Sleep(100 * time.Millisecond) // flushing and writing the checkpoint
		checkpointed.Store(true)
		return ctx.Err()
	})
	creds := api.Credentials{Username: "u", Password: "p"}
	if err := l.Launch(ctx, task(1), &creds); err != nil {
		t.Fatal(err)
	}
	recv(t, ctx, started, "start")
	if err := l.Stop(ctx, 1); err != nil {
		t.Fatal(err)
	}
	if !checkpointed.Load() {
		t.Fatal("Stop returned before the worker did")
	}
	info := jobInfo(t, ctx, l, 1)
	if info.Status != api.JobStopped || info.Message != "" {
		t.Errorf("after stop: %+v", *info)
	}
	if _, err := l.WaitAddr(ctx, 1); err == nil {
		t.Error("WaitAddr of a stopped task returned no error")
	}
	if c, _ := secrets.Credentials(ctx, 1); c == nil || *c != creds {
		t.Errorf("credentials after stop: %v", c)
	}
	if err := l.Stop(ctx, 1); err != nil {
		t.Errorf("second stop: %v", err)
	}
	if err := l.Stop(ctx, 99); err != nil {
		t.Errorf("stop of an unknown task: %v", err)
	}
	if _, ok := jobInfoMap(t, ctx, l)[99]; ok {
		t.Error("stop of an unknown task made it appear in Jobs")
	}
}

func TestStopTimeout(t *testing.T) {
	ctx := testCtx(t)
	release := make(chan struct{})
	runs := make(chan struct{}, 2)
	l, _ := newTestLauncher(t, func(ctx context.Context, _ *api.Task, _ api.Credentials, _ net.Listener) error {
		runs <- struct{}{}
		<-ctx.Done()
		<-release // a worker stuck in its checkpoint
		return nil
	})
	l.stopTimeout = 50 * time.Millisecond
	if err := l.Launch(ctx, task(1), testCreds); err != nil {
		t.Fatal(err)
	}
	recv(t, ctx, runs, "first run")
	err := l.Stop(ctx, 1)
	if err == nil || !strings.Contains(err.Error(), "did not stop") {
		t.Fatalf("stop of a stuck worker: %v", err)
	}
	if info := jobInfo(t, ctx, l, 1); info.Status != api.JobStopped || !strings.Contains(info.Message, "stopping") {
		t.Errorf("stuck worker reported %+v", *info)
	}
	// A second worker must not start beside the stuck one.
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if err := l.Launch(short, task(1), nil); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("launch beside a stuck worker: %v", err)
	}
	close(release)
	if err := l.Launch(ctx, task(1), nil); err != nil {
		t.Fatal(err)
	}
	recv(t, ctx, runs, "second run")
}

// TestSameAddressAcrossRestarts runs a worker that serves HTTP on its listener, shuts its
// server down and fails after one request; the next run must answer on the same address.
func TestSameAddressAcrossRestarts(t *testing.T) {
	ctx := testCtx(t)
	var n atomic.Int32
	l, _ := newTestLauncher(t, func(ctx context.Context, _ *api.Task, _ api.Credentials, ln net.Listener) error {
		i := n.Add(1)
		served := make(chan struct{}, 1)
		lnClosed := make(chan struct{})
		srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			select {
			case served <- struct{}{}:
			default:
			}
			<-lnClosed // answer only once this run accepts no more, so the next request goes to the next run
			fmt.Fprintf(w, "run %d", i)
		})}
		errc := make(chan error, 1)
		go func() { errc <- srv.Serve(ln) }()
		select {
		case <-ctx.Done():
		case <-served:
		}
		ln.Close() // must end only this run's Accept calls, not close the task's socket
		close(lnClosed)
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := srv.Shutdown(sctx); err != nil {
			return fmt.Errorf("shutdown: %w", err)
		}
		if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("serve: %w", err)
		}
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("run %d failed after a request", i)
	})
	if err := l.Launch(ctx, task(1), testCreds); err != nil {
		t.Fatal(err)
	}
	addr, err := l.WaitAddr(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	if host, _, _ := net.SplitHostPort(addr); host != "127.0.0.1" {
		t.Errorf("address %s is not on loopback", addr)
	}
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 5 * time.Second}
	for want := 1; want <= 3; want++ {
		resp, err := client.Get("http://" + addr + "/status")
		if err != nil {
			t.Fatalf("request %d: %v", want, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if got := string(body); got != fmt.Sprintf("run %d", want) {
			t.Errorf("request %d answered %q", want, got)
		}
		if a, _ := l.WaitAddr(ctx, 1); a != addr {
			t.Errorf("address changed from %s to %s", addr, a)
		}
	}

	// Started again after a stop, the task gets its old port back when it is free.
	if err := l.Stop(ctx, 1); err != nil {
		t.Fatal(err)
	}
	if err := l.Launch(ctx, task(1), testCreds); err != nil {
		t.Fatal(err)
	}
	if a, _ := l.WaitAddr(ctx, 1); a != addr {
		t.Logf("relaunched on %s, was %s (the old port was taken)", a, addr)
	}
}

func TestRemove(t *testing.T) {
	ctx := testCtx(t)
	var active atomic.Int32
	l, secrets := newTestLauncher(t, func(ctx context.Context, _ *api.Task, _ api.Credentials, _ net.Listener) error {
		active.Add(1)
		defer active.Add(-1)
		<-ctx.Done()
		return nil
	})
	if err := l.Launch(ctx, task(1), &api.Credentials{Password: "p"}); err != nil {
		t.Fatal(err)
	}
	waitStatus(t, ctx, l, 1, api.JobRunning)
	if err := l.Remove(ctx, 1); err != nil {
		t.Fatal(err)
	}
	if active.Load() != 0 {
		t.Error("worker still running after remove")
	}
	if c, _ := secrets.Credentials(ctx, 1); c != nil {
		t.Error("credentials kept after remove")
	}
	if _, ok := jobInfoMap(t, ctx, l)[1]; ok {
		t.Error("removed task still in Jobs")
	}
	if err := l.Remove(ctx, 1); err != nil {
		t.Errorf("second remove: %v", err)
	}
	// Credentials stored by an earlier process go too, without a launch in this one.
	secrets.PutCredentials(ctx, 2, api.Credentials{Password: "old"})
	if err := l.Remove(ctx, 2); err != nil {
		t.Fatal(err)
	}
	if c, _ := secrets.Credentials(ctx, 2); c != nil {
		t.Error("credentials of a never-launched task kept after remove")
	}
}

func TestCloseStopsEverything(t *testing.T) {
	ctx := testCtx(t)
	var active, checkpoints atomic.Int32
	started := make(chan struct{}, 5)
	l, _ := newTestLauncher(t, func(ctx context.Context, _ *api.Task, _ api.Credentials, _ net.Listener) error {
		active.Add(1)
		defer active.Add(-1)
		started <- struct{}{}
		<-ctx.Done()
		time.Sleep(20 * time.Millisecond)
		checkpoints.Add(1)
		return ctx.Err()
	})
	for id := int64(1); id <= 5; id++ {
		if err := l.Launch(ctx, task(id), testCreds); err != nil {
			t.Fatal(err)
		}
		recv(t, ctx, started, "a worker")
	}
	if err := l.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if active.Load() != 0 || checkpoints.Load() != 5 {
		t.Errorf("after close: %d workers active, %d checkpointed", active.Load(), checkpoints.Load())
	}
	for id, info := range jobInfoMap(t, ctx, l) {
		if info.Status != api.JobStopped {
			t.Errorf("task %d after close: %+v", id, *info)
		}
	}
	if err := l.Launch(ctx, task(6), nil); !errors.Is(err, ErrClosed) {
		t.Errorf("launch after close: %v", err)
	}
}

func TestCloseBoundedByContext(t *testing.T) {
	release := make(chan struct{})
	started := make(chan struct{})
	l := mustNew(t, Config{Run: func(ctx context.Context, _ *api.Task, _ api.Credentials, _ net.Listener) error {
		close(started)
		<-ctx.Done()
		<-release
		return nil
	}, Secrets: newMemSecrets()})
	ctx := testCtx(t)
	if err := l.Launch(ctx, task(1), testCreds); err != nil {
		t.Fatal(err)
	}
	recv(t, ctx, started, "start")
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if err := l.Close(short); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("close with a stuck worker: %v", err)
	}
	close(release)
	if err := l.Close(ctx); err != nil {
		t.Errorf("second close: %v", err)
	}
}

// TestConcurrentUse drives every method at once; run with -race.
func TestConcurrentUse(t *testing.T) {
	ctx := testCtx(t)
	l, _ := newTestLauncher(t, func(ctx context.Context, _ *api.Task, _ api.Credentials, ln net.Listener) error {
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(time.Duration(1+ln.Addr().(*net.TCPAddr).Port%5) * time.Millisecond):
			return errors.New("flaky")
		}
	})
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			id := int64(g%3 + 1)
			for i := range 30 {
				var err error
				switch i % 6 {
				case 0, 3:
					err = l.Launch(ctx, task(id), &api.Credentials{Password: fmt.Sprint(i % 2)})
				case 1:
					_, err = l.Jobs(ctx, allIDs)
				case 2:
					_, _ = l.WaitAddr(ctx, id)
				case 4:
					err = l.Stop(ctx, id)
				case 5:
					err = l.Remove(ctx, id)
				}
				if err != nil {
					t.Errorf("goroutine %d step %d: %v", g, i, err)
					return
				}
			}
		})
	}
	wg.Wait()
}

// TestLaunchWithoutCredentials: a task whose credentials were never stored (dts dev killed in
// the middle of a submit, before this was one transaction) gets no worker without an account;
// Launch says so with jobs.ErrNoCredentials, Jobs advises the alter that repairs it, and a
// Launch with credentials (the alter) stores them and starts the worker. The real embedded
// store is the Secrets here: it reports missing credentials as nil, nil (the Secrets contract).
func TestLaunchWithoutCredentials(t *testing.T) {
	ctx := testCtx(t)
	db, err := bolt.Open(filepath.Join(t.TempDir(), "dts.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	started := make(chan api.Credentials, 2)
	l := mustNew(t, Config{Run: func(ctx context.Context, _ *api.Task, c api.Credentials, _ net.Listener) error {
		started <- c
		<-ctx.Done()
		return nil
	}, Secrets: db, Logger: slog.New(slog.NewTextHandler(t.Output(), nil))})
	t.Cleanup(func() {
		cctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		l.Close(cctx)
	})
	tk := task(0)
	id, err := db.Create(ctx, tk)
	if err != nil {
		t.Fatal(err)
	}
	err = l.Launch(ctx, tk, nil)
	if !errors.Is(err, jobs.ErrNoCredentials) || errors.Is(err, store.ErrNotFound) {
		t.Fatalf("launch without credentials: %v, want jobs.ErrNoCredentials (and not a not-found)", err)
	}
	info := jobInfo(t, ctx, l, id)
	if info == nil || info.Status == api.JobRunning || !strings.Contains(info.Message, "alter the task with source.username and source.password") {
		t.Fatalf("job info %+v, want it to advise the alter", info)
	}
	select {
	case <-started:
		t.Fatal("a worker started without an account")
	default:
	}
	// The alter of a stopped task stores the account without starting it.
	stopped := *tk
	stopped.Desired = api.DesiredStopped
	creds := api.Credentials{Username: "repl", Password: "pw"}
	if err := l.Launch(ctx, &stopped, &creds); err != nil {
		t.Fatal(err)
	}
	if c, err := db.Credentials(ctx, id); err != nil || *c != creds {
		t.Fatalf("credentials after the alter of a stopped task: %+v, %v", c, err)
	}
	select {
	case <-started:
		t.Fatal("the alter of a stopped task started it")
	default:
	}
	// Started, it runs with them.
	if err := l.Launch(ctx, tk, nil); err != nil {
		t.Fatal(err)
	}
	if got := recv(t, ctx, started, "the worker"); got != creds {
		t.Errorf("worker started with %+v", got)
	}
	if info := waitStatus(t, ctx, l, id, api.JobRunning); info.Message != "" {
		t.Errorf("job info after the repair %+v", *info)
	}
}

// TestHungWorker: a worker that ignores its context (stuck in a MySQL handshake without a
// deadline) bounds Stop and Remove, which say which task's worker did not stop and what it last
// reported, as a jobs.StopTimeoutError (the dispatcher's -503); an operation waiting behind them
// is a conflict (-409), not a bare error. Remove still forgets the task's credentials, and the
// launcher forgets the task once its worker finally returns.
func TestHungWorker(t *testing.T) {
	ctx := testCtx(t)
	release := make(chan struct{})
	runs := make(chan int, 3)
	var n atomic.Int32
	l, secrets := newTestLauncher(t, func(ctx context.Context, _ *api.Task, _ api.Credentials, _ net.Listener) error {
		i := int(n.Add(1))
		runs <- i
		if i == 1 {
			return errors.New("dial tcp 127.0.0.1:1: connect: connection refused")
		}
		<-release // the handshake that never ends, whatever ctx says
		return errors.New("handshake: i/o timeout")
	})
	l.stopTimeout = 50 * time.Millisecond
	if err := l.Launch(ctx, task(1), testCreds); err != nil {
		t.Fatal(err)
	}
	recv(t, ctx, runs, "first run")
	recv(t, ctx, runs, "second run")

	err := l.Stop(ctx, 1)
	var stuck *jobs.StopTimeoutError
	if !errors.As(err, &stuck) || !errors.Is(err, jobs.ErrUnavailable) {
		t.Fatalf("stop of a hung worker: %v, want a jobs.StopTimeoutError that is ErrUnavailable", err)
	}
	for _, want := range []string{"the worker of task 1 did not stop within 50ms", "connection refused"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("stop error %q does not say %q", err, want)
		}
	}
	if stuck.TaskID != 1 {
		t.Errorf("StopTimeoutError %+v", *stuck)
	}

	// Another operation on the task while Remove waits for the worker: a conflict.
	l.stopTimeout = 2 * time.Second
	removed := make(chan error, 1)
	go func() { removed <- l.Remove(ctx, 1) }()
	waitBusy(t, ctx, l, 1)
	short, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	if err := l.Launch(short, task(1), nil); !errors.Is(err, jobs.ErrConflict) {
		t.Errorf("launch while a remove waits: %v, want jobs.ErrConflict", err)
	}
	err = recv(t, ctx, removed, "remove")
	if !errors.As(err, &stuck) || !strings.Contains(err.Error(), "the worker of task 1 did not stop within 2s") {
		t.Fatalf("remove of a hung worker: %v, want a jobs.StopTimeoutError", err)
	}
	if c, _ := secrets.Credentials(ctx, 1); c != nil {
		t.Error("remove kept the credentials of a task whose worker hung")
	}
	if info := jobInfo(t, ctx, l, 1); info == nil || info.Status != api.JobStopped || !strings.Contains(info.Message, "stopping") {
		t.Errorf("the hung worker is not reported: %+v", info)
	}

	close(release)
	for {
		if _, ok := jobInfoMap(t, ctx, l)[1]; !ok {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatal("the removed task stays in Jobs after its worker returned")
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// waitBusy waits until an operation holds task id's lock.
func waitBusy(t *testing.T, ctx context.Context, l *Launcher, id int64) {
	t.Helper()
	for {
		l.mu.Lock()
		e := l.tasks[id]
		l.mu.Unlock()
		if e != nil && len(e.lock) == 1 {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatal("no operation took the task's lock")
		case <-time.After(time.Millisecond):
		}
	}
}
