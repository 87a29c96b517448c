package api

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strconv"
)

// RefusedError is a submit or alter refused by its precheck: the -400 error with the whole
// checklist.
type RefusedError struct {
	Err       *Error
	Checklist *Checklist
}

func (e *RefusedError) Error() string { return e.Err.Message }

// Unwrap returns the API error, so errors.As finds an *Error too.
func (e *RefusedError) Unwrap() error { return e.Err }

// WriteOptions change how submit and alter treat their precheck.
type WriteOptions struct {
	// Force stores and runs the task although its precheck has blocking failures.
	Force bool
}

func (o WriteOptions) query() string {
	if o.Force {
		return "?force=true"
	}
	return ""
}

// SubmitWith submits a task with options; a refusal by the precheck is a *RefusedError.
func (c *Client) SubmitWith(ctx context.Context, spec *TaskSpec, o WriteOptions) (*SubmitResponse, error) {
	var out SubmitResponse
	return &out, c.do(ctx, http.MethodPost, "/v1/dispatch/submit"+o.query(), SubmitRequest{Task: spec}, &out)
}

// AlterWith alters a task with options; a refusal by the precheck is a *RefusedError.
func (c *Client) AlterWith(ctx context.Context, id int64, spec *TaskSpec, o WriteOptions) error {
	return c.do(ctx, http.MethodPut, "/v1/dispatch/alter/"+strconv.FormatInt(id, 10)+o.query(), SubmitRequest{Task: spec}, nil)
}

// Precheck checks a task against its source and Kafka without storing it.
func (c *Client) Precheck(ctx context.Context, spec *TaskSpec) (*Checklist, error) {
	var out Checklist
	return &out, c.do(ctx, http.MethodPost, "/v1/dispatch/precheck", SubmitRequest{Task: spec}, &out)
}

// Preview returns the records the task would send for the first rows (at most rows, 0: the
// dispatcher's default) of each matched table, without sending them.
func (c *Client) Preview(ctx context.Context, spec *TaskSpec, rows int) (*Preview, error) {
	var out Preview
	path := "/v1/dispatch/preview"
	if rows > 0 {
		path += "?" + url.Values{"rows": {strconv.Itoa(rows)}}.Encode()
	}
	return &out, c.do(ctx, http.MethodPost, path, SubmitRequest{Task: spec}, &out)
}

// StartVerify starts a consistency check of a task in the background.
func (c *Client) StartVerify(ctx context.Context, id int64, req VerifyRequest) (*Verify, error) {
	var out Verify
	return &out, c.do(ctx, http.MethodPost, "/v1/task/"+strconv.FormatInt(id, 10)+"/verify", req, &out)
}

// Verify returns the state of a task's last consistency check.
func (c *Client) Verify(ctx context.Context, id int64) (*Verify, error) {
	var out Verify
	return &out, c.do(ctx, http.MethodGet, "/v1/task/"+strconv.FormatInt(id, 10)+"/verify", nil, &out)
}

// AsRefused returns the checklist of a precheck refusal, nil for any other error.
func AsRefused(err error) *Checklist {
	var r *RefusedError
	if errors.As(err, &r) {
		return r.Checklist
	}
	return nil
}
