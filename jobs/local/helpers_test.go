package local

import (
	"context"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/dtsrepl/dts/api"
	"github.com/dtsrepl/dts/dispatcher"
	"github.com/dtsrepl/dts/internal/testenv"
)

// TestMain checks, after the tests, that no goroutine of a supervisor, a worker or a listener
// outlived them (goleak, through testenv.Main).
func TestMain(m *testing.M) { testenv.Main(m) }

var _ dispatcher.Launcher = (*Launcher)(nil)

// memSecrets is an in-memory Secrets.
type memSecrets struct {
	mu sync.Mutex
	m  map[int64]api.Credentials
}

func newMemSecrets() *memSecrets { return &memSecrets{m: map[int64]api.Credentials{}} }

func (s *memSecrets) PutCredentials(_ context.Context, id int64, c api.Credentials) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.m[id] = c
	return nil
}

func (s *memSecrets) Credentials(_ context.Context, id int64) (*api.Credentials, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.m[id]
	if !ok {
		return nil, nil
	}
	return &c, nil
}

func (s *memSecrets) DeleteCredentials(_ context.Context, id int64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.m, id)
	return nil
}

func (s *memSecrets) CredentialIDs(context.Context) ([]int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Sorted(maps.Keys(s.m)), nil
}

// newTestLauncher returns a launcher with short backoffs, closed at the end of the test.
func newTestLauncher(t *testing.T, run RunFunc) (*Launcher, *memSecrets) {
	t.Helper()
	secrets := newMemSecrets()
	l := mustNew(t, Config{Run: run, Secrets: secrets, Logger: slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))})
	l.policy = restartPolicy{min: 20 * time.Millisecond, max: 80 * time.Millisecond, reset: time.Hour}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := l.Close(ctx); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return l, secrets
}

// backoffs records the backoff of every restart the supervisors log, so tests check the
// policy without timing anything.
type backoffs struct {
	slog.Handler
	mu     *sync.Mutex
	delays *[]time.Duration
}

func recordBackoffs(t *testing.T, l *Launcher) backoffs {
	b := backoffs{Handler: slog.NewTextHandler(t.Output(), nil), mu: new(sync.Mutex), delays: new([]time.Duration)}
	l.log = slog.New(b)
	return b
}

func (b backoffs) Handle(ctx context.Context, r slog.Record) error {
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == "backoff" {
			b.mu.Lock()
			*b.delays = append(*b.delays, a.Value.Duration())
			b.mu.Unlock()
		}
		return true
	})
	return b.Handler.Handle(ctx, r)
}

func (b backoffs) WithAttrs(as []slog.Attr) slog.Handler {
	return backoffs{b.Handler.WithAttrs(as), b.mu, b.delays}
}

func (b backoffs) WithGroup(name string) slog.Handler {
	return backoffs{b.Handler.WithGroup(name), b.mu, b.delays}
}

func (b backoffs) get() []time.Duration {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]time.Duration(nil), *b.delays...)
}

func task(id int64) *api.Task {
	return &api.Task{ID: id, Version: 1, Desired: api.DesiredRunning,
		Spec: api.TaskSpec{Source: &api.Source{Host: "127.0.0.1", Port: 3306}, Kafka: api.Kafka{Addr: "127.0.0.1:9092", Topic: "t"}}}
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// recv waits for a value from ch within the test's context.
func recv[T any](t *testing.T, ctx context.Context, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-ctx.Done():
		t.Fatalf("waiting for %s: %v", what, ctx.Err())
		var zero T
		return zero
	}
}

func jobInfo(t *testing.T, ctx context.Context, l *Launcher, id int64) *api.JobInfo {
	t.Helper()
	all, err := l.Jobs(ctx, allIDs)
	if err != nil {
		t.Fatal(err)
	}
	return all[id]
}

// waitStatus polls Jobs until the task's status is want.
func waitStatus(t *testing.T, ctx context.Context, l *Launcher, id int64, want api.JobStatus) *api.JobInfo {
	t.Helper()
	for {
		info := jobInfo(t, ctx, l, id)
		if info != nil && info.Status == want {
			return info
		}
		select {
		case <-ctx.Done():
			t.Fatalf("task %d never reached %s; last %+v", id, want, info)
		case <-time.After(5 * time.Millisecond):
		}
	}
}

func jobInfoMap(t *testing.T, ctx context.Context, l *Launcher) map[int64]*api.JobInfo {
	t.Helper()
	all, err := l.Jobs(ctx, allIDs)
	if err != nil {
		t.Fatal(err)
	}
	return all
}

// testCreds is the account of tests that do not care about accounts: a worker does not start
// without one.
var testCreds = &api.Credentials{Username: "repl"}

// allIDs are the task ids the tests use, for Jobs.
var allIDs = []int64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}

// mustNew is New for a config the test knows to be valid.
func mustNew(t *testing.T, cfg Config) *Launcher {
	t.Helper()
	l, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return l
}
