package consul_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	consulapi "github.com/hashicorp/consul/api"

	"github.com/dtsrepl/dts/api"
	"github.com/dtsrepl/dts/internal/testenv"
	"github.com/dtsrepl/dts/store/consul"
)

// slowProxy forwards to Consul and holds every session create for delay before forwarding it,
// like a Consul (or a network) slow to answer; it counts the renewals it forwarded.
type slowProxy struct {
	url     string
	renewed atomic.Int64
}

func startSlowProxy(t *testing.T, consulAddr string, delay time.Duration) *slowProxy {
	t.Helper()
	target, err := url.Parse("http://" + consulAddr)
	if err != nil {
		t.Fatal(err)
	}
	p := &slowProxy{}
	rp := httputil.NewSingleHostReverseProxy(target)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case strings.HasPrefix(r.URL.Path, "/v1/session/create"):
			time.Sleep(delay)
		case strings.HasPrefix(r.URL.Path, "/v1/session/renew/"):
			defer p.renewed.Add(1)
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	p.url = srv.URL
	return p
}

// A session create that takes longer than half the TTL is no lock loss: the TTL runs from when
// Consul made the session, which is after the request was sent. The worker used to start its
// clock before the call, so its first renewal, due half a TTL after the create returned, already
// counted more than a TTL and gave the lock up (the worker then stopped and restarted).
func TestSlowSessionCreateKeepsTheLock(t *testing.T) {
	c := testenv.StartConsul(t)
	e := newEnv(t, c)
	s := consul.New(e.client(t), e.prefix)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	id, err := s.Create(ctx, &api.Task{Spec: api.TaskSpec{Kafka: api.Kafka{Addr: "k:9092", Topic: "t"}}, Version: 1, Desired: api.DesiredRunning})
	if err != nil {
		t.Fatal(err)
	}

	const ttl = 10 * time.Second // Consul's minimum
	proxy := startSlowProxy(t, c.Addr, 7*time.Second)
	cfg := consulapi.DefaultNonPooledConfig()
	cfg.Address = strings.TrimPrefix(proxy.url, "http://")
	slow, err := consulapi.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	rec := consul.New(slow, e.prefix).TaskRecord(id, consul.RecordOptions{Name: "slow", SessionTTL: ttl, Logger: testLogger(t)})
	t.Cleanup(func() { _ = rec.Unlock(context.Background()) })
	lost, err := rec.Lock(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// Wait for two renewals to have been answered, then the lock must still be held.
	for proxy.renewed.Load() < 2 {
		select {
		case <-lost:
			t.Fatal("the lock was given up after a slow session create")
		case <-ctx.Done():
			t.Fatal("no renewal reached Consul")
		case <-time.After(100 * time.Millisecond):
		}
	}
	select {
	case <-lost:
		t.Fatal("the lock was given up after a slow session create")
	default:
	}
}
