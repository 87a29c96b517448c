package dispatcher

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dtsrepl/dts/api"
	"github.com/dtsrepl/dts/jobs"
	"github.com/dtsrepl/dts/store"
)

// fakeStore is an in-memory Store with the semantics the dispatcher relies on: ids are never
// reused, Update is a compare-and-set on the version, and every error is a store sentinel.
// err, when set, is returned by every call (an outage).
type fakeStore struct {
	mu       sync.Mutex
	next     int64
	tasks    map[int64]api.Task
	statuses map[int64]api.Status
	err      error
	deleted  []int64
}

var _ Store = (*fakeStore)(nil)

func newFakeStore() *fakeStore {
	return &fakeStore{tasks: map[int64]api.Task{}, statuses: map[int64]api.Status{}}
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

func (s *fakeStore) Create(_ context.Context, t *api.Task) (int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return 0, s.err
	}
	if t.IdempotencyKey != "" {
		for id, o := range s.tasks {
			if o.IdempotencyKey == t.IdempotencyKey {
				return 0, fmt.Errorf("create task: %w", &store.DuplicateError{ID: id})
			}
		}
	}
	s.next++
	t.ID = s.next
	s.tasks[t.ID] = *copyTask(t)
	return t.ID, nil
}

func (s *fakeStore) Get(_ context.Context, id int64) (*api.Task, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return nil, s.err
	}
	t, ok := s.tasks[id]
	if !ok {
		return nil, fmt.Errorf("get task %d: %w", id, store.ErrNotFound)
	}
	return copyTask(&t), nil
}

func (s *fakeStore) Update(_ context.Context, t *api.Task, prev int64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return s.err
	}
	cur, ok := s.tasks[t.ID]
	if !ok {
		return fmt.Errorf("update task %d: %w", t.ID, store.ErrNotFound)
	}
	if cur.Version != prev {
		return fmt.Errorf("update task %d: %w", t.ID, store.ErrConflict)
	}
	s.tasks[t.ID] = *copyTask(t)
	return nil
}

func (s *fakeStore) Delete(_ context.Context, id int64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return s.err
	}
	if _, ok := s.tasks[id]; !ok {
		return fmt.Errorf("delete task %d: %w", id, store.ErrNotFound)
	}
	delete(s.tasks, id)
	delete(s.statuses, id)
	s.deleted = append(s.deleted, id)
	return nil
}

func (s *fakeStore) List(context.Context) ([]store.Record, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return nil, s.err
	}
	var out []store.Record
	for id, t := range s.tasks {
		r := store.Record{Task: copyTask(&t)}
		if st, ok := s.statuses[id]; ok {
			r.Status = &st
		}
		out = append(out, r)
	}
	// A store promises id order; the dispatcher sorts anyway. Reverse it to prove that.
	slices.SortFunc(out, func(a, b store.Record) int { return int(b.Task.ID - a.Task.ID) })
	return out, nil
}

func (s *fakeStore) Page(ctx context.Context, offset, limit int) ([]store.Record, int, error) {
	recs, err := s.List(ctx)
	if err != nil {
		return nil, 0, err
	}
	slices.SortFunc(recs, func(a, b store.Record) int { return int(a.Task.ID - b.Task.ID) })
	if offset >= len(recs) {
		return nil, len(recs), nil
	}
	return recs[offset:min(offset+limit, len(recs))], len(recs), nil
}

func (s *fakeStore) Status(_ context.Context, id int64) (*api.Status, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return nil, s.err
	}
	if _, ok := s.tasks[id]; !ok {
		return nil, fmt.Errorf("status of task %d: %w", id, store.ErrNotFound)
	}
	st, ok := s.statuses[id]
	if !ok {
		return nil, nil
	}
	return &st, nil
}

func (s *fakeStore) Ping(context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

func (s *fakeStore) task(t *testing.T, id int64) api.Task {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	task, ok := s.tasks[id]
	if !ok {
		t.Fatalf("task %d is not stored", id)
	}
	return task
}

func (s *fakeStore) setStatus(id int64, st api.Status) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.statuses[id] = st
}

// launchCall is one call of Launch as the fake launcher saw it.
type launchCall struct {
	Task  api.Task
	Creds *api.Credentials
}

// fakeLauncher records what the dispatcher asks of the scheduler.
type fakeLauncher struct {
	mu        sync.Mutex
	launches  []launchCall
	stops     []int64
	removes   []int64
	restarts  []int64
	jobs      map[int64]*api.JobInfo
	creds     map[int64]bool // tasks whose credentials were handed over
	addr      string
	launchErr error
	stopErr   error
	removeErr error
	jobsErr   error
	waitErr   error
}

var _ Launcher = (*fakeLauncher)(nil)

func newFakeLauncher() *fakeLauncher {
	return &fakeLauncher{jobs: map[int64]*api.JobInfo{}, creds: map[int64]bool{}, addr: "127.0.0.1:4646"}
}

func (l *fakeLauncher) Launch(_ context.Context, t *api.Task, creds *api.Credentials) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	var c *api.Credentials
	if creds != nil {
		cc := *creds
		c = &cc
	}
	l.launches = append(l.launches, launchCall{Task: *copyTask(t), Creds: c})
	if l.launchErr != nil {
		return l.launchErr
	}
	if c != nil {
		l.creds[t.ID] = true
	}
	l.jobs[t.ID] = &api.JobInfo{ID: fmt.Sprintf("dts-task-%d", t.ID), Status: api.JobRunning, Addr: l.addr}
	return nil
}

func (l *fakeLauncher) Stop(_ context.Context, id int64) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.stops = append(l.stops, id)
	if l.stopErr != nil {
		return l.stopErr
	}
	if j := l.jobs[id]; j != nil {
		j.Status = api.JobStopped
	}
	return nil
}

func (l *fakeLauncher) Remove(_ context.Context, id int64) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.removes = append(l.removes, id)
	if l.removeErr != nil {
		return l.removeErr
	}
	delete(l.jobs, id)
	delete(l.creds, id)
	return nil
}

func (l *fakeLauncher) Restart(_ context.Context, id int64) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.restarts = append(l.restarts, id)
	return nil
}

func (l *fakeLauncher) restarted() []int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.restarts)
}

func (l *fakeLauncher) Jobs(_ context.Context, ids []int64) (map[int64]*api.JobInfo, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.jobsErr != nil {
		return nil, l.jobsErr
	}
	out := make(map[int64]*api.JobInfo, len(l.jobs))
	if ids == nil {
		for id := range l.jobs {
			ids = append(ids, id)
		}
	}
	for _, id := range ids {
		if j := l.jobs[id]; j != nil {
			c := *j
			out[id] = &c
		}
	}
	return out, nil
}

func (l *fakeLauncher) Inventory(context.Context) (map[int64]jobs.Held, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.jobsErr != nil {
		return nil, l.jobsErr
	}
	out := map[int64]jobs.Held{}
	for id := range l.creds {
		out[id] = jobs.Held{Credentials: true}
	}
	for id, j := range l.jobs {
		h := out[id]
		h.Job, h.Running = true, j.Status != api.JobStopped
		out[id] = h
	}
	return out, nil
}

func (l *fakeLauncher) Current(*api.Task, jobs.Held) bool { return true }

func (l *fakeLauncher) Job(ctx context.Context, id int64) (*api.JobInfo, error) {
	m, err := l.Jobs(ctx, []int64{id})
	if err != nil {
		return nil, err
	}
	return m[id], nil
}

func (l *fakeLauncher) Ping(context.Context) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.jobsErr
}

func (l *fakeLauncher) WaitAddr(ctx context.Context, id int64) (string, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.waitErr != nil {
		return "", l.waitErr
	}
	if l.jobs[id] == nil {
		return "", fmt.Errorf("task %d is not running", id)
	}
	return l.addr, nil
}

func (l *fakeLauncher) calls() (launches []launchCall, stops, removes []int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.launches), slices.Clone(l.stops), slices.Clone(l.removes)
}

// Test credentials of the API.
const (
	testUser     = "replicator"
	testPassword = "dtsfor3.1415926"
	// seedPassword is the MySQL password of the seed document's examples.
	seedPassword = "IYQBXGil84d44ee92cLjLHankV2rVyCg+"
)

// harness is a dispatcher on fakes, driven through fiber's app.Test.
type harness struct {
	t        *testing.T
	srv      *Server
	store    *fakeStore
	launcher *fakeLauncher
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
	h := &harness{t: t, store: newFakeStore(), launcher: newFakeLauncher(), logs: &syncBuffer{}}
	cfg := Config{
		Store:            h.store,
		Launcher:         h.launcher,
		AuthUser:         testUser,
		AuthPassword:     testPassword,
		PlacementTimeout: time.Second,
		Location:         time.UTC,
		Logger:           slog.New(slog.NewJSONHandler(h.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
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
