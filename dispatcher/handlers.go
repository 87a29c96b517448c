package dispatcher

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/dtsrepl/dts/api"
	"github.com/dtsrepl/dts/internal/failpoint"
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

// credentials picks the credentials of a submitted spec: its source account, or the
// dispatcher's default (isDefault) when the spec gives only host and port, with its Kafka
// secrets, which are stored with the account and never in the spec.
func (s *Server) credentials(spec *api.TaskSpec) (creds *api.Credentials, isDefault bool, err error) {
	src := spec.Source
	if src.Username != "" {
		creds = &api.Credentials{Username: src.Username, Password: src.Password}
	} else if creds, err = s.defaultCredentials(src.Host); err != nil {
		return nil, true, err
	}
	creds.KafkaSASLPassword, creds.KafkaKeyPEM = spec.Kafka.Secrets()
	return creds, src.Username == "", nil
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
	key, err := idempotencyKey(c)
	if err != nil {
		return err
	}
	creds, isDefault, err := s.credentials(spec)
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
	t := api.NewTask(spec, creds.Username, isDefault, time.Now())
	t.History = firstRevision(t.CreatedAt, wasForced)
	if key != "" {
		t.IdempotencyKey = api.IdempotencyKeyHash(key)
	}
	ctx := c.UserContext()
	// An explicit server id is checked before anything is stored; the default one depends on the
	// id, so it is checked after Create, against every other task (see checkServerID).
	if err := s.checkServerID(ctx, t, 0); err != nil {
		return err
	}
	id, err := s.create(ctx, t, creds)
	var dup *store.DuplicateError
	if errors.As(err, &dup) {
		return s.resubmit(c, dup.ID, t, creds)
	}
	if err != nil {
		return fmt.Errorf("store task: %w", err)
	}
	t.ID = id
	// A dispatcher that dies here leaves a task without credentials or job: a retry with the
	// same Idempotency-Key completes it; without one the reconciler deletes it after its grace.
	failpoint.Hit("submit-after-create")
	if err := s.checkServerID(ctx, t, id); err != nil {
		s.undoSubmit(id, false)
		return err
	}
	lctx, cancel := s.backend(ctx)
	defer cancel()
	if err := s.cfg.Launcher.Launch(lctx, t, creds); err != nil {
		s.undoSubmit(id, true)
		return fmt.Errorf("launch task %d: %w", id, err)
	}
	failpoint.Hit("submit-after-launch")
	s.log.Info("task submitted", "task", id, "source", spec.Source.Addr(), "kafka", spec.Kafka.Addr)
	return ok(c, api.SubmitResponse{Addr: s.waitAddr(ctx, id), ID: id})
}

// create stores t, with creds where the store keeps them (dts dev: in the same transaction). It
// has the request's deadline rather than one call's: under many concurrent submits a create
// retries while others take the next id first (store/consul bounds each of its calls itself).
func (s *Server) create(ctx context.Context, t *api.Task, creds *api.Credentials) (int64, error) {
	if cs, ok := s.cfg.Store.(CredentialStore); ok {
		return cs.CreateWithCredentials(ctx, t, *creds)
	}
	return s.cfg.Store.Create(ctx, t)
}

// undoSubmit removes what a refused or failed submit stored, so that it leaves nothing behind.
// It has its own deadline: the request's may be what ended the submit.
func (s *Server) undoSubmit(id int64, launched bool) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*s.cfg.BackendTimeout)
	defer cancel()
	if launched {
		if err := s.cfg.Launcher.Remove(ctx, id); err != nil {
			s.log.Error("undo launch of a failed submit", "task", id, "err", err)
		}
	}
	if err := s.cfg.Store.Delete(ctx, id); err != nil {
		s.log.Error("undo store of a failed submit", "task", id, "err", err)
	}
}

// resubmit answers a submit whose Idempotency-Key task id already has: a client retrying after
// a lost answer gets that task, not a second one. The retry carries the account again, so a task
// whose first submit died before it launched is launched now (Launch is idempotent). A retry
// whose body differs is not a retry: -409.
func (s *Server) resubmit(c *fiber.Ctx, id int64, want *api.Task, creds *api.Credentials) error {
	ctx := c.UserContext()
	bctx, cancel := s.backend(ctx)
	defer cancel()
	cur, err := s.cfg.Store.Get(bctx, id)
	if err != nil {
		return describeErr(id, err)
	}
	if !cur.Spec.Equal(&want.Spec) || cur.DefaultAccount != want.DefaultAccount {
		return api.Errorf(api.CodeConflict, "%s: task %d was submitted with this key and another body; use a new key for another task", api.IdempotencyKeyHeader, id)
	}
	if cur.Desired == api.DesiredRunning {
		if err := s.cfg.Launcher.Launch(bctx, cur, creds); err != nil {
			return fmt.Errorf("launch task %d: %w", id, err)
		}
	}
	s.log.Info("submit retried: answered with the task its idempotency key made", "task", id)
	addr := ""
	if cur.Desired == api.DesiredRunning {
		addr = s.waitAddr(ctx, id)
	}
	return ok(c, api.SubmitResponse{Addr: addr, ID: id})
}

// waitAddr waits up to the placement timeout for the worker's address; "" when it is not
// placed in time (the task list shows it once the worker runs).
func (s *Server) waitAddr(ctx context.Context, id int64) string {
	wctx, cancel := context.WithTimeout(ctx, s.cfg.PlacementTimeout)
	defer cancel()
	addr, err := s.cfg.Launcher.WaitAddr(wctx, id)
	if err != nil {
		s.log.Info("worker not placed within the placement timeout", "task", id, "err", err)
		return ""
	}
	return addr
}

// checkServerID refuses a source whose effective replica server id (explicit, or the default of
// task id) is another task's on the same source (host, case-insensitive, and port): the server
// would disconnect one replica whenever the other connects. With id 0 only an explicit id is
// checked. Run after Create, the check sees every task created before it; of two concurrent
// submits with one id at least one sees the other, so both may be refused but never both kept.
//
// A task made by an earlier submit with t's idempotency key is that submit, retried: not
// another replica.
func (s *Server) checkServerID(ctx context.Context, t *api.Task, id int64) error {
	src := t.Spec.Source
	if src == nil || id == 0 && src.ServerID == 0 {
		return nil
	}
	mine := src.EffectiveServerID(id)
	ctx, cancel := s.backend(ctx)
	defer cancel()
	recs, err := s.cfg.Store.List(ctx)
	if err != nil {
		return fmt.Errorf("list tasks to check the server id: %w", err)
	}
	for _, r := range recs {
		o := r.Task.Spec.Source
		if r.Task.ID == id || o == nil || o.Port != src.Port || !strings.EqualFold(o.Host, src.Host) {
			continue
		}
		if t.IdempotencyKey != "" && r.Task.IdempotencyKey == t.IdempotencyKey {
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
	ctx, cancel := s.backend(c.UserContext())
	defer cancel()
	cur, err := s.current(ctx, id)
	if err != nil {
		return err
	}
	a, err := api.Alter(cur, spec, time.Now())
	if err != nil {
		return err
	}
	creds, err := s.alterCredentials(ctx, a)
	if err != nil {
		return err
	}
	if a.Changed {
		h, refused, err := s.alterPrecheck(c, cur, a.Task, creds)
		if err != nil {
			return err
		}
		if refused != nil {
			return s.refuse(c, "alter", refused)
		}
		a.Task.History = h
		// The precheck may have taken the backend calls' time: they get theirs again.
		ctx, cancel = s.backend(c.UserContext())
		defer cancel()
		if err := s.cfg.Store.Update(ctx, a.Task, cur.Version); err != nil {
			return describeErr(id, err)
		}
		s.log.Info("task altered", "task", id, "version", a.Task.Version)
	}
	// A dispatcher that dies here leaves the job of the old spec; the reconciler registers the
	// new one (jobs depend on the source, the destination and the resources).
	failpoint.Hit("alter-after-update")
	// New credentials always reach the launcher, which only stores them for a stopped task: the
	// next start must not use the old ones. An alter with the account is also how a task that
	// has none is repaired.
	if creds != nil || a.Changed && cur.Desired == api.DesiredRunning {
		if err := s.cfg.Launcher.Launch(ctx, a.Task, creds); err != nil {
			return fmt.Errorf("apply the altered task %d: %w", id, err)
		}
	}
	if a.KafkaSecretsChanged() {
		s.log.Info("task's Kafka secrets replaced", "task", id, "sasl_password", a.SASLPassword.String(), "key_pem", a.KeyPEM.String())
	}
	return ok(c, nil)
}

// alterCredentials returns the credentials an alter hands the launcher, nil when it changes
// none: the account the body gives or the default one (checked again against the allow-list,
// which may have changed since the submit, and handed on again, which also brings a rotated
// default password to the worker), with the Kafka secrets the body gives, and the stored ones
// where it keeps them. Those are read only when needed; if they cannot be, the answer names
// what the alter must carry instead.
func (s *Server) alterCredentials(ctx context.Context, a *api.Alteration) (*api.Credentials, error) {
	account := a.Credentials
	if a.UseDefault {
		var err error
		if account, err = s.defaultCredentials(a.Task.Spec.Source.Host); err != nil {
			return nil, err
		}
	}
	if account == nil && !a.KafkaSecretsChanged() {
		return nil, nil
	}
	var stored *api.Credentials
	if kept := a.Kept(account != nil); len(kept) > 0 {
		var err error
		if stored, err = s.readCredentials(ctx, a.Task.ID); err != nil {
			s.log.Warn("alter: the task's stored credentials cannot be read", "task", a.Task.ID, "err", err)
			return nil, api.Errorf(api.CodeUnavailable, "task %d: its stored credentials, which this alter keeps, cannot be read (%v); retry, or send %s with the alter so that none has to be read", a.Task.ID, err, strings.Join(kept, ", "))
		}
	}
	return a.Merge(account, stored)
}

// current reads a task that may be changed: -404 when it does not exist or is being deleted.
func (s *Server) current(ctx context.Context, id int64) (*api.Task, error) {
	cur, err := s.cfg.Store.Get(ctx, id)
	if err != nil {
		return nil, describeErr(id, err)
	}
	if cur.Desired == api.DesiredDeleted {
		return nil, api.Errorf(api.CodeNotFound, "task %d is being deleted", id)
	}
	return cur, nil
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
	ctx, cancel := s.backend(c.UserContext())
	defer cancel()
	// Only the page is read from the store, and the scheduler's view comes from a snapshot (see
	// view.go): a page costs the same whatever the number of tasks.
	recs, total, err := s.cfg.Store.Page(ctx, (page-1)*perPage, perPage)
	if err != nil {
		return fmt.Errorf("list tasks: %w", err)
	}
	jobsByID := s.pageJobs(ctx, recs)
	out := api.TaskList{Tasks: make([]api.TaskSummary, len(recs)), Total: total}
	for i, r := range recs {
		out.Tasks[i] = summarize(r, jobsByID[r.Task.ID], s.cfg.Location)
	}
	return ok(c, out)
}

// jobs asks the launcher for its view of tasks ids; without it the list still shows what
// workers reported.
func (s *Server) jobs(ctx context.Context, ids []int64) map[int64]*api.JobInfo {
	m, err := s.cfg.Launcher.Jobs(ctx, ids)
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
	ctx, cancel := s.backend(c.UserContext())
	defer cancel()
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
	spec := t.Spec.Redacted()
	if stored, err := s.readCredentials(ctx, id); err != nil {
		// The detail is still worth having; it then does not say which secrets are set.
		s.log.Warn("stored credentials unreadable; the task's detail does not say which secrets are set", "task", id, "err", err)
	} else {
		spec.MarkSecrets(stored)
	}
	d := api.TaskDetail{
		TaskSummary: summarize(store.Record{Task: t, Status: st}, job, s.cfg.Location),
		Spec:        spec,
		SpecVersion: t.Version,
		CreatedAt:   api.FormatTime(t.CreatedAt, s.cfg.Location),
		Status:      st,
		Job:         job,
		History:     historyView(t, st, s.cfg.Location),
	}
	return ok(c, d)
}

func (s *Server) stop(c *fiber.Ctx) error {
	id, err := taskID(c)
	if err != nil {
		return err
	}
	ctx := c.UserContext()
	bctx, cancel := s.backend(ctx)
	defer cancel()
	if _, err := s.current(bctx, id); err != nil {
		return err
	}
	// The launcher stops the worker first, and only a stop it carried out is recorded: a stop
	// that fails at the scheduler leaves the task running, and listed so. (A dispatcher that
	// dies between the two leaves the task to run again: its client saw no answer.)
	if err := s.cfg.Launcher.Stop(ctx, id); err != nil {
		return s.workerErr(ctx, "stop", id, err)
	}
	if err := s.setDesired(ctx, id, api.DesiredStopped); err != nil {
		return err
	}
	s.log.Info("task stopped", "task", id)
	return ok(c, nil)
}

func (s *Server) start(c *fiber.Ctx) error {
	id, err := taskID(c)
	if err != nil {
		return err
	}
	ctx := c.UserContext()
	bctx, cancel := s.backend(ctx)
	defer cancel()
	cur, err := s.current(bctx, id)
	if err != nil {
		return err
	}
	// The default account is checked against the allow-list again and handed on with the task's
	// stored Kafka secrets (a rotated default password reaches the worker).
	var creds *api.Credentials
	if cur.DefaultAccount && cur.Spec.Source != nil {
		if creds, err = s.storedCredentials(bctx, cur); err != nil {
			return err
		}
	}
	wasRunning := cur.Desired == api.DesiredRunning
	// Recorded first: a dispatcher that dies before the launch leaves the reconciler to do it.
	if err := s.setDesired(ctx, id, api.DesiredRunning); err != nil {
		return err
	}
	cur.Desired = api.DesiredRunning
	err = s.cfg.Launcher.Launch(bctx, cur, creds)
	if err == nil && wasRunning {
		err = s.retryFailed(ctx, id)
	}
	if err != nil {
		return s.workerErr(ctx, "start", id, err)
	}
	s.log.Info("task started", "task", id)
	return ok(c, nil)
}

// setDesired records what the operator wants. The spec version does not change: the worker only
// cares about its process being stopped or started. A concurrent alter changes the version; the
// task is then read again.
func (s *Server) setDesired(ctx context.Context, id int64, d api.Desired) error {
	ctx, cancel := s.backend(ctx)
	defer cancel()
	for attempt := 0; ; attempt++ {
		cur, err := s.cfg.Store.Get(ctx, id)
		if err != nil {
			return describeErr(id, err)
		}
		if cur.Desired == d {
			return nil
		}
		if cur.Desired == api.DesiredDeleted {
			return api.Errorf(api.CodeNotFound, "task %d is being deleted", id)
		}
		t := *cur
		t.Desired = d
		t.UpdatedAt = time.Now()
		err = s.cfg.Store.Update(ctx, &t, cur.Version)
		if err == nil || !errors.Is(err, store.ErrConflict) || attempt == 2 {
			return describeErr(id, err)
		}
	}
}

// workerErr words a launcher's failure to stop or start a task's worker.
func (s *Server) workerErr(ctx context.Context, op string, id int64, err error) error {
	var stuck *jobs.StopTimeoutError
	if errors.As(err, &stuck) {
		return api.Errorf(api.CodeUnavailable, "%s task %d: %v; %s", op, id, err, s.lastStatus(ctx, id))
	}
	return fmt.Errorf("%s task %d: %w", op, id, err)
}

func (s *Server) delete(c *fiber.Ctx) error {
	id, err := taskID(c)
	if err != nil {
		return err
	}
	ctx := c.UserContext()
	// The delete is recorded first (Desired deleted): whatever happens next, a dispatcher's
	// reconciler finishes it, and no reconciler starts the task again meanwhile.
	if err := s.markDeleted(ctx, id); err != nil {
		return err
	}
	failpoint.Hit("delete-after-mark")
	// A worker that does not stop does not keep its task: deleted, the task's lock is gone
	// (store/bolt revokes it, a Consul session loses its key), so the worker can no longer save
	// a position, and it ends when it returns.
	var out api.DeleteResponse
	err = s.cfg.Launcher.Remove(ctx, id)
	var stuck *jobs.StopTimeoutError
	switch {
	case errors.As(err, &stuck):
		out.LeftRunning = fmt.Sprintf("%v; %s", err, s.lastStatus(ctx, id))
	case err != nil:
		return fmt.Errorf("remove the worker of task %d (the delete is recorded: it is finished once the scheduler answers): %w", id, err)
	}
	failpoint.Hit("delete-after-remove")
	dctx, cancel := s.backend(ctx)
	defer cancel()
	if err := s.cfg.Store.Delete(dctx, id); err != nil && !errors.Is(err, store.ErrNotFound) {
		return describeErr(id, err)
	}
	if out.LeftRunning != "" {
		s.log.Warn("task deleted; its worker was left running", "task", id, "left_running", out.LeftRunning, "trace_id", traceID(c.Context()))
		return ok(c, out)
	}
	s.log.Info("task deleted", "task", id)
	return ok(c, nil)
}

// markDeleted records that task id is being deleted.
func (s *Server) markDeleted(ctx context.Context, id int64) error {
	ctx, cancel := s.backend(ctx)
	defer cancel()
	for attempt := 0; ; attempt++ {
		cur, err := s.cfg.Store.Get(ctx, id)
		if err != nil {
			return describeErr(id, err)
		}
		if cur.Desired == api.DesiredDeleted {
			return nil
		}
		t := *cur
		t.Desired = api.DesiredDeleted
		t.UpdatedAt = time.Now()
		err = s.cfg.Store.Update(ctx, &t, cur.Version)
		if err == nil || !errors.Is(err, store.ErrConflict) || attempt == 2 {
			return describeErr(id, err)
		}
	}
}

// retryFailed restarts the worker of a running task that reported Failed: such a worker waits
// for a spec change, so without a restart start would change nothing while the fix may lie
// outside dts (an account created, a binlog setting changed). A task that was stopped got a
// fresh worker from Launch already.
func (s *Server) retryFailed(ctx context.Context, id int64) error {
	bctx, cancel := s.backend(ctx)
	defer cancel()
	st, err := s.cfg.Store.Status(bctx, id)
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
	ctx, cancel := s.backend(context.WithoutCancel(ctx))
	defer cancel()
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
