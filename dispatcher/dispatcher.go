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

// Config configures a dispatcher.
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
	// Location is the zone the API writes times in (default the local zone).
	Location *time.Location
	// SubmitPrecheck makes submit and alter run the precheck (package precheck) and refuse a
	// task with blocking failures unless the request says ?force=true. cmd/dts turns it on;
	// off, only the endpoints precheck and preview check.
	SubmitPrecheck bool
	Logger         *slog.Logger
}

// MaxBody is the largest request body accepted. A larger Content-Length is refused on the
// headers, before the body is read (see frontdoor.go); a chunked body is cut off here.
const MaxBody = 1 << 20

// requestTimeout bounds the work behind one request: store, scheduler and workers each get
// what is left of it, and a step that does not finish in time answers -503 with its reason.
const requestTimeout = 75 * time.Second

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
}

// New returns a dispatcher for cfg.
func New(cfg Config) (*Server, error) {
	if cfg.Store == nil || cfg.Launcher == nil {
		return nil, errors.New("dispatcher: a store and a launcher are required")
	}
	if (cfg.AuthUser == "" || cfg.AuthPassword == "") && !cfg.Insecure {
		return nil, errors.New("dispatcher: Basic auth credentials are required (or run it insecure, without auth)")
	}
	if cfg.DefaultCredentials != nil && cfg.DefaultCredentials.Username != "" && cfg.SourceAllow == nil {
		return nil, errors.New("dispatcher: a default replication account needs an allow-list of the source hosts it may log in to; without one any API caller could point a task at a server of theirs and receive its password")
	}
	if cfg.PlacementTimeout <= 0 {
		cfg.PlacementTimeout = 10 * time.Second
	}
	if cfg.Location == nil {
		cfg.Location = time.Local
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
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
