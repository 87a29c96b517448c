package local

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"sync"
	"time"

	"github.com/dtsrepl/dts/api"
	"github.com/dtsrepl/dts/internal/backoff"
)

// restartPolicy is how a failed worker is restarted: after min, doubling up to max, back to
// min once a run lasted reset.
type restartPolicy struct {
	min, max, reset time.Duration
}

var defaultPolicy = restartPolicy{min: time.Second, max: 30 * time.Second, reset: time.Minute}

// backoff has no jitter: one process restarts its own workers, nobody to spread out from.
func (p restartPolicy) backoff() *backoff.Backoff { return &backoff.Backoff{Min: p.min, Max: p.max} }

// supervisor runs one task's worker until stopped, restarting it when it fails and when its
// credentials change.
type supervisor struct {
	id     int64
	run    RunFunc
	log    *slog.Logger
	policy restartPolicy
	ln     *sharedListener
	addr   string

	ctx    context.Context // the supervisor's life; canceled by stop
	cancel context.CancelFunc
	done   chan struct{} // closed when the loop and the listener are finished
	wake   chan struct{} // cuts a backoff short when the credentials change

	mu         sync.Mutex
	task       *api.Task
	creds      api.Credentials
	cancelRun  context.CancelFunc // the current run's; nil between runs
	restartReq bool
	phase      api.JobStatus
	lastErr    string
}

func newSupervisor(run RunFunc, log *slog.Logger, policy restartPolicy, ln *sharedListener, t *api.Task, creds api.Credentials) *supervisor {
	ctx, cancel := context.WithCancel(context.Background())
	return &supervisor{
		id:     t.ID,
		run:    run,
		log:    log,
		policy: policy,
		ln:     ln,
		addr:   ln.ln.Addr().String(),
		ctx:    ctx,
		cancel: cancel,
		done:   make(chan struct{}),
		wake:   make(chan struct{}, 1),
		task:   t,
		creds:  creds,
		phase:  api.JobRunning,
	}
}

// update gives the supervisor the task's new record and, if given, its credentials. The
// worker follows spec changes itself; new credentials restart it.
func (s *supervisor) update(t *api.Task, creds *api.Credentials) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.task = t
	if creds == nil || *creds == s.creds {
		return
	}
	s.creds = *creds
	s.restartReq = true
	if s.cancelRun != nil {
		s.cancelRun()
		return
	}
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// currentTask is the newest task record the supervisor was given.
func (s *supervisor) currentTask() *api.Task {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.task
}

// stop asks the worker to checkpoint and return; done is closed once it has.
func (s *supervisor) stop() { s.cancel() }

// state is the supervisor's phase, address and last error, for Jobs.
func (s *supervisor) state() (phase api.JobStatus, addr, lastErr string) {
	select {
	case <-s.done:
		phase = api.JobStopped
	default:
		s.mu.Lock()
		phase = s.phase
		s.mu.Unlock()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return phase, s.addr, s.lastErr
}

// report says what the supervisor last knew of its worker, for errors about it.
func (s *supervisor) report() string {
	phase, _, lastErr := s.state()
	if lastErr == "" {
		return string(phase) + ", no error"
	}
	return string(phase) + ", last error: " + lastErr
}

// loop runs the worker until stop, then closes the task's socket.
func (s *supervisor) loop() {
	defer close(s.done)
	defer s.ln.close()
	bo := s.policy.backoff()
	for {
		s.mu.Lock()
		if s.ctx.Err() != nil {
			s.mu.Unlock()
			return
		}
		runCtx, cancelRun := context.WithCancel(s.ctx)
		s.cancelRun, s.restartReq, s.phase = cancelRun, false, api.JobRunning
		t, creds := s.task, s.creds
		s.mu.Unlock()
		select { // a wake-up meant for an earlier backoff
		case <-s.wake:
		default:
		}

		started := time.Now()
		err := s.runOnce(runCtx, t, creds)
		cancelRun()

		s.mu.Lock()
		s.cancelRun = nil
		restart := s.restartReq
		s.mu.Unlock()
		if s.ctx.Err() != nil {
			if err != nil && !errors.Is(err, context.Canceled) {
				s.setErr(err)
				s.log.Warn("worker returned an error while stopping", "err", err)
			}
			return
		}
		if restart {
			s.log.Info("credentials changed: worker restarted")
			bo.Reset()
			continue
		}
		if err == nil {
			err = errors.New("worker returned without being stopped")
		}
		if time.Since(started) >= s.policy.reset {
			bo.Reset()
		}
		delay := bo.Next()
		s.mu.Lock()
		s.phase, s.lastErr = api.JobRestarting, err.Error()
		s.mu.Unlock()
		s.log.Error("worker failed; restarting", "err", err, "ran", time.Since(started).Round(time.Millisecond), "backoff", delay)

		timer := time.NewTimer(delay)
		select {
		case <-s.ctx.Done():
			timer.Stop()
			return
		case <-s.wake:
			timer.Stop()
			bo.Reset()
			continue
		case <-timer.C:
		}
	}
}

func (s *supervisor) setErr(err error) {
	s.mu.Lock()
	s.lastErr = err.Error()
	s.mu.Unlock()
}

// runOnce runs the worker once. A panicking worker is turned into an error, so that one task's
// bug restarts that task instead of ending the dev process.
func (s *supervisor) runOnce(ctx context.Context, t *api.Task, creds api.Credentials) (err error) {
	rl := s.ln.forRun()
	defer rl.Close()
	defer func() {
		if r := recover(); r != nil {
			s.log.Error("worker panicked", "panic", r, "stack", string(debug.Stack()))
			err = fmt.Errorf("worker panicked: %v", r)
		}
	}()
	return s.run(ctx, t, creds, rl)
}
