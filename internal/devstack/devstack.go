// Package devstack runs the stack of `dts dev` inside a test: a dispatcher serving the API on a
// loopback port, on the embedded store (store/bolt) and the local launcher, whose workers are a
// function the test gives. Tests of the API's clients (the Go client, `dts task`) use it to talk
// to a real dispatcher without a source, a broker, Consul or Nomad.
package devstack

import (
	"context"
	"net"
	"path/filepath"
	"testing"

	"github.com/dtsrepl/dts/api"
	"github.com/dtsrepl/dts/dispatcher"
	"github.com/dtsrepl/dts/jobs/local"
	"github.com/dtsrepl/dts/store/bolt"
)

// Config configures a Stack.
type Config struct {
	// AuthUser and AuthPassword are the dispatcher's Basic auth credentials.
	AuthUser, AuthPassword string
	// Worker returns the function each task's worker runs, given the store (where a worker
	// takes its task's lock and saves its status). Nil: workers that wait to be stopped.
	Worker func(db *bolt.DB) local.RunFunc
}

// Stack is a running dispatcher with its store.
type Stack struct {
	// URL is the dispatcher's base URL, http://127.0.0.1:<port>.
	URL string
	// DB is the embedded store the dispatcher keeps its tasks in.
	DB *bolt.DB
}

// Start runs a stack until the test ends.
func Start(t testing.TB, cfg Config) *Stack {
	t.Helper()
	db, err := bolt.Open(filepath.Join(t.TempDir(), "dts.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	run := func(ctx context.Context, _ *api.Task, _ api.Credentials, _ net.Listener) error {
		<-ctx.Done()
		return nil
	}
	if cfg.Worker != nil {
		run = cfg.Worker(db)
	}
	l, err := local.New(local.Config{Secrets: db, Run: run})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close(context.Background()) })
	srv, err := dispatcher.New(dispatcher.Config{Store: db, Launcher: l, AuthUser: cfg.AuthUser, AuthPassword: cfg.AuthPassword})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = srv.Serve(ctx, ln) }()
	t.Cleanup(func() { cancel(); <-done })
	return &Stack{URL: "http://" + ln.Addr().String(), DB: db}
}
