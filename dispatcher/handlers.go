package dispatcher

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/dtsrepl/dts/api"
	"github.com/dtsrepl/dts/jobs"
	"github.com/dtsrepl/dts/precheck"
	"github.com/dtsrepl/dts/store"
	"github.com/dtsrepl/dts/worker/filter"
)

// validate checks a spec completely: its structure, then its filters as the worker will compile
// them, so a bad regex or row expression is refused here rather than failing the worker.
func validate(spec *api.TaskSpec, alter bool) error {
	var err error
	if alter {
		err = spec.ValidateAlter()
	} else {
		err = spec.Validate()
	}
	if err != nil {
		return err
	}
	if _, err := filter.Compile(spec.Filters); err != nil {
		return err
	}
	return nil
}

// credentials picks the source account of a submitted spec: its own, or the dispatcher's
// default (isDefault) when the spec gives only host and port.
func (s *Server) credentials(src *api.Source) (creds *api.Credentials, isDefault bool, err error) {
	if src.Username != "" {
		return &api.Credentials{Username: src.Username, Password: src.Password}, false, nil
	}
	c, err := s.defaultCredentials(src.Host)
	return c, true, err
}

// defaultCredentials is the default replication account, if it may log in to host.
func (s *Server) defaultCredentials(host string) (*api.Credentials, error) {
	if s.cfg.DefaultCredentials == nil || s.cfg.DefaultCredentials.Username == "" {
		return nil, api.FieldError("task.source.username", "is required: this dispatcher has no default replication account (--source-user)")
	}
	if !s.cfg.SourceAllow.Allows(host) {
		return nil, api.FieldError("task.source.username", "is required for %s: the dispatcher's default replication account may only log in to the hosts of its allow-list (--source-allow; names are matched as written, never resolved); give username and password", host)
	}
	c := *s.cfg.DefaultCredentials
	return &c, nil
}

func (s *Server) submit(c *fiber.Ctx) error {
	spec, err := decodeSubmit(c.Body())
	if err != nil {
		return err
	}
	if err := validate(spec, false); err != nil {
		return err
	}
	creds, isDefault, err := s.credentials(spec.Source)
	if err != nil {
		return err
	}
	force, err := forced(c)
	if err != nil {
		return err
	}
	// The server id among tasks is checked below, as a -409 that force does not override.
	refused, wasForced := s.gate(c.UserContext(), precheck.Input{Spec: spec, Creds: creds, Parts: precheck.All()}, force)
	if refused != nil {
		return s.refuse(c, "submit", refused)
	}
	stored := spec.Redacted()
	stored.Source.Username = creds.Username
	incr := spec.IsIncr()
	stored.Incr = &incr
	now := time.Now()
	t := &api.Task{Spec: *stored, Version: 1, Desired: api.DesiredRunning, DefaultAccount: isDefault, CreatedAt: now, UpdatedAt: now,
		History: firstRevision(now, wasForced)}
	ctx := c.UserContext()
	// An explicit server id is checked before anything is stored; the default one depends on the
	// id, so it is checked after Create, against every other task (see checkServerID).
	if err := s.checkServerID(ctx, stored.Source, 0); err != nil {
		return err
	}
	var id int64
	if cs, ok := s.cfg.Store.(CredentialStore); ok {
		id, err = cs.CreateWithCredentials(ctx, t, *creds)
	} else {
		id, err = s.cfg.Store.Create(ctx, t)
	}
	if err != nil {
		return fmt.Errorf("store task: %w", err)
	}
	t.ID = id
	if err := s.checkServerID(ctx, stored.Source, id); err != nil {
		rctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if derr := s.cfg.Store.Delete(rctx, id); derr != nil {
			s.log.Error("undo store of a refused submit", "task", id, "err", derr)
		}
		return err
	}
	if err := s.cfg.Launcher.Launch(ctx, t, creds); err != nil {
		// Undo, so a failed submit leaves nothing behind.
		rctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if rerr := s.cfg.Launcher.Remove(rctx, id); rerr != nil {
			s.log.Error("undo launch of a failed submit", "task", id, "err", rerr)
		}
		if derr := s.cfg.Store.Delete(rctx, id); derr != nil {
			s.log.Error("undo store of a failed submit", "task", id, "err", derr)
		}
		return fmt.Errorf("launch task %d: %w", id, err)
	}
	s.log.Info("task submitted", "task", id, "source", spec.Source.Addr(), "kafka", spec.Kafka.Addr)
	wctx, cancel := context.WithTimeout(ctx, s.cfg.PlacementTimeout)
	defer cancel()
	addr, err := s.cfg.Launcher.WaitAddr(wctx, id)
	if err != nil {
		// Not placed in time: the task list shows the address once the worker runs.
		s.log.Info("worker not placed within the placement timeout", "task", id, "err", err)
		addr = ""
	}
	return ok(c, api.SubmitResponse{Addr: addr, ID: id})
}

// checkServerID refuses a source whose effective replica server id (explicit, or the default of
// task id) is another task's on the same source (host, case-insensitive, and port): the server
// would disconnect one replica whenever the other connects. With id 0 only an explicit id is
// checked. Run after Create, the check sees every task created before it; of two concurrent
// submits with one id at least one sees the other, so both may be refused but never both kept.
func (s *Server) checkServerID(ctx context.Context, src *api.Source, id int64) error {
	if src == nil || id == 0 && src.ServerID == 0 {
		return nil
	}
	mine := src.EffectiveServerID(id)
	recs, err := s.cfg.Store.List(ctx)
	if err != nil {
		return fmt.Errorf("list tasks to check the server id: %w", err)
	}
	for _, r := range recs {
		o := r.Task.Spec.Source
		if r.Task.ID == id || o == nil || o.Port != src.Port || !strings.EqualFold(o.Host, src.Host) {
			continue
		}
		if o.EffectiveServerID(r.Task.ID) == mine {
			how := "its explicit source.server_id"
			if o.ServerID == 0 {
				how = fmt.Sprintf("its default, 1000000000 + %d", r.Task.ID)
			}
			return api.Errorf(api.CodeConflict, "task.source.server_id: %d is already the server id of task %d on %s (%s); two replicas with one server id disconnect each other over and over: give this task another source.server_id", mine, r.Task.ID, src.Addr(), how)
		}
	}
	return nil
}

func (s *Server) alter(c *fiber.Ctx) error {
	id, err := taskID(c)
	if err != nil {
		return err
	}
	spec, err := decodeSubmit(c.Body())
	if err != nil {
		return err
	}
	if err := validate(spec, true); err != nil {
		return err
	}
	ctx := c.UserContext()
	cur, err := s.cfg.Store.Get(ctx, id)
	if err != nil {
		return describeErr(id, err)
	}
	next := spec.Redacted()
	var creds *api.Credentials
	useDefault := cur.DefaultAccount
	if spec.Source != nil {
		old := cur.Spec.Source
		if old == nil || spec.Source.Host != old.Host || spec.Source.Port != old.Port {
			return api.Errorf(api.CodeConflict, "task.source: a task's source cannot change (it is %s); submit a new task for another server", old.Addr())
		}
		if spec.Source.ServerID != 0 && spec.Source.ServerID != old.ServerID {
			return api.Errorf(api.CodeConflict, "task.source.server_id: cannot change")
		}
		if spec.Source.Username != "" && spec.Source.Password == "" && spec.Source.Username != old.Username {
			return api.FieldError("task.source.password", "is required to change the source account to %q", spec.Source.Username)
		}
		if spec.Source.Username != "" && spec.Source.Password != "" {
			// New or re-sent credentials: a rotation reaches the worker through the launcher.
			creds = &api.Credentials{Username: spec.Source.Username, Password: spec.Source.Password}
			next.Source.Username = spec.Source.Username
			useDefault = false
		} else {
			next.Source.Username = old.Username
		}
		next.Source.ServerID = old.ServerID
	} else {
		next.Source = cur.Spec.Source
	}
	if useDefault {
		// Checked again: the allow-list may have changed since the task was submitted. The
		// account is handed to the launcher again, which also brings a rotated default password
		// to the worker.
		if creds, err = s.defaultCredentials(next.Source.Host); err != nil {
			return err
		}
	}
	if spec.Incr != nil && *spec.Incr != cur.Spec.IsIncr() {
		return api.Errorf(api.CodeConflict, "task.incr: cannot change (it is %v); submit a new task to copy the tables again", cur.Spec.IsIncr())
	}
	incr := cur.Spec.IsIncr()
	next.Incr = &incr

	t := *cur
	t.Spec = *next
	t.DefaultAccount = useDefault
	changed := !cur.Spec.Equal(next) || cur.DefaultAccount != useDefault
	if changed {
		t.Version = cur.Version + 1
		t.UpdatedAt = time.Now()
		h, refused, err := s.alterPrecheck(c, cur, &t, spec, creds)
		if err != nil {
			return err
		}
		if refused != nil {
			return s.refuse(c, "alter", refused)
		}
		t.History = h
		if err := s.cfg.Store.Update(ctx, &t, cur.Version); err != nil {
			return describeErr(id, err)
		}
		s.log.Info("task altered", "task", id, "version", t.Version)
	}
	// New credentials always reach the launcher, which only stores them for a stopped task: the
	// next start must not use the old ones. An alter with the account is also how a task that
	// has none is repaired.
	if creds != nil || changed && cur.Desired == api.DesiredRunning {
		if err := s.cfg.Launcher.Launch(ctx, &t, creds); err != nil {
			return fmt.Errorf("apply the altered task %d: %w", id, err)
		}
	}
	return ok(c, nil)
}

func (s *Server) list(c *fiber.Ctx) error {
	perPage, err := queryInt(c, "per_page", 20, 1, 1000)
	if err != nil {
		return err
	}
	page, err := queryInt(c, "page", 1, 1, 1<<30)
	if err != nil {
		return err
	}
	ctx := c.UserContext()
	recs, err := s.cfg.Store.List(ctx)
	if err != nil {
		return fmt.Errorf("list tasks: %w", err)
	}
	jobsByID := s.jobs(ctx)
	sort.Slice(recs, func(i, j int) bool { return recs[i].Task.ID < recs[j].Task.ID })
	counts := map[api.State]int{}
	all := make([]api.TaskSummary, len(recs))
	for i, r := range recs {
		all[i] = summarize(r, jobsByID[r.Task.ID], s.cfg.Location)
		counts[all[i].State]++
	}
	s.metrics.observeStates(counts)
	out := api.TaskList{Tasks: []api.TaskSummary{}, Total: len(all)}
	if from := (page - 1) * perPage; from < len(all) {
		out.Tasks = all[from:min(from+perPage, len(all))]
	}
	return ok(c, out)
}

// jobs asks the launcher for its view; without it the list still shows what workers reported.
func (s *Server) jobs(ctx context.Context) map[int64]*api.JobInfo {
	jctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	m, err := s.cfg.Launcher.Jobs(jctx)
	if err != nil {
		s.log.Warn("scheduler view unavailable; listing worker reports only", "err", err)
		return nil
	}
	return m
}

func (s *Server) get(c *fiber.Ctx) error {
	id, err := taskID(c)
	if err != nil {
		return err
	}
	ctx := c.UserContext()
	t, err := s.cfg.Store.Get(ctx, id)
	if err != nil {
		return describeErr(id, err)
	}
	st, err := s.cfg.Store.Status(ctx, id)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return describeErr(id, err)
	}
	job, err := s.cfg.Launcher.Job(ctx, id)
	if err != nil {
		// Without the scheduler's view the detail still shows what the worker reported.
		s.log.Warn("scheduler view unavailable", "task", id, "err", err)
		job = nil
	}
	d := api.TaskDetail{
		TaskSummary: summarize(store.Record{Task: t, Status: st}, job, s.cfg.Location),
		Spec:        t.Spec.Redacted(),
		SpecVersion: t.Version,
		CreatedAt:   api.FormatTime(t.CreatedAt, s.cfg.Location),
		Status:      st,
		Job:         job,
		History:     historyView(t, st, s.cfg.Location),
	}
	return ok(c, d)
}

func (s *Server) stop(c *fiber.Ctx) error {
	return s.setDesired(c, api.DesiredStopped)
}

func (s *Server) start(c *fiber.Ctx) error {
	return s.setDesired(c, api.DesiredRunning)
}

// setDesired records what the operator wants and makes the launcher do it. The spec version does
// not change: the worker only cares about its process being stopped or started.
func (s *Server) setDesired(c *fiber.Ctx, d api.Desired) error {
	id, err := taskID(c)
	if err != nil {
		return err
	}
	ctx := c.UserContext()
	cur, err := s.cfg.Store.Get(ctx, id)
	if err != nil {
		return describeErr(id, err)
	}
	var creds *api.Credentials
	if d == api.DesiredRunning && cur.DefaultAccount && cur.Spec.Source != nil {
		if creds, err = s.defaultCredentials(cur.Spec.Source.Host); err != nil {
			return err
		}
	}
	wasRunning := cur.Desired == api.DesiredRunning
	if cur.Desired != d {
		t := *cur
		t.Desired = d
		t.UpdatedAt = time.Now()
		if err := s.cfg.Store.Update(ctx, &t, cur.Version); err != nil {
			return describeErr(id, err)
		}
		cur = &t
	}
	if d == api.DesiredStopped {
		err = s.cfg.Launcher.Stop(ctx, id)
	} else {
		err = s.cfg.Launcher.Launch(ctx, cur, creds)
		if err == nil && wasRunning {
			err = s.retryFailed(ctx, id)
		}
	}
	var stuck *jobs.StopTimeoutError
	if errors.As(err, &stuck) {
		return api.Errorf(api.CodeUnavailable, "%s task %d: %v; %s", map[api.Desired]string{api.DesiredStopped: "stop", api.DesiredRunning: "start"}[d], id, err, s.lastStatus(ctx, id))
	}
	if err != nil {
		return fmt.Errorf("%s task %d: %w", map[api.Desired]string{api.DesiredStopped: "stop", api.DesiredRunning: "start"}[d], id, err)
	}
	s.log.Info("task "+string(d), "task", id)
	return ok(c, nil)
}

func (s *Server) delete(c *fiber.Ctx) error {
	id, err := taskID(c)
	if err != nil {
		return err
	}
	ctx := c.UserContext()
	if _, err := s.cfg.Store.Get(ctx, id); err != nil {
		return describeErr(id, err)
	}
	// A worker that does not stop does not keep its task: deleted, the task's lock is gone
	// (store/bolt revokes it, a Consul session loses its key), so the worker can no longer save
	// a position, and it ends when it returns. A scheduler that cannot be reached keeps the task,
	// so that the delete can be retried.
	var out api.DeleteResponse
	err = s.cfg.Launcher.Remove(ctx, id)
	var stuck *jobs.StopTimeoutError
	switch {
	case errors.As(err, &stuck):
		out.LeftRunning = fmt.Sprintf("%v; %s", err, s.lastStatus(ctx, id))
	case err != nil:
		return fmt.Errorf("remove the worker of task %d: %w", id, err)
	}
	if err := s.cfg.Store.Delete(ctx, id); err != nil {
		return describeErr(id, err)
	}
	if out.LeftRunning != "" {
		s.log.Warn("task deleted; its worker was left running", "task", id, "left_running", out.LeftRunning, "trace_id", traceID(c.Context()))
		return ok(c, out)
	}
	s.log.Info("task deleted", "task", id)
	return ok(c, nil)
}

// retryFailed restarts the worker of a running task that reported Failed: such a worker waits
// for a spec change, so without a restart start would change nothing while the fix may lie
// outside dts (an account created, a binlog setting changed). A task that was stopped got a
// fresh worker from Launch already.
func (s *Server) retryFailed(ctx context.Context, id int64) error {
	st, err := s.cfg.Store.Status(ctx, id)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	if st == nil || st.State != api.StateFailed {
		return nil
	}
	if err := s.cfg.Launcher.Restart(ctx, id); err != nil {
		return fmt.Errorf("restart the failed worker: %w", err)
	}
	s.log.Info("failed task restarted", "task", id, "failure", st.Message)
	return nil
}

// lastStatus says what task id's worker last reported, for errors about a worker that does not
// answer.
func (s *Server) lastStatus(ctx context.Context, id int64) string {
	st, err := s.cfg.Store.Status(ctx, id)
	switch {
	case err != nil:
		return "its last status could not be read: " + err.Error()
	case st == nil:
		return "it has reported no status"
	}
	return fmt.Sprintf("its last status: %s (%q) at %s", st.State, st.Message, api.FormatTime(st.UpdatedAt, s.cfg.Location))
}

func (s *Server) healthz(c *fiber.Ctx) error {
	ctx, cancel := context.WithTimeout(c.UserContext(), 3*time.Second)
	defer cancel()
	if err := s.cfg.Store.Ping(ctx); err != nil {
		return fmt.Errorf("task store: %w", errors.Join(store.ErrUnavailable, err))
	}
	if err := s.cfg.Launcher.Ping(ctx); err != nil {
		return fmt.Errorf("scheduler: %w", errors.Join(jobs.ErrUnavailable, err))
	}
	return ok(c, fiber.Map{"store": "ok", "scheduler": "ok"})
}

func queryInt(c *fiber.Ctx, name string, def, lo, hi int) (int, error) {
	v := c.Query(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		return 0, api.FieldError(name, "must be between %d and %d, got %q", lo, hi, v)
	}
	return n, nil
}
