package api

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"
)

// ClientConfig configures a Client. DefaultClientConfig reads it from the environment.
type ClientConfig struct {
	// Address is the dispatcher's base URL (DTS_ADDR, default http://127.0.0.1:8080).
	Address string
	// User and Password are the Basic auth credentials (DTS_AUTH_USER, DTS_AUTH_PASSWORD).
	User, Password string
	HTTPClient     *http.Client
}

// DefaultClientConfig returns the configuration from the environment.
func DefaultClientConfig() *ClientConfig {
	c := &ClientConfig{Address: "http://127.0.0.1:8080", User: os.Getenv("DTS_AUTH_USER"), Password: os.Getenv("DTS_AUTH_PASSWORD")}
	if a := os.Getenv("DTS_ADDR"); a != "" {
		c.Address = a
	}
	return c
}

// Client calls a dts dispatcher.
type Client struct {
	base *url.URL
	cfg  ClientConfig
}

// NewClient returns a client; a nil config means DefaultClientConfig.
func NewClient(cfg *ClientConfig) (*Client, error) {
	if cfg == nil {
		cfg = DefaultClientConfig()
	}
	c := *cfg
	if c.HTTPClient == nil {
		c.HTTPClient = &http.Client{Timeout: 2 * time.Minute}
	}
	addr := c.Address
	if !strings.Contains(addr, "://") {
		addr = "http://" + addr
	}
	u, err := url.Parse(strings.TrimSuffix(addr, "/"))
	if err != nil {
		return nil, fmt.Errorf("dispatcher address %q: %w", c.Address, err)
	}
	return &Client{base: u, cfg: c}, nil
}

// Submit submits a task and returns its id and the worker's address.
func (c *Client) Submit(ctx context.Context, spec *TaskSpec) (*SubmitResponse, error) {
	return c.SubmitWithKey(ctx, spec, "")
}

// SubmitWithKey submits a task with an idempotency key (IdempotencyKeyHeader): submitting again
// with the same key, after an error or a lost answer, returns the task the first submit made
// instead of making another. An empty key is Submit.
func (c *Client) SubmitWithKey(ctx context.Context, spec *TaskSpec, key string) (*SubmitResponse, error) {
	var out SubmitResponse
	var hdr http.Header
	if key != "" {
		hdr = http.Header{IdempotencyKeyHeader: {key}}
	}
	return &out, c.doHeader(ctx, http.MethodPost, "/v1/dispatch/submit", hdr, SubmitRequest{Task: spec}, &out)
}

// Alter replaces a task's spec; source and incr may be omitted.
func (c *Client) Alter(ctx context.Context, id int64, spec *TaskSpec) error {
	return c.do(ctx, http.MethodPut, "/v1/dispatch/alter/"+strconv.FormatInt(id, 10), SubmitRequest{Task: spec}, nil)
}

// List returns one page of tasks (page from 1).
func (c *Client) List(ctx context.Context, page, perPage int) (*TaskList, error) {
	var out TaskList
	q := url.Values{"page": {strconv.Itoa(page)}, "per_page": {strconv.Itoa(perPage)}}
	return &out, c.do(ctx, http.MethodGet, "/v1/task/list?"+q.Encode(), nil, &out)
}

// Get returns one task in detail.
func (c *Client) Get(ctx context.Context, id int64) (*TaskDetail, error) {
	var out TaskDetail
	return &out, c.do(ctx, http.MethodGet, "/v1/task/"+strconv.FormatInt(id, 10), nil, &out)
}

// GetJSON returns one task in detail as the dispatcher wrote it (the data of its answer), for
// callers that pass it on: a field this client does not know yet is kept.
func (c *Client) GetJSON(ctx context.Context, id int64) (json.RawMessage, error) {
	var out json.RawMessage
	return out, c.do(ctx, http.MethodGet, "/v1/task/"+strconv.FormatInt(id, 10), nil, &out)
}

// Stop stops a task's worker; its position is kept.
func (c *Client) Stop(ctx context.Context, id int64) error {
	return c.do(ctx, http.MethodPost, "/v1/task/"+strconv.FormatInt(id, 10)+"/stop", nil, nil)
}

// Start starts a stopped task from its position.
func (c *Client) Start(ctx context.Context, id int64) error {
	return c.do(ctx, http.MethodPost, "/v1/task/"+strconv.FormatInt(id, 10)+"/start", nil, nil)
}

// Delete stops a task and forgets it. A worker that did not stop in time does not keep the
// task: the response says what was left running.
func (c *Client) Delete(ctx context.Context, id int64) (*DeleteResponse, error) {
	var out DeleteResponse
	return &out, c.do(ctx, http.MethodDelete, "/v1/task/"+strconv.FormatInt(id, 10), nil, &out)
}

// do sends a request and decodes the envelope; a non-zero code becomes an *Error, and a -400
// that carries a precheck's checklist a *RefusedError.
func (c *Client) do(ctx context.Context, method, path string, body, out any) error {
	return c.doHeader(ctx, method, path, nil, body, out)
}

// doHeader is do with extra request headers.
func (c *Client) doHeader(ctx context.Context, method, path string, hdr http.Header, body, out any) error {
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return fmt.Errorf("encode request: %w", err)
		}
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base.String()+path, r)
	if err != nil {
		return err
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	req.Header.Set("Content-Type", "application/json")
	if c.cfg.User != "" || c.cfg.Password != "" {
		req.SetBasicAuth(c.cfg.User, c.cfg.Password)
	}
	resp, err := c.cfg.HTTPClient.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return fmt.Errorf("%s %s: read response: %w", method, path, err)
	}
	var env Envelope[json.RawMessage]
	if err := json.Unmarshal(raw, &env); err != nil {
		return fmt.Errorf("%s %s: HTTP %d, not a dts response: %.200s", method, path, resp.StatusCode, raw)
	}
	if env.Code != CodeOK {
		apiErr := &Error{Code: env.Code, Message: env.Message}
		var r Refusal
		if env.Code == CodeBadRequest && json.Unmarshal(env.Data, &r) == nil && r.Precheck != nil {
			return &RefusedError{Err: apiErr, Checklist: r.Precheck}
		}
		return apiErr
	}
	if out != nil && len(env.Data) > 0 {
		if err := json.Unmarshal(env.Data, out); err != nil {
			return fmt.Errorf("%s %s: decode data: %w", method, path, err)
		}
	}
	return nil
}
