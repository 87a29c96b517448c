package dispatcher

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/dtsrepl/dts/api"
	"github.com/dtsrepl/dts/store"
	"github.com/dtsrepl/dts/verify"
)

// Consistency checks run in the dispatcher that was asked, in the background, and keep their
// state in the task store beside the task (verify.Store), so that every dispatcher shows their
// progress and a check whose dispatcher went away is seen as abandoned and can be started
// again. They run here rather than in the worker so that a check reads the topics and the
// source independently of the process whose output it checks, and runs while the task is
// stopped or failed too.

// checkRunner owns the checks this dispatcher runs.
type checkRunner struct {
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu      sync.Mutex
	running map[int64]*verify.Check
}

func newCheckRunner() *checkRunner {
	ctx, cancel := context.WithCancel(context.Background())
	return &checkRunner{ctx: ctx, cancel: cancel, running: map[int64]*verify.Check{}}
}

// start runs chk in the background until it ends or the runner stops.
func (r *checkRunner) start(id int64, chk *verify.Check) {
	r.mu.Lock()
	r.running[id] = chk
	r.mu.Unlock()
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		chk.Run(r.ctx)
		r.mu.Lock()
		if r.running[id] == chk {
			delete(r.running, id)
		}
		r.mu.Unlock()
	}()
}

// live returns the state of task id's check if this dispatcher runs it.
func (r *checkRunner) live(id int64) *api.Verify {
	r.mu.Lock()
	chk := r.running[id]
	r.mu.Unlock()
	if chk == nil {
		return nil
	}
	return chk.State()
}

// stop ends the running checks (each saves its state as failed) and waits for them.
func (r *checkRunner) stop() {
	r.cancel()
	r.wg.Wait()
}

// Close stops the consistency checks this dispatcher runs; Serve calls it on the way out.
func (s *Server) Close() { s.checks.stop() }

// owner names this dispatcher in the checks it runs.
var owner = func() string {
	host, _ := os.Hostname()
	return fmt.Sprintf("%s/%d", host, os.Getpid())
}()

func (s *Server) verifyStore() (verify.Store, error) {
	vs, ok := s.cfg.Store.(verify.Store)
	if !ok {
		return nil, api.Errorf(api.CodeInternal, "this dispatcher's task store cannot keep consistency checks")
	}
	return vs, nil
}

// startVerify answers POST /v1/task/:id/verify: it starts a consistency check of the task in
// the background and answers its first state.
func (s *Server) startVerify(c *fiber.Ctx) error {
	id, err := taskID(c)
	if err != nil {
		return err
	}
	var req api.VerifyRequest
	if body := bytes.TrimSpace(c.Body()); len(body) > 0 {
		if len(body) > MaxBody {
			return api.FieldError("body", "larger than %d bytes", MaxBody)
		}
		d := json.NewDecoder(bytes.NewReader(body))
		d.DisallowUnknownFields()
		if err := d.Decode(&req); err != nil {
			return api.FieldError("body", "is not a verify request ({\"tables\":[\"db.table\"],\"rate\":1000,\"chunk_rows\":1000,\"samples\":10}): %v", err)
		}
	}
	if err := verify.Normalize(&req); err != nil {
		return err
	}
	vs, err := s.verifyStore()
	if err != nil {
		return err
	}
	ctx := c.UserContext()
	t, err := s.cfg.Store.Get(ctx, id)
	if err != nil {
		return describeErr(id, err)
	}
	creds, err := s.storedCredentials(ctx, t)
	if err != nil {
		return err
	}
	if creds == nil {
		return api.Errorf(api.CodeConflict, "task %d: the dispatcher cannot read the task's source account, which the check logs in with: alter the task with source.username and source.password", id)
	}
	chk, err := verify.Begin(ctx, verify.Options{
		Task: t, Creds: creds, Request: req, Owner: owner, Store: vs, Logger: s.log,
		Status: func(ctx context.Context) (*api.Status, error) { return s.cfg.Store.Status(ctx, id) },
	})
	switch {
	case errors.Is(err, verify.ErrFormat):
		return api.Errorf(api.CodeBadRequest, "task %d: %v", id, err)
	case errors.Is(err, verify.ErrRunning):
		return api.Errorf(api.CodeConflict, "task %d: %v; GET /v1/task/%d/verify shows its progress", id, err, id)
	case err != nil:
		return describeErr(id, err)
	}
	s.checks.start(id, chk)
	s.log.Info("verify started", "task", id, "run", chk.State().Run, "tables", req.Tables, "rate", req.Rate)
	return ok(c, chk.State())
}

// verifyStatus answers GET /v1/task/:id/verify: the task's last consistency check.
func (s *Server) verifyStatus(c *fiber.Ctx) error {
	id, err := taskID(c)
	if err != nil {
		return err
	}
	if v := s.checks.live(id); v != nil {
		return ok(c, v)
	}
	vs, err := s.verifyStore()
	if err != nil {
		return err
	}
	v, _, err := vs.Verify(c.UserContext(), id)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return notFound(id)
		}
		return fmt.Errorf("task %d: %w", id, err)
	}
	if v == nil {
		return api.Errorf(api.CodeNotFound, "task %d has no consistency check: POST /v1/task/%d/verify starts one", id, id)
	}
	return ok(c, verify.View(v, time.Now()))
}
