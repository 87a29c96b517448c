// Package local runs workers inside the dts dev process: one supervisor goroutine per task
// runs the task's worker function, restarts it with backoff when it fails, and keeps the
// task's HTTP address the same across restarts.
package local

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/dtsrepl/dts/api"
	"github.com/dtsrepl/dts/jobs"
)

// RunFunc runs one task's worker until ctx ends, when it must checkpoint and return, or until
// it fails. It serves the worker's HTTP endpoints on ln. Returning before ctx ends, even with a
// nil error, counts as a failure: the worker is restarted after a backoff.
//
// ln belongs to the launcher: it has the same address for every run of the task, so a
// restarted worker keeps its address. Closing ln (http.Server.Shutdown does) only ends this
// run's Accept calls; the launcher closes the socket itself when the task stops, and ends a
// run's Accept calls when RunFunc returns.
type RunFunc func(ctx context.Context, t *api.Task, creds api.Credentials, ln net.Listener) error

// Secrets keeps tasks' credentials (source account, Kafka secrets) between runs of the dev
// process (store/bolt implements it). Credentials returns nil, nil for a task with none: a
// missing account is a state the launcher reports (jobs.ErrNoCredentials), not a failure to
// read. CredentialIDs lists the tasks that have one, for Inventory.
type Secrets interface {
	PutCredentials(ctx context.Context, id int64, c api.Credentials) error
	Credentials(ctx context.Context, id int64) (*api.Credentials, error)
	DeleteCredentials(ctx context.Context, id int64) error
	CredentialIDs(ctx context.Context) ([]int64, error)
}

// ErrClosed is returned by Launch after Close.
var ErrClosed = errors.New("local launcher is closed")

// DefaultStopTimeout bounds how long Stop waits for a worker to checkpoint and return.
const DefaultStopTimeout = 60 * time.Second

// Launcher supervises the workers of the dev process's tasks.
type Launcher struct {
	run         RunFunc
	secrets     Secrets
	log         *slog.Logger
	policy      restartPolicy // tests shorten it
	stopTimeout time.Duration // tests shorten it

	mu     sync.Mutex
	tasks  map[int64]*entry
	closed bool
}

// entry is what the launcher keeps for a task between Launch and Remove.
type entry struct {
	// lock serializes Launch, Stop and Remove of the task; a channel so waiting honours ctx.
	lock chan struct{}
	// Guarded by Launcher.mu:
	sup     *supervisor // the newest supervisor, nil before the first start
	stopped bool        // Stop was asked for sup
	addr    string      // the task's last address, reused when it starts again
	failure string      // why the last Launch could not start a worker, for Jobs
}

// Config configures a Launcher. New applies the defaults of zero fields and checks the rest.
type Config struct {
	// Run runs one task's worker. Required.
	Run RunFunc
	// Secrets keeps the tasks' credentials. Required.
	Secrets Secrets
	// Logger receives the supervisors' events; default discards.
	Logger *slog.Logger
	// StopTimeout bounds how long Stop waits for a worker to checkpoint; default
	// DefaultStopTimeout.
	StopTimeout time.Duration
	// RestartMin and RestartMax bound the backoff between restarts of a failing worker; it starts
	// over after a run of RestartReset. Defaults 1s, 30s and 1m.
	RestartMin, RestartMax, RestartReset time.Duration
}

func (c *Config) applyDefaults() {
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.StopTimeout <= 0 {
		c.StopTimeout = DefaultStopTimeout
	}
	if c.RestartMin <= 0 {
		c.RestartMin = defaultPolicy.min
	}
	if c.RestartMax <= 0 {
		c.RestartMax = max(defaultPolicy.max, c.RestartMin)
	}
	if c.RestartReset <= 0 {
		c.RestartReset = defaultPolicy.reset
	}
}

// Validate reports what is missing or inconsistent once defaults are applied.
func (c *Config) Validate() error {
	d := *c
	d.applyDefaults()
	return d.validate()
}

func (c *Config) validate() error {
	var errs []error
	if c.Run == nil {
		errs = append(errs, errors.New("a run function is required"))
	}
	if c.Secrets == nil {
		errs = append(errs, errors.New("a secrets store is required"))
	}
	if c.RestartMax < c.RestartMin {
		errs = append(errs, fmt.Errorf("restart max %s is below restart min %s", c.RestartMax, c.RestartMin))
	}
	return errors.Join(errs...)
}

// New checks cfg, applies its defaults and returns a launcher.
func New(cfg Config) (*Launcher, error) {
	cfg.applyDefaults()
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("local launcher config: %w", err)
	}
	return &Launcher{
		run:         cfg.Run,
		secrets:     cfg.Secrets,
		log:         cfg.Logger,
		policy:      restartPolicy{min: cfg.RestartMin, max: cfg.RestartMax, reset: cfg.RestartReset},
		stopTimeout: cfg.StopTimeout,
		tasks:       make(map[int64]*entry),
	}, nil
}

// acquire returns the task's entry, created if need be, locked for this caller.
func (l *Launcher) acquire(ctx context.Context, id int64) (*entry, func(), error) {
	for {
		l.mu.Lock()
		e := l.tasks[id]
		if e == nil {
			e = &entry{lock: make(chan struct{}, 1)}
			l.tasks[id] = e
		}
		l.mu.Unlock()
		select {
		case e.lock <- struct{}{}:
		case <-ctx.Done():
			return nil, nil, fmt.Errorf("task %d: another stop, start or delete of its worker is still in progress: %w: %w", id, jobs.ErrConflict, ctx.Err())
		}
		l.mu.Lock()
		current := l.tasks[id] == e
		l.mu.Unlock()
		if current {
			return e, func() { <-e.lock }, nil
		}
		<-e.lock // removed while we waited: take the new entry
	}
}

// Launch stores creds when given and starts the task's worker, or gives the running
// supervisor the new task record: the worker follows spec changes itself, and only new
// credentials restart it. For a task whose Desired is stopped it only stores creds (an alter of
// a stopped task). A task without stored credentials gets no worker: jobs.ErrNoCredentials.
// Launch keeps t; callers must not modify it afterwards.
func (l *Launcher) Launch(ctx context.Context, t *api.Task, creds *api.Credentials) error {
	if t == nil || t.ID <= 0 {
		return errors.New("launch: task has no id")
	}
	e, release, err := l.acquire(ctx, t.ID)
	if err != nil {
		return err
	}
	defer release()
	defer l.forgetUnused(t.ID, e)
	return l.launchLocked(ctx, e, t, creds)
}

// launchLocked is Launch with the task's entry locked.
func (l *Launcher) launchLocked(ctx context.Context, e *entry, t *api.Task, creds *api.Credentials) error {
	if l.isClosed() {
		return ErrClosed
	}
	var err error
	if creds != nil {
		if err := l.secrets.PutCredentials(ctx, t.ID, *creds); err != nil {
			return fmt.Errorf("store credentials of task %d: %w", t.ID, err)
		}
	}
	if t.Desired != api.DesiredRunning {
		return nil
	}

	l.mu.Lock()
	sup, stopped, prevAddr := e.sup, e.stopped, e.addr
	l.mu.Unlock()
	if sup != nil && !stopped {
		sup.update(t, creds)
		return nil
	}
	if sup != nil {
		// The previous worker may still be checkpointing; two must never run at once.
		select {
		case <-sup.done:
		case <-ctx.Done():
			return fmt.Errorf("start task %d: its previous worker is still stopping (%s): %w: %w", t.ID, sup.report(), jobs.ErrConflict, ctx.Err())
		}
	}

	c := creds
	if c == nil {
		c, err = l.secrets.Credentials(ctx, t.ID)
		if err != nil {
			return fmt.Errorf("read credentials of task %d: %w", t.ID, err)
		}
	}
	log := l.log.With("task", t.ID)
	if c == nil {
		// Only a dts dev killed in the middle of a submit, before task and credentials were
		// stored together, leaves this; a worker without an account would fail to log in.
		const msg = "no source credentials are stored for this task (dts dev stopped while it was being submitted); alter the task with source.username and source.password to store them and start it"
		l.mu.Lock()
		e.failure = msg
		l.mu.Unlock()
		log.Warn("task has no stored credentials; not starting its worker")
		return fmt.Errorf("%w: alter the task with source.username and source.password to store them and start it", jobs.ErrNoCredentials)
	}
	ln, err := listen(prevAddr)
	if err != nil {
		return fmt.Errorf("launch task %d: %w", t.ID, err)
	}
	sup = newSupervisor(l.run, log, l.policy, newSharedListener(ln), t, *c)

	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		sup.ln.close()
		return ErrClosed
	}
	e.sup, e.stopped, e.addr, e.failure = sup, false, sup.addr, ""
	l.mu.Unlock()
	go sup.loop()
	log.Info("worker started", "addr", sup.addr)
	return nil
}

// Restart stops the task's running worker (bounded, as Stop) and starts a new one at once on
// the same address, with the newest task record and the credentials read again from Secrets.
// A task that is stopped or has no worker is left alone.
func (l *Launcher) Restart(ctx context.Context, id int64) error {
	e, release, err := l.acquire(ctx, id)
	if err != nil {
		return err
	}
	defer release()
	defer l.forgetUnused(id, e)
	l.mu.Lock()
	sup, stopped := e.sup, e.stopped
	l.mu.Unlock()
	if sup == nil || stopped {
		return nil
	}
	t := sup.currentTask()
	if err := l.stopLocked(ctx, id, e); err != nil {
		return err
	}
	l.log.Info("restarting the worker", "task", id)
	return l.launchLocked(ctx, e, t, nil)
}

// listen opens the task's socket on loopback, on its previous port when it is still free.
func listen(prev string) (net.Listener, error) {
	if prev != "" {
		if ln, err := net.Listen("tcp", prev); err == nil {
			return ln, nil
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("listen: %w", err)
	}
	return ln, nil
}

func (l *Launcher) isClosed() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.closed
}

// Stop cancels the worker's context and waits, up to a minute and within ctx, for it to
// checkpoint and return; a worker that does not is a *jobs.StopTimeoutError saying what it last
// reported. The credentials stay for the next Launch.
func (l *Launcher) Stop(ctx context.Context, id int64) error {
	e, release, err := l.acquire(ctx, id)
	if err != nil {
		return err
	}
	defer release()
	defer l.forgetUnused(id, e)
	return l.stopLocked(ctx, id, e)
}

// forgetUnused drops an entry that acquire made for a task that never started, unless it holds
// the reason why.
func (l *Launcher) forgetUnused(id int64, e *entry) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if e.sup == nil && e.failure == "" && l.tasks[id] == e {
		delete(l.tasks, id)
	}
}

func (l *Launcher) stopLocked(ctx context.Context, id int64, e *entry) error {
	l.mu.Lock()
	sup := e.sup
	e.stopped = true
	l.mu.Unlock()
	if sup == nil {
		return nil
	}
	sup.stop()
	start := time.Now()
	timer := time.NewTimer(l.stopTimeout)
	defer timer.Stop()
	var waited time.Duration
	select {
	case <-sup.done:
		return nil
	case <-ctx.Done():
		waited = time.Since(start).Round(time.Millisecond)
	case <-timer.C:
		waited = l.stopTimeout
	}
	err := &jobs.StopTimeoutError{TaskID: id, Waited: waited, LastReport: sup.report()}
	l.log.Error("worker did not stop; it goes on running until it returns", "task", id, "waited", err.Waited, "last_report", err.LastReport)
	return err
}

// Remove stops the worker and deletes the task's credentials. A worker that does not stop in
// time is a *jobs.StopTimeoutError; the credentials are deleted all the same, since the task is
// going away, and the launcher forgets the task once the worker returns.
func (l *Launcher) Remove(ctx context.Context, id int64) error {
	e, release, err := l.acquire(ctx, id)
	if err != nil {
		return err
	}
	defer release()
	stopErr := l.stopLocked(ctx, id, e)
	var stuck *jobs.StopTimeoutError
	if stopErr != nil && !errors.As(stopErr, &stuck) {
		return stopErr
	}
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err := l.secrets.DeleteCredentials(dctx, id); err != nil {
		return errors.Join(stopErr, fmt.Errorf("delete credentials of task %d: %w", id, err))
	}
	l.mu.Lock()
	sup := e.sup
	if stuck == nil || sup == nil {
		delete(l.tasks, id)
	}
	l.mu.Unlock()
	if stuck != nil && sup != nil {
		go func() {
			<-sup.done
			l.mu.Lock()
			if l.tasks[id] == e && e.sup == sup {
				delete(l.tasks, id)
			}
			l.mu.Unlock()
		}()
	}
	return stopErr
}

// JobID names a task's supervisor in JobInfo, "local-<id>".
func JobID(id int64) string { return "local-" + strconv.FormatInt(id, 10) }

// Jobs reports the supervisors of tasks ids (nil: of every task): running, restarting after a
// failure (Message is the failure), or stopped.
func (l *Launcher) Jobs(ctx context.Context, ids []int64) (map[int64]*api.JobInfo, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make(map[int64]*api.JobInfo, len(ids))
	if ids == nil {
		for id := range l.tasks {
			if info := l.jobLocked(id); info != nil {
				out[id] = info
			}
		}
		return out, nil
	}
	for _, id := range ids {
		if info := l.jobLocked(id); info != nil {
			out[id] = info
		}
	}
	return out, nil
}

// jobLocked is task id's JobInfo, nil when it has none; l.mu is held.
func (l *Launcher) jobLocked(id int64) *api.JobInfo {
	e := l.tasks[id]
	if e == nil {
		return nil
	}
	if e.sup == nil {
		if e.failure != "" {
			return &api.JobInfo{ID: JobID(id), Status: api.JobFailed, Message: e.failure}
		}
		return nil
	}
	phase, addr, lastErr := e.sup.state()
	info := &api.JobInfo{ID: JobID(id), Status: phase, Addr: addr, Message: lastErr}
	if e.stopped {
		info.Status, info.Addr = api.JobStopped, ""
		if phase != api.JobStopped {
			info.Message = "stopping: waiting for the worker to checkpoint and return"
		}
	}
	return info
}

// Job returns one task's worker, nil when it has none.
func (l *Launcher) Job(ctx context.Context, id int64) (*api.JobInfo, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.jobLocked(id), nil
}

// Inventory lists the tasks that have a supervisor or stored credentials, for the dispatcher's
// reconciler.
func (l *Launcher) Inventory(ctx context.Context) (map[int64]jobs.Held, error) {
	ids, err := l.secrets.CredentialIDs(ctx)
	if err != nil {
		return nil, fmt.Errorf("list credentials: %w", err)
	}
	out := make(map[int64]jobs.Held, len(ids))
	for _, id := range ids {
		out[id] = jobs.Held{Credentials: true}
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	for id, e := range l.tasks {
		if e.sup == nil {
			continue
		}
		h := out[id]
		h.Job, h.Running = true, !e.stopped
		out[id] = h
	}
	return out, nil
}

// Current is always true: a supervisor follows its task's changes itself.
func (l *Launcher) Current(*api.Task, jobs.Held) bool { return true }

// Ping reports whether the launcher still runs workers.
func (l *Launcher) Ping(context.Context) error {
	if l.isClosed() {
		return ErrClosed
	}
	return nil
}

// WaitAddr returns the task's address. The socket is open from Launch on, so there is nothing
// to wait for; a task that is not running is an error.
func (l *Launcher) WaitAddr(ctx context.Context, id int64) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	e := l.tasks[id]
	if e == nil || e.sup == nil || e.stopped {
		return "", fmt.Errorf("task %d is not running", id)
	}
	return e.sup.addr, nil
}

// Close stops every worker, each checkpointing, and waits for them within ctx. Launch fails
// after Close.
func (l *Launcher) Close(ctx context.Context) error {
	l.mu.Lock()
	l.closed = true
	sups := make(map[int64]*supervisor, len(l.tasks))
	for id, e := range l.tasks {
		if e.sup != nil {
			e.stopped = true
			sups[id] = e.sup
		}
	}
	l.mu.Unlock()
	for _, s := range sups {
		s.stop()
	}
	var errs []error
	for id, s := range sups {
		select {
		case <-s.done:
			continue
		default:
		}
		select {
		case <-s.done:
		case <-ctx.Done():
			errs = append(errs, fmt.Errorf("worker of task %d has not returned: %w", id, ctx.Err()))
		}
	}
	return errors.Join(errs...)
}
