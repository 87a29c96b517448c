package api_test

import (
	"errors"
	"testing"

	"github.com/dtsrepl/dts/api"
	"github.com/dtsrepl/dts/internal/devstack"
)

// serve runs a dispatcher on the embedded store and the local launcher, whose workers wait to be
// stopped, and returns a client of it with the given credentials.
func serve(t *testing.T, user, password string) *api.Client {
	t.Helper()
	st := devstack.Start(t, devstack.Config{AuthUser: "op", AuthPassword: "pw"})
	c, err := api.NewClient(&api.ClientConfig{Address: st.URL, User: user, Password: password})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func clientSpec(topic string) *api.TaskSpec {
	return &api.TaskSpec{
		Source:  &api.Source{Host: "127.0.0.1", Port: 3306, Username: "repl", Password: "secret"},
		Kafka:   api.Kafka{Addr: "127.0.0.1:9092", Topic: topic},
		Filters: []api.Filter{{DBName: "shop"}},
	}
}

func wantAPIError(t *testing.T, what string, err error, code int) {
	t.Helper()
	var e *api.Error
	if !errors.As(err, &e) || e.Code != code || e.Message == "" {
		t.Fatalf("%s: %v, want an *api.Error with code %d and a message", what, err, code)
	}
}

// TestClient drives every call of the Go client against a dispatcher and checks what it decodes,
// and that errors come back as *api.Error with the envelope's code.
func TestClient(t *testing.T) {
	ctx := t.Context()
	c := serve(t, "op", "pw")

	out, err := c.Submit(ctx, clientSpec("a"))
	if err != nil {
		t.Fatal(err)
	}
	if out.ID != 1 || out.Addr == "" {
		t.Errorf("submit: %+v, want task 1 with its worker's address", out)
	}
	first, err := c.SubmitWithKey(ctx, clientSpec("b"), "key-1")
	if err != nil {
		t.Fatal(err)
	}
	again, err := c.SubmitWithKey(ctx, clientSpec("b"), "key-1")
	if err != nil || again.ID != first.ID {
		t.Fatalf("submit again with the key: %+v, %v; want task %d", again, err, first.ID)
	}

	l, err := c.List(ctx, 1, 1)
	if err != nil || l.Total != 2 || len(l.Tasks) != 1 || l.Tasks[0].ID != 1 {
		t.Fatalf("list page 1 of 1: %+v, %v", l, err)
	}
	d, err := c.Get(ctx, first.ID)
	if err != nil || d.ID != first.ID || d.Spec.Kafka.Topic != "b" || d.Spec.Source.Password != "" || d.SpecVersion != 1 {
		t.Fatalf("get: %+v, %v", d, err)
	}

	altered := clientSpec("c")
	altered.Source = nil
	if err := c.Alter(ctx, first.ID, altered); err != nil {
		t.Fatal(err)
	}
	if d, err = c.Get(ctx, first.ID); err != nil || d.Spec.Kafka.Topic != "c" || d.SpecVersion != 2 {
		t.Fatalf("get after alter: %+v, %v", d, err)
	}
	moved := clientSpec("c")
	moved.Source.Port = 3307
	wantAPIError(t, "alter of the source", c.Alter(ctx, first.ID, moved), api.CodeConflict)

	if err := c.Stop(ctx, first.ID); err != nil {
		t.Fatal(err)
	}
	if d, err = c.Get(ctx, first.ID); err != nil || d.State != api.StateStopped {
		t.Fatalf("get after stop: %+v, %v", d, err)
	}
	if err := c.Start(ctx, first.ID); err != nil {
		t.Fatal(err)
	}
	del, err := c.Delete(ctx, first.ID)
	if err != nil || del.LeftRunning != "" {
		t.Fatalf("delete: %+v, %v", del, err)
	}
	_, err = c.Get(ctx, first.ID)
	wantAPIError(t, "get of a deleted task", err, api.CodeNotFound)
	bad := clientSpec("d")
	bad.Kafka.Addr = ""
	_, err = c.Submit(ctx, bad)
	wantAPIError(t, "submit without kafka.addr", err, api.CodeBadRequest)

	_, err = serve(t, "op", "wrong").List(ctx, 1, 20)
	wantAPIError(t, "wrong password", err, api.CodeUnauthorized)
}

// TestClientAddress: the address may be given with or without a scheme, and nothing listening is
// an error that is not an *api.Error.
func TestClientAddress(t *testing.T) {
	for _, addr := range []string{"127.0.0.1:1", "http://127.0.0.1:1", "http://127.0.0.1:1/"} {
		c, err := api.NewClient(&api.ClientConfig{Address: addr})
		if err != nil {
			t.Fatalf("%s: %v", addr, err)
		}
		_, err = c.List(t.Context(), 1, 20)
		var e *api.Error
		if err == nil || errors.As(err, &e) {
			t.Errorf("%s: %v, want a connection error", addr, err)
		}
	}
}
