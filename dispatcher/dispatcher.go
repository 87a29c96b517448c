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
	// DefaultCredentials is the source account for tasks that give only host and port.
	DefaultCredentials *api.Credentials
	// PlacementTimeout bounds how long submit waits for the worker's address (default 10s).
	PlacementTimeout time.Duration
	// Location is the zone the API writes times in (default the local zone).
	Location *time.Location
	Logger   *slog.Logger
}

// MaxBody is the largest request body accepted.
const MaxBody = 1 << 20

// readLimit is the largest body the server reads at all. Bodies between MaxBody and readLimit
// are read and refused with a -400 by the handlers: refused while being read, they would make
// the server close the connection under a client still sending, whose kernel then answers the
// unread data with a reset and may drop the -400 before the client reads it.
const readLimit = 8 * MaxBody

// Server is a dispatcher.
type Server struct {
	cfg     Config
	log     *slog.Logger
	app     *fiber.App
	metrics *metrics
}

// New returns a dispatcher for cfg.
func New(cfg Config) (*Server, error) {
	if cfg.Store == nil || cfg.Launcher == nil {
		return nil, errors.New("dispatcher: a store and a launcher are required")
	}
	if (cfg.AuthUser == "" || cfg.AuthPassword == "") && !cfg.Insecure {
		return nil, errors.New("dispatcher: Basic auth credentials are required (or run it insecure, without auth)")
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
	s := &Server{cfg: cfg, log: cfg.Logger, metrics: newMetrics()}
	s.app = fiber.New(fiber.Config{
		AppName:               "dts",
		BodyLimit:             readLimit,
		DisableStartupMessage: true,
		ErrorHandler:          s.errorHandler,
		ReadTimeout:           30 * time.Second,
		WriteTimeout:          60 * time.Second,
		IdleTimeout:           2 * time.Minute,
	})
	s.routes()
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
	s.app.Get("/healthz", s.healthz)
	s.app.Get("/metrics", s.metrics.handler)
	v1 := s.app.Group("/v1", s.basicAuth)
	v1.Post("/dispatch/submit", s.submit)
	v1.Put("/dispatch/alter/:id", s.alter)
	v1.Get("/task/list", s.list)
	v1.Get("/task/:id", s.get)
	v1.Post("/task/:id/stop", s.stop)
	v1.Post("/task/:id/start", s.start)
	v1.Delete("/task/:id", s.delete)
	s.app.Use(func(c *fiber.Ctx) error {
		return api.Errorf(api.CodeNotFound, "no route %s %s", c.Method(), c.Path())
	})
}
