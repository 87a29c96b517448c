// Package worker is the replicator: one worker runs one task, reading the source's binlog
// (after copying its tables when the task asks for it), filtering, encoding and routing each row
// change, producing it to Kafka, and checkpointing the position of the last transaction Kafka
// has wholly acknowledged. A restart resumes from that checkpoint, so delivery is at-least-once
// and no row is skipped.
package worker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/dtsrepl/dts/api"
	"github.com/dtsrepl/dts/internal/backoff"
	"github.com/dtsrepl/dts/store"
	"github.com/dtsrepl/dts/worker/produce"
)

// DefaultStopTimeout is the stop budget of a worker no launcher gave one: that of a worker
// killed 40s after it is asked to stop.
const DefaultStopTimeout = 30 * time.Second

// Config configures a worker.
type Config struct {
	// TaskID is the task the worker runs.
	TaskID int64
	// Record is the worker's hold on its task's stored record: spec, status and lock.
	Record TaskRecord
	// Credentials, when set, override the spec's source account (when they have a username) and
	// its Kafka secrets (kafka.sasl.password, kafka.tls.key_pem): they arrive through Nomad
	// Variables or the local launcher, never through the stored spec.
	Credentials *api.Credentials
	// Listener serves /healthz, /metrics and /status; nil serves nothing.
	Listener net.Listener
	// ServiceAddr is the address reported in the status; default the listener's address.
	ServiceAddr string
	// Name identifies the worker process (host, pid, allocation) in the lock and status.
	Name   string
	Logger *slog.Logger

	// StatusInterval is how often a moved checkpoint is saved (default 1s); an unchanged one is
	// saved every HeartbeatInterval (default 10s) to show the worker is alive.
	StatusInterval    time.Duration
	HeartbeatInterval time.Duration
	// MaxInFlightBytes bounds the message bytes sent to Kafka and not yet acknowledged.
	MaxInFlightBytes int64
	// SnapshotChunkRows is how many rows the initial copy reads per query (default 5000).
	SnapshotChunkRows int
	// RetryMin and RetryMax bound the backoff between attempts after a transient failure.
	RetryMin, RetryMax time.Duration
	// StopTimeout is the stop budget (default DefaultStopTimeout): everything a stop does —
	// waiting for Kafka to acknowledge what is in flight, saving the checkpoint, releasing the
	// lock — ends within it. Launchers derive it from how long they wait before killing the
	// worker (jobs.StopBudget).
	StopTimeout time.Duration
	// MaxPacketBytes bounds one packet from the source (a row event); default 256 MiB.
	MaxPacketBytes int
	// MaxResponseBytes bounds one response from a Kafka broker; default 32 MiB.
	MaxResponseBytes int
	// RetentionCheckInterval is how often the source's binlog retention is read (default 1m).
	// The share of it under which the headroom is a warning is the task's
	// (retention_warn_share).
	RetentionCheckInterval time.Duration
	// Pprof serves Go's profiles under /debug/pprof/ on the listener.
	Pprof bool
}

func (c *Config) applyDefaults() {
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.StatusInterval <= 0 {
		c.StatusInterval = time.Second
	}
	if c.HeartbeatInterval <= 0 {
		c.HeartbeatInterval = 10 * time.Second
	}
	if c.MaxInFlightBytes <= 0 {
		c.MaxInFlightBytes = 64 << 20
	}
	if c.SnapshotChunkRows <= 0 {
		c.SnapshotChunkRows = 5000
	}
	if c.RetryMin <= 0 {
		c.RetryMin = time.Second
	}
	if c.RetryMax <= 0 {
		c.RetryMax = time.Minute
	}
	if c.StopTimeout <= 0 {
		c.StopTimeout = DefaultStopTimeout
	}
	if c.RetentionCheckInterval <= 0 {
		c.RetentionCheckInterval = time.Minute
	}
	if c.ServiceAddr == "" && c.Listener != nil {
		c.ServiceAddr = c.Listener.Addr().String()
	}
}

// Validate reports what makes a configuration (with its defaults applied) unusable.
func (c *Config) Validate() error {
	var errs []error
	if c.Record == nil {
		errs = append(errs, errors.New("a Record is required: the worker holds its task's record"))
	}
	if c.RetryMax < c.RetryMin {
		errs = append(errs, fmt.Errorf("RetryMax %s is below RetryMin %s", c.RetryMax, c.RetryMin))
	}
	if c.HeartbeatInterval < c.StatusInterval {
		errs = append(errs, fmt.Errorf("HeartbeatInterval %s is below StatusInterval %s", c.HeartbeatInterval, c.StatusInterval))
	}
	if c.MaxPacketBytes < 0 || c.MaxResponseBytes < 0 {
		errs = append(errs, fmt.Errorf("MaxPacketBytes %d or MaxResponseBytes %d is negative", c.MaxPacketBytes, c.MaxResponseBytes))
	}
	return errors.Join(errs...)
}

// errSpecChanged stops an attempt so the worker starts one with the new spec.
var errSpecChanged = errors.New("task spec changed")

// Worker runs one task. Create it with New and start it with Run.
type Worker struct {
	cfg     Config
	log     *slog.Logger
	metrics *metrics
	report  *report
	status  statusWriter

	// stopCtx ends StopTimeout after Run's context ends: the budget of everything a stop does.
	stopCtx context.Context
}

// New returns a worker for cfg.
func New(cfg Config) *Worker {
	cfg.applyDefaults()
	w := &Worker{
		cfg:     cfg,
		log:     cfg.Logger.With("task", cfg.TaskID),
		metrics: newMetrics(),
		report:  newReport(cfg.ServiceAddr, cfg.Name),
		stopCtx: context.Background(),
	}
	w.status = statusWriter{report: w.report, record: cfg.Record, metrics: w.metrics}
	return w
}

// Run runs the task until ctx ends (it then flushes, checkpoints, records the task as Stopped and
// returns nil), the task is deleted (store.ErrNotFound), or the lock is lost
// (store.ErrLockLost). Transient failures are retried with backoff; failures only an operator
// can fix mark the task Failed and wait for its spec to change.
func (w *Worker) Run(ctx context.Context) error {
	if err := w.cfg.Validate(); err != nil {
		return fmt.Errorf("worker configuration: %w", err)
	}
	stopCtx, stopped := context.WithCancel(context.WithoutCancel(ctx))
	defer stopped()
	budget := context.AfterFunc(ctx, func() { time.AfterFunc(w.cfg.StopTimeout, stopped) })
	defer budget()
	w.stopCtx = stopCtx

	var wg sync.WaitGroup
	defer wg.Wait()
	if w.cfg.Listener != nil {
		srv := &http.Server{Handler: w.handler(), ReadHeaderTimeout: 5 * time.Second}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := srv.Serve(w.cfg.Listener); err != nil && !errors.Is(err, http.ErrServerClosed) {
				w.log.Error("worker http server", "err", err)
			}
		}()
		defer func() { _ = srv.Shutdown(w.stopCtx) }()
	}

	w.log.Info("waiting for the task lock", "worker", w.cfg.Name)
	lost, err := w.cfg.Record.Lock(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("lock task %d: %w", w.cfg.TaskID, err)
	}
	w.log.Info("holding the task lock")
	defer func() {
		if err := w.cfg.Record.Unlock(w.stopCtx); err != nil {
			w.log.Warn("release task lock", "err", err)
		}
	}()

	runCtx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	wg.Add(1)
	go func() {
		defer wg.Done()
		select {
		case <-lost:
			w.log.Error("task lock lost: stopping at once, another worker owns the task now")
			cancel(store.ErrLockLost)
		case <-runCtx.Done():
		}
	}()
	return w.loop(runCtx)
}

// loop runs attempts until ctx ends. Every attempt starts from the task as it is stored now, so
// an edit made while the task fails or retries is what the next attempt runs.
func (w *Worker) loop(ctx context.Context) error {
	bo := backoff.New(w.cfg.RetryMin, w.cfg.RetryMax)
	first := true
	limit := newRateLimit(nil)
	share := new(warnShare)
	for {
		task, err := w.cfg.Record.Task(ctx)
		var prev *api.Status
		if err == nil {
			prev, err = w.cfg.Record.Status(ctx)
		}
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, store.ErrNotFound) {
				return w.exit(ctx, err)
			}
			d := bo.Next()
			w.retrying(ctx, fmt.Errorf("read the task: %w", err), d)
			if _, ok := w.wait(ctx, nil, d); !ok {
				return w.exit(ctx, nil)
			}
			continue
		}
		w.report.resume(prev, task.Version)
		if first {
			// Say at once that this worker has the task (the status said "waiting for the task
			// lock"), keeping the checkpoint it read.
			first = false
			w.report.starting()
			if err := w.status.save(ctx); err != nil && ctx.Err() == nil {
				w.log.Warn("save status", "err", err)
			}
		}

		limit.set(task.Spec.RateLimit)
		share.set(&task.Spec)
		p := &pipeline{
			task: task, prev: prev, cfg: &w.cfg, log: w.log.With("spec_version", task.Version),
			metrics: w.metrics, report: w.report, status: w.status, limit: limit, share: share, stopCtx: w.stopCtx,
		}
		actx, stop := context.WithCancelCause(ctx)
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			w.watchSpec(actx, task, limit, share, stop)
		}()
		started := time.Now()
		err = p.run(actx)
		stop(nil)
		wg.Wait()

		switch {
		case ctx.Err() != nil:
			return w.exit(ctx, nil)
		case errors.Is(err, errSpecChanged):
			w.log.Info("task spec changed: restarting the pipeline from the checkpoint")
			bo.Reset()
			continue
		case errors.Is(err, store.ErrNotFound):
			return w.exit(ctx, err)
		case errors.Is(err, store.ErrLockLost):
			return err
		case errors.Is(err, produce.ErrFenced):
			// A newer worker of the task took over at the brokers: this one may write nothing
			// more, not even its status.
			w.log.Error("fenced: a newer worker of this task took over; stopping", "err", err)
			return err
		case isPermanent(err):
			w.log.Error("task failed", "err", err)
			w.metrics.errors.Inc()
			w.report.failed(err)
			if serr := w.status.save(ctx); serr != nil {
				w.log.Warn("save status", "err", serr)
			}
			if werr := w.waitForFix(ctx, task.Version); werr != nil {
				return w.exit(ctx, werr)
			}
			bo.Reset()
			continue
		default:
			if time.Since(started) > 2*w.cfg.RetryMax {
				bo.Reset() // it ran a good while: a new failure, not the same one again
			}
			d := bo.Next()
			w.log.Warn("pipeline stopped; retrying", "err", err, "in", d)
			w.retrying(ctx, err, d)
			changed, ok := w.wait(ctx, task, d)
			if !ok {
				return w.exit(ctx, nil)
			}
			if changed {
				bo.Reset() // the operator changed something: try it at once
			}
		}
	}
}

// wait sleeps d before the next attempt, saving the status every HeartbeatInterval so it shows
// the worker alive and the lag growing. It returns early, changed, when the task's spec changes
// (task nil: no watching), and ok false when ctx ends.
func (w *Worker) wait(ctx context.Context, task *api.Task, d time.Duration) (changed, ok bool) {
	wctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	edited := make(chan struct{})
	if task != nil {
		go func() {
			if _, err := w.cfg.Record.WatchTask(wctx, task.Version); err == nil {
				close(edited)
			}
		}()
	}
	beat := time.NewTicker(w.cfg.HeartbeatInterval)
	defer beat.Stop()
	for {
		select {
		case <-edited:
			return true, true
		case <-beat.C:
			if err := w.status.save(wctx); err != nil && wctx.Err() == nil {
				w.log.Warn("save status", "err", err)
			}
		case <-wctx.Done():
			return false, ctx.Err() == nil
		}
	}
}

// watchSpec applies spec changes: a new rate limit or retention_warn_share live, anything else
// by stopping the attempt (the loop then reads the new spec).
func (w *Worker) watchSpec(ctx context.Context, task *api.Task, limit *rateLimit, share *warnShare, stop context.CancelCauseFunc) {
	cur := task
	for {
		t, err := w.cfg.Record.WatchTask(ctx, cur.Version)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			if errors.Is(err, store.ErrNotFound) {
				stop(store.ErrNotFound)
				return
			}
			w.log.Warn("watch task spec", "err", err)
			if backoff.Sleep(ctx, w.cfg.RetryMin) != nil {
				return
			}
			continue
		}
		if onlyLiveChanged(cur, t) {
			w.log.Info("rate limit or retention_warn_share changed", "version", t.Version)
			limit.set(t.Spec.RateLimit)
			share.set(&t.Spec)
			w.report.setSpecVersion(t.Version)
			cur = t
			continue
		}
		stop(errSpecChanged)
		return
	}
}

// waitForFix waits for a new spec version after a failure an operator must fix.
func (w *Worker) waitForFix(ctx context.Context, version int64) error {
	for {
		t, err := w.cfg.Record.WatchTask(ctx, version)
		if err == nil {
			w.log.Info("task spec changed: trying again", "version", t.Version)
			return nil
		}
		if ctx.Err() != nil || errors.Is(err, store.ErrNotFound) {
			return err
		}
		if err := backoff.Sleep(ctx, w.cfg.RetryMin); err != nil {
			return err
		}
	}
}

// exit ends Run: on a plain stop it records the task as Stopped; on a lost lock it writes nothing.
func (w *Worker) exit(ctx context.Context, err error) error {
	cause := context.Cause(ctx)
	if errors.Is(cause, store.ErrLockLost) {
		return store.ErrLockLost
	}
	if errors.Is(err, store.ErrNotFound) || errors.Is(cause, store.ErrNotFound) {
		w.log.Info("task deleted: worker exits")
		return store.ErrNotFound
	}
	if err != nil && ctx.Err() == nil {
		return err
	}
	w.report.stopped()
	if serr := w.status.save(w.stopCtx); serr != nil && !errors.Is(serr, store.ErrLockLost) {
		w.log.Warn("save final status", "err", serr)
	}
	w.log.Info("worker stopped")
	return nil
}

func (w *Worker) retrying(ctx context.Context, err error, in time.Duration) {
	w.metrics.errors.Inc()
	w.report.retrying(err, in)
	if serr := w.status.save(ctx); serr != nil {
		w.log.Warn("save status", "err", serr)
	}
}

// onlyLiveChanged reports whether b differs from a in nothing but what a running pipeline takes
// on without a restart: the rate limit and retention_warn_share.
func onlyLiveChanged(a, b *api.Task) bool {
	x, y := a.Spec.Clone(), b.Spec.Clone()
	x.RateLimit, y.RateLimit = nil, nil
	x.RetentionWarnShare, y.RetentionWarnShare = 0, 0
	return x.Equal(y) && a.Desired == b.Desired
}
