// Package dispatcher is the HTTP API of dts on fiber: operators submit, list, alter, stop,
// start and delete tasks; the dispatcher validates them, keeps them in a Store and runs their
// workers through a Launcher. It holds no state of its own, so any number can serve one store.
package dispatcher

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/recover"

	"github.com/dtsrepl/dts/api"
)

// Config configures a dispatcher. New applies the defaults of zero fields and checks the rest
// (Validate).
type Config struct {
	Store    Store
	Launcher Launcher
	// AuthUser and AuthPassword guard every /v1 route with Basic auth. Both empty is allowed
	// only with Insecure.
	AuthUser, AuthPassword string
	Insecure               bool
	// DefaultCredentials is the source account for tasks that give only host and port. It needs
	// SourceAllow.
	DefaultCredentials *api.Credentials
	// SourceAllow is where DefaultCredentials may log in; tasks for other hosts must give their
	// own account.
	SourceAllow *HostAllowList
	// PlacementTimeout bounds how long submit waits for the worker's address (default 10s).
	PlacementTimeout time.Duration
	// BackendTimeout bounds each call to the store or the scheduler (default 10s): one that does
	// not answer in time makes the request answer -503 with the reason. Waiting for a worker to
	// stop is bounded by the launcher and RequestTimeout instead.
	BackendTimeout time.Duration
	// RequestTimeout bounds the whole of a request (default 75s: a stop of a dts dev worker may
	// wait up to a minute for its checkpoint).
	RequestTimeout time.Duration
	// Leadership elects the dispatcher that reconciles; default SoleLeader.
	Leadership Leadership
	// ReconcileInterval is how often the leader compares tasks with the launcher's jobs and
	// credentials (default 5s). A difference is repaired when two passes in a row see it, so
	// that the steps of a request in progress are not mistaken for the remains of one that died.
	ReconcileInterval time.Duration
	// ReconcileGrace is how old a task with neither credentials nor a job must be before the
	// reconciler takes it for the remains of a submit that died before it stored the account,
	// and deletes it (default 1m: longer than any submit takes).
	ReconcileGrace time.Duration
	// ViewMaxAge is how old the list's snapshot of the scheduler's view may be before a list
	// takes a new one, in the background (default 5s; see view.go).
	ViewMaxAge time.Duration
	// Location is the zone the API writes times in (default the local zone).
	Location *time.Location
	// SubmitPrecheck makes submit and alter run the precheck (package precheck) and refuse a
	// task with blocking failures unless the request says ?force=true. cmd/dts turns it on;
	// off, only the endpoints precheck and preview check.
	SubmitPrecheck bool
	Logger         *slog.Logger
}

// Defaults of Config.
const (
	DefaultPlacementTimeout  = 10 * time.Second
	DefaultBackendTimeout    = 10 * time.Second
	DefaultRequestTimeout    = 75 * time.Second
	DefaultReconcileInterval = 5 * time.Second
	DefaultReconcileGrace    = time.Minute
	DefaultViewMaxAge        = 5 * time.Second
)

func (c *Config) applyDefaults() {
	if c.PlacementTimeout <= 0 {
		c.PlacementTimeout = DefaultPlacementTimeout
	}
	if c.BackendTimeout <= 0 {
		c.BackendTimeout = DefaultBackendTimeout
	}
	if c.RequestTimeout <= 0 {
		c.RequestTimeout = DefaultRequestTimeout
	}
	if c.Leadership == nil {
		c.Leadership = SoleLeader{}
	}
	if c.ReconcileInterval <= 0 {
		c.ReconcileInterval = DefaultReconcileInterval
	}
	if c.ReconcileGrace <= 0 {
		c.ReconcileGrace = DefaultReconcileGrace
	}
	if c.ViewMaxAge <= 0 {
		c.ViewMaxAge = DefaultViewMaxAge
	}
	if c.Location == nil {
		c.Location = time.Local
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
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
	if c.Store == nil || c.Launcher == nil {
		errs = append(errs, errors.New("a store and a launcher are required"))
	}
	if (c.AuthUser == "" || c.AuthPassword == "") && !c.Insecure {
		errs = append(errs, errors.New("basic auth credentials are required (or run it insecure, without auth)"))
	}
	if c.DefaultCredentials != nil && c.DefaultCredentials.Username != "" && c.SourceAllow == nil {
		errs = append(errs, errors.New("a default replication account needs an allow-list of the source hosts it may log in to; without one any API caller could point a task at a server of theirs and receive its password"))
	}
	if c.PlacementTimeout >= c.RequestTimeout || c.BackendTimeout >= c.RequestTimeout {
		errs = append(errs, fmt.Errorf("the placement timeout (%s) and the backend timeout (%s) must be shorter than the request timeout (%s)", c.PlacementTimeout, c.BackendTimeout, c.RequestTimeout))
	}
	if c.ReconcileGrace < 2*c.BackendTimeout {
		errs = append(errs, fmt.Errorf("the reconcile grace (%s) must be at least twice the backend timeout (%s), or a submit in progress could be taken for one that died", c.ReconcileGrace, c.BackendTimeout))
	}
	return errors.Join(errs...)
}

// MaxBody is the largest request body accepted. A larger Content-Length is refused on the
// headers, before the body is read (see frontdoor.go); a chunked body is cut off here.
const MaxBody = 1 << 20

// Server is a dispatcher.
type Server struct {
	cfg     Config
	log     *slog.Logger
	app     *fiber.App
	metrics *metrics
	// lingering holds a token per connection being drained after a refused body.
	lingering chan struct{}
	// checks runs the consistency checks this dispatcher was asked for (verify.go).
	checks *checkRunner
	// view is the list's snapshot of the scheduler's view.
	view jobView
}

// New returns a dispatcher for cfg.
func New(cfg Config) (*Server, error) {
	cfg.applyDefaults()
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("dispatcher: %w", err)
	}
	s := &Server{cfg: cfg, log: cfg.Logger, metrics: newMetrics(), lingering: make(chan struct{}, lingerSlots), checks: newCheckRunner()}
	s.app = fiber.New(fiber.Config{
		AppName:               "dts",
		BodyLimit:             MaxBody,
		DisableStartupMessage: true,
		ErrorHandler:          s.errorHandler,
		ReadTimeout:           30 * time.Second,
		WriteTimeout:          60 * time.Second,
		IdleTimeout:           2 * time.Minute,
		// fasthttp would read a multipart body into memory and temporary files before any
		// handler; the API takes JSON only.
		DisablePreParseMultipartForm: true,
	})
	s.routes()
	// fiber builds its fasthttp server in New and keeps it: these hooks see every request, also
	// through app.Test.
	srv := s.app.Server()
	srv.HeaderReceived = s.headerReceived
	srv.Handler = s.front(srv.Handler)
	return s, nil
}

// backend bounds one call to the store or the scheduler within the request's ctx.
func (s *Server) backend(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, s.cfg.BackendTimeout)
}

// App is the fiber application, for tests (app.Test) and embedding.
func (s *Server) App() *fiber.App { return s.app }

// Serve serves on ln until ctx ends, then shuts down gracefully (bounded to 10s).
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	errc := make(chan error, 1)
	go func() { errc <- s.app.Listener(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serve http: %w", err)
	case <-ctx.Done():
	}
	defer s.Close()
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.app.ShutdownWithContext(sctx); err != nil {
		return fmt.Errorf("shut down http: %w", err)
	}
	<-errc
	return nil
}

func (s *Server) routes() {
	s.app.Use(s.observe)
	s.app.Use(recover.New())
	s.app.Use(s.guard) // Basic auth on everything but /healthz and /metrics, and the CSRF rules
	s.app.Get("/healthz", s.healthz)
	s.app.Get("/metrics", s.metrics.handler)
	v1 := s.app.Group("/v1")
	v1.Post("/dispatch/submit", s.submit)
	v1.Put("/dispatch/alter/:id", s.alter)
	v1.Get("/task/list", s.list)
	v1.Get("/task/:id", s.get)
	v1.Post("/task/:id/stop", s.stop)
	v1.Post("/task/:id/start", s.start)
	v1.Delete("/task/:id", s.delete)
	// Before, during and after a task (checks.go, verify.go).
	v1.Post("/dispatch/precheck", s.precheck)
	v1.Post("/dispatch/preview", s.preview)
	v1.Post("/task/:id/verify", s.startVerify)
	v1.Get("/task/:id/verify", s.verifyStatus)
	s.app.Use(func(c *fiber.Ctx) error {
		return api.Errorf(api.CodeNotFound, "no route %s %s", c.Method(), c.Path())
	})
}
