package testenv

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	consulapi "github.com/hashicorp/consul/api"
)

// Consul is a Consul dev agent (in-memory server) on free loopback ports.
type Consul struct {
	Addr   string // host:port of the HTTP API
	Client *consulapi.Client
	Proc   *Process
}

// StartConsul starts `consul agent -dev` with deploy/consul/dev.hcl and stops it in t.Cleanup.
func StartConsul(t testing.TB) *Consul {
	t.Helper()
	bin := Binary(t, "consul")
	dir := t.TempDir()
	var (
		addr string
		c    *consulapi.Client
	)
	proc := startRetrying(t, "consul", func() (*Process, error) {
		p := freePorts(t, 4)
		ports := fmt.Sprintf(`ports { http = %d, serf_lan = %d, serf_wan = %d, server = %d, dns = -1, grpc = -1, grpc_tls = -1 }`, p[0], p[1], p[2], p[3])
		proc := StartProcess(t, "consul", dir, baseEnv(), syscall.SIGINT,
			bin, "agent", "-dev",
			"-config-file", filepath.Join(RepoRoot(), "deploy", "consul", "dev.hcl"),
			"-hcl", ports,
			"-node", "dts-test",
		)
		addr = fmt.Sprintf("127.0.0.1:%d", p[0])
		cfg := consulapi.DefaultNonPooledConfig()
		cfg.Address = addr
		cfg.Token = ""
		var err error
		if c, err = consulapi.NewClient(cfg); err != nil {
			return proc, err
		}
		return proc, WaitFor(context.Background(), proc, 60*time.Second, func(context.Context) error {
			leader, err := c.Status().Leader()
			if err != nil {
				return err
			}
			if leader == "" {
				return errors.New("no leader yet")
			}
			return nil
		})
	})
	return &Consul{Addr: addr, Client: c, Proc: proc}
}
