package dispatcher

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dtsrepl/dts/api"
	"github.com/dtsrepl/dts/jobs"
	"github.com/dtsrepl/dts/jobs/local"
	"github.com/dtsrepl/dts/store"
	"github.com/dtsrepl/dts/store/bolt"
)

// The handlers are tested on the embedded store (store/bolt) and the in-process launcher
// (jobs/local) that dts dev runs on, whose workers here are a stand-in that waits to be stopped.
// Two thin wrappers let a test see what the dispatcher asked of them and make them fail as an
// unreachable backend or a scheduler would; everything else is the real implementations.

// testStore is store/bolt with an outage switch and a record of deleted tasks.
type testStore struct {
	*bolt.DB
	mu  sync.Mutex
	err error // returned by every call while set (an outage)
	// credsErr is returned by Credentials while set (credentials that cannot be read).
	credsErr error
	deleted  []int64
	records  map[int64]*bolt.TaskRecord // the "worker" records setStatus writes with
}

var (
	_ Store           = (*testStore)(nil)
	_ CredentialStore = (*testStore)(nil)
)

func (s *testStore) fail() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

func (s *testStore) setErr(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.err = err
}

func (s *testStore) Create(ctx context.Context, t *api.Task) (int64, error) {
	if err := s.fail(); err != nil {
		return 0, err
	}
	return s.DB.Create(ctx, t)
}

func (s *testStore) CreateWithCredentials(ctx context.Context, t *api.Task, c api.Credentials) (int64, error) {
	if err := s.fail(); err != nil {
		return 0, err
	}
	return s.DB.CreateWithCredentials(ctx, t, c)
}

func (s *testStore) Get(ctx context.Context, id int64) (*api.Task, error) {
	if err := s.fail(); err != nil {
		return nil, err
	}
	return s.DB.Get(ctx, id)
}

func (s *testStore) Update(ctx context.Context, t *api.Task, prev int64) error {
	if err := s.fail(); err != nil {
		return err
	}
	return s.DB.Update(ctx, t, prev)
}

func (s *testStore) Delete(ctx context.Context, id int64) error {
	if err := s.fail(); err != nil {
		return err
	}
	err := s.DB.Delete(ctx, id)
	if err == nil {
		s.mu.Lock()
		s.deleted = append(s.deleted, id)
		s.mu.Unlock()
	}
	return err
}

func (s *testStore) List(ctx context.Context) ([]store.Record, error) {
	if err := s.fail(); err != nil {
		return nil, err
	}
	return s.DB.List(ctx)
}

func (s *testStore) Page(ctx context.Context, offset, limit int) ([]store.Record, int, error) {
	if err := s.fail(); err != nil {
		return nil, 0, err
	}
	return s.DB.Page(ctx, offset, limit)
}

func (s *testStore) Status(ctx context.Context, id int64) (*api.Status, error) {
	if err := s.fail(); err != nil {
		return nil, err
	}
	return s.DB.Status(ctx, id)
}

func (s *testStore) Ping(ctx context.Context) error {
	if err := s.fail(); err != nil {
		return err
	}
	return s.DB.Ping(ctx)
}

// task reads a stored task.
func (s *testStore) task(t *testing.T, id int64) api.Task {
	t.Helper()
	task, err := s.DB.Get(t.Context(), id)
	if err != nil {
		t.Fatalf("task %d: %v", id, err)
	}
	return *task
}

// count is the number of stored tasks.
func (s *testStore) count(t *testing.T) int {
	t.Helper()
	recs, err := s.DB.List(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return len(recs)
}

// setStatus writes task id's status as its worker would: holding the task's lock.
func (s *testStore) setStatus(t *testing.T, id int64, st api.Status) {
	t.Helper()
	s.mu.Lock()
	rec := s.records[id]
	if rec == nil {
		rec = s.DB.TaskRecord(id, "test worker")
		s.records[id] = rec
	}
	s.mu.Unlock()
	if _, err := rec.Lock(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := rec.SaveStatus(t.Context(), &st); err != nil {
		t.Fatal(err)
	}
}

// launchCall is one call of Launch as the launcher saw it.
type launchCall struct {
	Task  api.Task
	Creds *api.Credentials
}

// testLauncher is jobs/local with a record of what the dispatcher asked, and switches that make
// its calls fail the way a scheduler does.
type testLauncher struct {
	*local.Launcher
	mu                                              sync.Mutex
	launches                                        []launchCall
	stops, removes, restarts                        []int64
	launchErr, stopErr, removeErr, jobsErr, waitErr error
}

var _ Launcher = (*testLauncher)(nil)

func (l *testLauncher) set(p *error, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	*p = err
}

func (l *testLauncher) get(p *error) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return *p
}

func (l *testLauncher) Launch(ctx context.Context, t *api.Task, creds *api.Credentials) error {
	var c *api.Credentials
	if creds != nil {
		cc := *creds
		c = &cc
	}
	l.mu.Lock()
	l.launches = append(l.launches, launchCall{Task: *copyTask(t), Creds: c})
	err := l.launchErr
	l.mu.Unlock()
	if err != nil {
		return err
	}
	return l.Launcher.Launch(ctx, copyTask(t), creds)
}

func (l *testLauncher) Stop(ctx context.Context, id int64) error {
	l.mu.Lock()
	l.stops = append(l.stops, id)
	err := l.stopErr
	l.mu.Unlock()
	if err != nil {
		return err
	}
	return l.Launcher.Stop(ctx, id)
}

func (l *testLauncher) Remove(ctx context.Context, id int64) error {
	l.mu.Lock()
	l.removes = append(l.removes, id)
	err := l.removeErr
	l.mu.Unlock()
	if err != nil {
		return err
	}
	return l.Launcher.Remove(ctx, id)
}

func (l *testLauncher) Restart(ctx context.Context, id int64) error {
	l.mu.Lock()
	l.restarts = append(l.restarts, id)
	l.mu.Unlock()
	return l.Launcher.Restart(ctx, id)
}

func (l *testLauncher) Jobs(ctx context.Context, ids []int64) (map[int64]*api.JobInfo, error) {
	if err := l.get(&l.jobsErr); err != nil {
		return nil, err
	}
	return l.Launcher.Jobs(ctx, ids)
}

func (l *testLauncher) Job(ctx context.Context, id int64) (*api.JobInfo, error) {
	if err := l.get(&l.jobsErr); err != nil {
		return nil, err
	}
	return l.Launcher.Job(ctx, id)
}

func (l *testLauncher) Inventory(ctx context.Context) (map[int64]jobs.Held, error) {
	if err := l.get(&l.jobsErr); err != nil {
		return nil, err
	}
	return l.Launcher.Inventory(ctx)
}

func (l *testLauncher) Ping(ctx context.Context) error {
	if err := l.get(&l.jobsErr); err != nil {
		return err
	}
	return l.Launcher.Ping(ctx)
}

func (l *testLauncher) WaitAddr(ctx context.Context, id int64) (string, error) {
	if err := l.get(&l.waitErr); err != nil {
		return "", err
	}
	return l.Launcher.WaitAddr(ctx, id)
}

func (l *testLauncher) restarted() []int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.restarts)
}

func (l *testLauncher) calls() (launches []launchCall, stops, removes []int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.launches), slices.Clone(l.stops), slices.Clone(l.removes)
}

// copyTask round-trips through JSON, as a real store does, so that nothing is shared with the
// caller.
func copyTask(t *api.Task) *api.Task {
	b, err := json.Marshal(t)
	if err != nil {
		panic(err)
	}
	var c api.Task
	if err := json.Unmarshal(b, &c); err != nil {
		panic(err)
	}
	return &c
}

// standIn is the workers' run function: it serves nothing and waits to be stopped.
func standIn(ctx context.Context, _ *api.Task, _ api.Credentials, _ net.Listener) error {
	<-ctx.Done()
	return nil
}

// Test credentials of the API.
const (
	testUser     = "replicator"
	testPassword = "dtsfor3.1415926"
	// seedPassword is the MySQL password of the seed document's examples.
	seedPassword = "IYQBXGil84d44ee92cLjLHankV2rVyCg+"
)

// harness is a dispatcher on the embedded store and the local launcher, driven through fiber's
// app.Test.
type harness struct {
	t        *testing.T
	srv      *Server
	store    *testStore
	launcher *testLauncher
	logs     *syncBuffer
}

// syncBuffer is a log sink safe for concurrent handlers.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

func newHarness(t *testing.T, change ...func(*Config)) *harness {
	t.Helper()
	db, err := bolt.Open(filepath.Join(t.TempDir(), "dts.db"))
	if err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	log := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	ll, err := local.New(local.Config{Run: standIn, Secrets: db, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = ll.Close(ctx)
		db.Close()
	})
	h := &harness{t: t, store: &testStore{DB: db, records: map[int64]*bolt.TaskRecord{}}, launcher: &testLauncher{Launcher: ll}, logs: logs}
	cfg := Config{
		Store:            h.store,
		Launcher:         h.launcher,
		AuthUser:         testUser,
		AuthPassword:     testPassword,
		PlacementTimeout: time.Second,
		Location:         time.UTC,
		Logger:           log,
	}
	for _, f := range change {
		f(&cfg)
	}
	srv, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	h.srv = srv
	return h
}

// response is a decoded reply: the HTTP status, the headers and the envelope.
type response struct {
	Status int
	Header http.Header
	Raw    string
	Env    api.Envelope[json.RawMessage]
	// Keys are the envelope's top-level keys, to check its exact shape.
	Keys []string
}

// do sends a request with the API's Basic auth.
func (h *harness) do(method, path, body string) *response {
	h.t.Helper()
	return h.doAuth(method, path, body, "Basic "+basic(testUser, testPassword))
}

// doAuth sends a request with the given Authorization header ("" sends none).
func (h *harness) doAuth(method, path, body, auth string) *response {
	h.t.Helper()
	return h.doHeaders(method, path, body, map[string]string{"Content-Type": "application/json", "Authorization": auth})
}

// doHeaders sends a request with exactly the given headers; an empty value sends none.
func (h *harness) doHeaders(method, path, body string, headers map[string]string) *response {
	h.t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req := httptest.NewRequest(method, path, r)
	for k, v := range headers {
		if v != "" {
			req.Header.Set(k, v)
		}
	}
	resp, err := h.srv.App().Test(req, 10_000)
	if err != nil {
		h.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		h.t.Fatal(err)
	}
	out := &response{Status: resp.StatusCode, Header: resp.Header, Raw: string(raw)}
	if err := json.Unmarshal(raw, &out.Env); err != nil {
		h.t.Fatalf("%s %s: HTTP %d, body is not an envelope: %v: %s", method, path, resp.StatusCode, err, raw)
	}
	var keys map[string]json.RawMessage
	if err := json.Unmarshal(raw, &keys); err != nil {
		h.t.Fatal(err)
	}
	for k := range keys {
		out.Keys = append(out.Keys, k)
	}
	slices.Sort(out.Keys)
	return out
}

// data decodes the envelope's data into v.
func (r *response) data(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.Env.Data, v); err != nil {
		t.Fatalf("decode data %s: %v", r.Env.Data, err)
	}
}

// wantCode checks the envelope code, the HTTP status and Kratos-Status-Code that go with it,
// and that the message contains each of substrings.
func (r *response) wantCode(t *testing.T, code int, substrings ...string) {
	t.Helper()
	if r.Env.Code != code {
		t.Fatalf("code %d, want %d: %s", r.Env.Code, code, r.Raw)
	}
	if r.Status != api.HTTPStatus(code) {
		t.Errorf("HTTP status %d, want %d: %s", r.Status, api.HTTPStatus(code), r.Raw)
	}
	if got := r.Header.Get(api.StatusHeader); got != fmt.Sprint(code) {
		t.Errorf("%s: %q, want %q", api.StatusHeader, got, fmt.Sprint(code))
	}
	for _, s := range substrings {
		if !strings.Contains(r.Env.Message, s) {
			t.Errorf("message %q does not contain %q", r.Env.Message, s)
		}
	}
}

func basic(user, pass string) string {
	req, _ := http.NewRequest(http.MethodGet, "http://x", nil)
	req.SetBasicAuth(user, pass)
	return strings.TrimPrefix(req.Header.Get("Authorization"), "Basic ")
}

// seedBody is the seed document's submit body with the given source port, Kafka address and topic.
func seedBody(port int, kafka, topic string) string {
	return fmt.Sprintf(`{"task":{"source":{"host":"127.0.0.1","port":%d,"username":"xes_replicator","password":"IYQBXGil84d44ee92cLjLHankV2rVyCg+"},"kafka":{"addr":%q,"topic":%q,"flat_format":false},"filters":[{"dbname":"oa_data_service","match":"/xes_class_students_\\d+/","filter":""},{"dbname":"oa_data_service","match":"check_delay","filter":""}],"incr":true}}`, port, kafka, topic)
}
