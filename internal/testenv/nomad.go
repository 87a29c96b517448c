package testenv

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	nomadapi "github.com/hashicorp/nomad/api"
)

// Nomad is a Nomad agent (server and client in one) on free loopback ports with raw_exec
// enabled, registering services in the given Consul.
type Nomad struct {
	Addr    string // http://host:port
	Client  *nomadapi.Client
	DataDir string
	Proc    *Process
}

// StartNomad starts a Nomad agent with deploy/nomad/dev.hcl plus the test's ports. In t.Cleanup
// it stops every job, waits until no allocation runs, stops the agent with SIGINT and unmounts
// what the client left under its data directory.
func StartNomad(t testing.TB, consul *Consul) *Nomad {
	t.Helper()
	bin := Binary(t, "nomad")
	dir := t.TempDir()
	dataDir := filepath.Join(dir, "data")
	n := &Nomad{DataDir: dataDir}
	n.Proc = startRetrying(t, "nomad", func() (*Process, error) {
		p := freePorts(t, 3)
		extra := fmt.Sprintf(`
data_dir = %q
name     = "dts-test"
ports {
  http = %d
  rpc  = %d
  serf = %d
}
consul {
  address = %q
}
`, dataDir, p[0], p[1], p[2], consul.Addr)
		extraPath := filepath.Join(dir, "test.hcl")
		if err := os.WriteFile(extraPath, []byte(extra), 0o644); err != nil {
			return nil, err
		}
		proc := StartProcess(t, "nomad", dir, baseEnv(), syscall.SIGINT,
			bin, "agent",
			"-config", filepath.Join(RepoRoot(), "deploy", "nomad", "dev.hcl"),
			"-config", extraPath,
		)
		n.Addr = fmt.Sprintf("http://127.0.0.1:%d", p[0])
		cfg := nomadapi.DefaultConfig()
		cfg.Address = n.Addr
		cfg.SecretID = ""
		c, err := nomadapi.NewClient(cfg)
		if err != nil {
			return proc, err
		}
		n.Client = c
		return proc, WaitFor(context.Background(), proc, 90*time.Second, func(context.Context) error {
			nodes, _, err := c.Nodes().List(nil)
			if err != nil {
				return err
			}
			ready := false
			for _, node := range nodes {
				ready = ready || node.Status == "ready" && node.Drivers["raw_exec"] != nil && node.Drivers["raw_exec"].Healthy
			}
			if !ready {
				return errors.New("no ready node with a healthy raw_exec driver yet")
			}
			// Variables can be written only once the keyring is initialized.
			v := &nomadapi.Variable{Path: "dts-testenv/probe", Items: nomadapi.VariableItems{"k": "v"}}
			if _, _, err := c.Variables().Update(v, nil); err != nil {
				return fmt.Errorf("keyring not ready: %w", err)
			}
			_, err = c.Variables().Delete("dts-testenv/probe", nil)
			return err
		})
	})
	// Cleanups run last-registered first: this graceful shutdown (jobs first, then the agent)
	// runs before StartProcess's hard stop and t.TempDir's removal.
	t.Cleanup(func() { n.shutdown(t) })
	return n
}

// shutdown stops every job, waits for allocations to stop, then stops the agent and unmounts the
// task directories' secret and private tmpfs mounts. raw_exec tasks outlive a killed agent, so
// the order matters.
func (n *Nomad) shutdown(t testing.TB) {
	_ = n.Proc.Thaw()
	if exited, _ := n.Proc.Exited(); !exited {
		jobs, _, err := n.Client.Jobs().List(nil)
		if err == nil {
			for _, j := range jobs {
				_, _, _ = n.Client.Jobs().Deregister(j.ID, true, nil)
			}
		}
		deadline := time.Now().Add(60 * time.Second)
		for time.Now().Before(deadline) {
			allocs, _, err := n.Client.Allocations().List(nil)
			if err != nil {
				break
			}
			running := 0
			for _, a := range allocs {
				if a.ClientStatus == "running" || a.ClientStatus == "pending" {
					running++
				}
			}
			if running == 0 {
				break
			}
			time.Sleep(200 * time.Millisecond)
		}
		n.Proc.Stop(syscall.SIGINT, 30*time.Second)
	}
	if err := unmountUnder(n.DataDir); err != nil {
		t.Logf("nomad cleanup: %v", err)
	}
}

// unmountUnder lazily unmounts every mount point below dir, deepest first.
func unmountUnder(dir string) error {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return err
	}
	defer f.Close()
	var points []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) > 4 && strings.HasPrefix(fields[4], dir+"/") {
			points = append(points, fields[4])
		}
	}
	sort.Slice(points, func(i, j int) bool { return len(points[i]) > len(points[j]) })
	var errs []error
	for _, p := range points {
		if err := syscall.Unmount(p, syscall.MNT_DETACH); err != nil {
			errs = append(errs, fmt.Errorf("unmount %s: %w", p, err))
		}
	}
	return errors.Join(errs...)
}
