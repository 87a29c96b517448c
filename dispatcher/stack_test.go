package dispatcher_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	consulapi "github.com/hashicorp/consul/api"

	"github.com/dtsrepl/dts/api"
	"github.com/dtsrepl/dts/dispatcher"
	"github.com/dtsrepl/dts/internal/testenv"
	"github.com/dtsrepl/dts/jobs/nomad"
	"github.com/dtsrepl/dts/store/consul"
)

// These tests run the dispatcher on real Consul and Nomad agents. Workers are a shell script
// that sleeps: placement, listing and the API's answers to backends that hang do not need a
// worker that replicates.

// stack is a dispatcher on Consul and Nomad, and a client of it.
type stack struct {
	consul *testenv.Consul
	nomad  *testenv.Nomad
	store  *consul.Store
	client *api.Client
	url    string
}

const (
	stackUser = "op"
	stackPass = "secret-op"
)

// startStack serves a dispatcher with change applied to its Config, its backend timeout 1s.
func startStack(t *testing.T, change ...func(*dispatcher.Config)) *stack {
	t.Helper()
	c := testenv.StartConsul(t)
	n := testenv.StartNomad(t, c)
	dir := t.TempDir()
	worker := filepath.Join(dir, "dts")
	if err := os.WriteFile(worker, []byte("#!/bin/sh\nexec sleep 3600\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	l, err := nomad.New(nomad.Config{Client: n.Client, Command: worker, KillTimeout: 2 * time.Second, CallTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	cc, err := consulapi.NewClient(&consulapi.Config{Address: c.Addr})
	if err != nil {
		t.Fatal(err)
	}
	st := consul.New(cc, "").WithCallTimeout(time.Second)
	cfg := dispatcher.Config{
		Store: st, Launcher: l,
		AuthUser: stackUser, AuthPassword: stackPass,
		BackendTimeout:   time.Second,
		PlacementTimeout: 20 * time.Second,
		ReconcileGrace:   time.Hour,
		Logger:           slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn})),
	}
	for _, ch := range change {
		ch(&cfg)
	}
	srv, err := dispatcher.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(ctx, ln)
	}()
	t.Cleanup(func() { cancel(); <-done })
	url := "http://" + ln.Addr().String()
	// The client's timeout is the hang detector: the dispatcher must answer well before it.
	client, err := api.NewClient(&api.ClientConfig{Address: url, User: stackUser, Password: stackPass, HTTPClient: &http.Client{Timeout: time.Minute}})
	if err != nil {
		t.Fatal(err)
	}
	waitKeyring(t, n)
	return &stack{consul: c, nomad: n, store: st, client: client, url: url}
}

// waitKeyring waits until Nomad can write Variables.
func waitKeyring(t *testing.T, n *testenv.Nomad) {
	t.Helper()
	eventually(t, "the nomad keyring", func() error {
		_, _, err := n.Client.Variables().PrefixList("nomad/jobs/", nil)
		return err
	})
}

// eventually polls check until it returns nil; the test's deadline is the bound.
func eventually(t *testing.T, what string, check func() error) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Minute)
	for {
		err := check()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %v", what, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func spec(topic string, res *api.Resources) *api.TaskSpec {
	return &api.TaskSpec{
		Source:    &api.Source{Host: "127.0.0.1", Port: 3306, Username: "repl", Password: "pw-" + topic},
		Kafka:     api.Kafka{Addr: "127.0.0.1:9092", Topic: topic},
		Filters:   []api.Filter{{DBName: "shop"}},
		Resources: res,
	}
}

func wantCode(t *testing.T, what string, err error, code int, substrings ...string) {
	t.Helper()
	var e *api.Error
	if !errors.As(err, &e) || e.Code != code {
		t.Fatalf("%s: %v, want code %d", what, err, code)
	}
	for _, s := range substrings {
		if !strings.Contains(e.Message, s) {
			t.Errorf("%s: message %q does not say %q", what, e.Message, s)
		}
	}
}

// TestListAndPlacement submits tasks whose workers fit, tasks whose workers cannot be placed (they
// ask for more memory than the client has) and stopped tasks, and checks the pages of the list
// and each task's state while Nomad places or fails to place them; then that a retried submit
// with the same idempotency key gets the first task.
func TestListAndPlacement(t *testing.T) {
	s := startStack(t, func(c *dispatcher.Config) { c.PlacementTimeout = 2 * time.Second })
	ctx := t.Context()
	huge := &api.Resources{MemoryMB: api.MaxMemoryMB, MemoryMaxMB: api.MaxMemoryMB}
	kind := map[int64]string{}
	for i := range 25 {
		var res *api.Resources
		k := "placed"
		switch i % 5 {
		case 1, 2:
			res, k = huge, "unplaced"
		case 3:
			k = "stopped"
		}
		out, err := s.client.Submit(ctx, spec(fmt.Sprintf("t%d", i), res))
		if err != nil {
			t.Fatalf("submit %d: %v", i, err)
		}
		if k == "unplaced" && out.Addr != "" {
			t.Errorf("task %d cannot be placed but submit answered address %q", out.ID, out.Addr)
		}
		if k == "stopped" {
			if err := s.client.Stop(ctx, out.ID); err != nil {
				t.Fatal(err)
			}
		}
		kind[out.ID] = k
	}

	// Pages: ids in order, the total, an empty page past the end.
	var all []api.TaskSummary
	for page := 1; page <= 4; page++ {
		l, err := s.client.List(ctx, page, 10)
		if err != nil {
			t.Fatal(err)
		}
		if l.Total != 25 {
			t.Errorf("page %d: total %d, want 25", page, l.Total)
		}
		if want := min(10, max(0, 25-(page-1)*10)); len(l.Tasks) != want {
			t.Errorf("page %d holds %d tasks, want %d", page, len(l.Tasks), want)
		}
		all = append(all, l.Tasks...)
	}
	for i, sum := range all {
		if sum.ID != int64(i+1) {
			t.Fatalf("position %d of the list holds task %d", i, sum.ID)
		}
	}

	// States, once Nomad has placed what fits and failed to place the rest.
	eventually(t, "the list shows every task's state", func() error {
		l, err := s.client.List(ctx, 1, 100)
		if err != nil {
			return err
		}
		for _, sum := range l.Tasks {
			switch kind[sum.ID] {
			case "unplaced":
				if sum.State != api.StatePending || !strings.Contains(sum.Message, "placement failed") || !strings.Contains(sum.Message, "memory") {
					return fmt.Errorf("unplaceable task %d: %s %q", sum.ID, sum.State, sum.Message)
				}
			case "stopped":
				if sum.State != api.StateStopped || sum.Desired != api.DesiredStopped {
					return fmt.Errorf("stopped task %d: %s %q", sum.ID, sum.State, sum.Message)
				}
			case "placed":
				// The stand-in worker reports nothing; the list shows its address from Nomad.
				if sum.State != api.StatePending || sum.ServiceAddr == "" {
					return fmt.Errorf("placed task %d: %s %q at %q", sum.ID, sum.State, sum.Message, sum.ServiceAddr)
				}
			}
		}
		return nil
	})

	// A retry after a lost answer gets the first task; the same key with another body is no retry.
	first, err := s.client.SubmitWithKey(ctx, spec("idem", nil), "order-42")
	if err != nil {
		t.Fatal(err)
	}
	again, err := s.client.SubmitWithKey(ctx, spec("idem", nil), "order-42")
	if err != nil || again.ID != first.ID {
		t.Fatalf("retried submit: %+v, %v; want task %d", again, err, first.ID)
	}
	_, err = s.client.SubmitWithKey(ctx, spec("other", nil), "order-42")
	wantCode(t, "the key with another body", err, api.CodeConflict, api.IdempotencyKeyHeader)
	if l, err := s.client.List(ctx, 1, 100); err != nil || l.Total != 26 {
		t.Fatalf("after retries: %d tasks, %v; want 26", l.Total, err)
	}
}

// TestBackendsThatHang: with Consul frozen, requests answer -503 saying so instead of hanging;
// with Nomad frozen, a stop answers -503 and the task stays desired running (it used to be
// recorded stopped before Nomad was asked), while the list still answers from the store.
func TestBackendsThatHang(t *testing.T) {
	s := startStack(t)
	ctx := t.Context()
	out, err := s.client.Submit(ctx, spec("hang", nil))
	if err != nil {
		t.Fatal(err)
	}
	id := out.ID

	if err := s.consul.Proc.Freeze(); err != nil {
		t.Fatal(err)
	}
	_, err = s.client.List(ctx, 1, 20)
	wantCode(t, "list with Consul frozen", err, api.CodeUnavailable, "store unavailable")
	_, err = s.client.Get(ctx, id)
	wantCode(t, "get with Consul frozen", err, api.CodeUnavailable, "store unavailable")
	_, err = s.client.Submit(ctx, spec("frozen", nil))
	wantCode(t, "submit with Consul frozen", err, api.CodeUnavailable, "store unavailable")
	if err := s.consul.Proc.Thaw(); err != nil {
		t.Fatal(err)
	}

	if err := s.nomad.Proc.Freeze(); err != nil {
		t.Fatal(err)
	}
	err = s.client.Stop(ctx, id)
	wantCode(t, "stop with Nomad frozen", err, api.CodeUnavailable, "scheduler unavailable")
	task, err := s.store.Get(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if task.Desired != api.DesiredRunning {
		t.Errorf("a stop Nomad did not carry out recorded desired %s", task.Desired)
	}
	if l, err := s.client.List(ctx, 1, 20); err != nil || len(l.Tasks) == 0 {
		t.Errorf("list with Nomad frozen: %+v, %v; want the stored tasks", l, err)
	}
	if err := s.nomad.Proc.Thaw(); err != nil {
		t.Fatal(err)
	}
	if err := s.client.Stop(ctx, id); err != nil {
		t.Fatalf("stop once Nomad answers: %v", err)
	}
}
