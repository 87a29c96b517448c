package dispatcher

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/dtsrepl/dts/api"
	"github.com/dtsrepl/dts/precheck"
)

// submitPrecheckTimeout bounds the precheck submit and alter run, within the request's own
// bound: a source that drops packets costs the submit this long at most, and then it is a
// non-blocking "unreachable".
const submitPrecheckTimeout = 20 * time.Second

// submitReachTimeout bounds how long submit and alter wait to learn that the source or Kafka
// cannot be reached (a host that drops packets): then they go on without the checks that need
// it, as the worker retries anyway.
const submitReachTimeout = 3 * time.Second

// CredentialReader gives the credentials a task's worker logs in with (source account, Kafka
// secrets): store/bolt keeps them in dts dev, jobs/nomad in a Nomad Variable. The dispatcher
// finds it on its store or its launcher. It uses them for the checks of an existing task
// (alter's precheck, verify), for an alter that keeps some of them, and to say in GET which are
// set; without one, an alter must give every secret the task uses.
// Credentials returns nil, nil for a task with none kept (the contract of jobs/local.Secrets).
type CredentialReader interface {
	Credentials(ctx context.Context, id int64) (*api.Credentials, error)
}

// errNoCredentialReader: neither the store nor the launcher can read stored credentials.
var errNoCredentialReader = errors.New("this dispatcher's store and launcher cannot read stored credentials")

// readCredentials returns the credentials kept for task id; nil, nil when none are.
func (s *Server) readCredentials(ctx context.Context, id int64) (*api.Credentials, error) {
	found := false
	for _, v := range []any{s.cfg.Store, s.cfg.Launcher} {
		if r, ok := v.(CredentialReader); ok {
			found = true
			c, err := r.Credentials(ctx, id)
			if err != nil {
				return nil, fmt.Errorf("read the credentials of task %d: %w", id, err)
			}
			if c != nil {
				return c, nil
			}
		}
	}
	if !found {
		return nil, errNoCredentialReader
	}
	return nil, nil
}

// storedCredentials returns task t's credentials: the ones kept for it, or, when it uses the
// default account, that account (if it may still log in to the source) with the task's stored
// Kafka secrets; nil when none are known.
func (s *Server) storedCredentials(ctx context.Context, t *api.Task) (*api.Credentials, error) {
	if t.DefaultAccount && t.Spec.Source != nil {
		def, err := s.defaultCredentials(t.Spec.Source.Host)
		if err != nil || !t.Spec.Kafka.UsesSecrets() {
			return def, err
		}
		stored, err := s.readCredentials(ctx, t.ID)
		if err != nil {
			return nil, err
		}
		if stored != nil {
			def.KafkaSASLPassword, def.KafkaKeyPEM = stored.KafkaSASLPassword, stored.KafkaKeyPEM
		}
		return def, nil
	}
	c, err := s.readCredentials(ctx, t.ID)
	if errors.Is(err, errNoCredentialReader) {
		return nil, nil
	}
	return c, err
}

// forced reads ?force=: true stores a task whose precheck has blocking failures.
func forced(c *fiber.Ctx) (bool, error) {
	switch v := c.Query("force"); v {
	case "", "false", "0":
		return false, nil
	case "true", "1":
		return true, nil
	default:
		return false, api.FieldError("force", "must be true or false, got %q", v)
	}
}

// gate runs the precheck of a submit or an alter. It returns the checklist when the request
// must be refused (blocking failures and no force); the caller answers with refuse.
func (s *Server) gate(ctx context.Context, in precheck.Input, force bool) (refused *api.Checklist, forcedPast bool) {
	if !s.cfg.SubmitPrecheck || !in.Parts.Any() {
		return nil, false
	}
	in.Timeout, in.ReachTimeout = submitPrecheckTimeout, submitReachTimeout
	list := precheck.Run(ctx, in)
	blocking := list.Blocking()
	if len(blocking) == 0 {
		return nil, false
	}
	if force {
		s.log.Warn("precheck failed; stored anyway (force)", "task", in.TaskID, "failed", api.DescribeItems(blocking))
		return nil, true
	}
	return list, false
}

// refuse answers a submit or alter refused by its precheck: -400 naming the blocking items, with
// the whole checklist as data.
func (s *Server) refuse(c *fiber.Ctx, what string, list *api.Checklist) error {
	msg := fmt.Sprintf("%s refused by its precheck: %s; fix them, or add ?force=true to %s anyway", what, api.DescribeItems(list.Blocking()), what)
	c.Set(api.StatusHeader, fmt.Sprint(api.CodeBadRequest))
	return c.Status(fiber.StatusBadRequest).JSON(api.Envelope[any]{Code: api.CodeBadRequest, Message: msg, TTL: 1, Data: api.Refusal{Precheck: list}}, contentType)
}

// serverIDCheck is the precheck's view of checkServerID for a task not stored yet.
func (s *Server) serverIDCheck(src *api.Source) func(context.Context) error {
	return func(ctx context.Context) error {
		return s.checkServerID(ctx, &api.Task{Spec: api.TaskSpec{Source: src}}, 0)
	}
}

// checkRequest reads the spec of a precheck or preview request, as submit would, and the
// credentials it logs in with.
func (s *Server) checkRequest(c *fiber.Ctx) (*api.TaskSpec, *api.Credentials, error) {
	spec, err := decodeSubmit(c.Body())
	if err != nil {
		return nil, nil, err
	}
	if err := validate(spec, false); err != nil {
		return nil, nil, err
	}
	creds, _, err := s.credentials(spec)
	if err != nil {
		return nil, nil, err
	}
	return spec, creds, nil
}

// precheck answers POST /v1/dispatch/precheck: the checklist of a task as submit would run it,
// without storing anything.
func (s *Server) precheck(c *fiber.Ctx) error {
	spec, creds, err := s.checkRequest(c)
	if err != nil {
		return err
	}
	list := precheck.Run(c.UserContext(), precheck.Input{Spec: spec, Creds: creds, ServerIDConflict: s.serverIDCheck(spec.Source)})
	return ok(c, list)
}

// preview answers POST /v1/dispatch/preview?rows=N: the records the task would send for the
// first rows of each matched table.
func (s *Server) preview(c *fiber.Ctx) error {
	rows, err := queryInt(c, "rows", precheck.DefaultPreviewRows, 1, precheck.MaxPreviewRows)
	if err != nil {
		return err
	}
	spec, creds, err := s.checkRequest(c)
	if err != nil {
		return err
	}
	p, err := precheck.Preview(c.UserContext(), spec, creds, 0, rows)
	if err != nil {
		return sourceError(err)
	}
	return ok(c, p)
}

// sourceError maps a failure to read the source for a preview or verify: a source the
// dispatcher cannot reach is -503, one that refuses (an account, a privilege) -400.
func sourceError(err error) error {
	var ae *api.Error
	switch {
	case errors.As(err, &ae):
		return ae
	case precheck.IsUnreachable(err):
		return api.Errorf(api.CodeUnavailable, "%v", err)
	case errors.Is(err, precheck.ErrSource):
		return api.Errorf(api.CodeBadRequest, "%v", err)
	}
	return err
}

// alterParts is what an alter's precheck looks at, from the field paths it changes.
func alterParts(changed []string) precheck.Parts {
	var p precheck.Parts
	for _, path := range changed {
		switch {
		case strings.HasPrefix(path, "source"), path == "default_account":
			p.Source = true
		case strings.HasPrefix(path, "filters"):
			p.Tables, p.Kafka = true, true
		case path == "kafka.exclude_columns" || strings.HasPrefix(path, "kafka.exclude_columns["),
			path == "kafka.flat_format", path == "kafka.topic", path == "kafka.topic_mode", path == "kafka.max_message_bytes":
			p.Tables, p.Kafka = true, true
		case strings.HasPrefix(path, "kafka"):
			p.Kafka = true
		}
	}
	return p
}

// alterPrecheck runs the precheck of what an alter from cur to next changes (creds are the
// credentials the alter hands the worker, nil: the stored ones). It returns the task's history
// with the new revision, or the checklist when the alter must be refused.
func (s *Server) alterPrecheck(c *fiber.Ctx, cur, next *api.Task, creds *api.Credentials) ([]api.Revision, *api.Checklist, error) {
	force, err := forced(c)
	if err != nil {
		return nil, nil, err
	}
	ctx := c.UserContext()
	changed := changedPaths(&cur.Spec, &next.Spec)
	if cur.DefaultAccount != next.DefaultAccount {
		changed = append(changed, "default_account")
	}
	parts := alterParts(changed)
	var refused *api.Checklist
	wasForced := false
	if parts.Any() {
		if creds == nil {
			if creds, err = s.storedCredentials(ctx, next); err != nil {
				s.log.Warn("alter precheck without the task's account", "task", cur.ID, "err", err)
			}
		}
		refused, wasForced = s.gate(ctx, precheck.Input{Spec: next.Spec.Clone(), Creds: creds, TaskID: cur.ID, Parts: parts}, force)
	}
	st, err := s.cfg.Store.Status(ctx, cur.ID)
	if err != nil {
		st = nil // the history then lacks a position the worker reported; no reason to refuse
	}
	return nextRevision(cur, next, st, wasForced), refused, nil
}
