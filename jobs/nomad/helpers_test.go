package nomad

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	nomadapi "github.com/hashicorp/nomad/api"

	"github.com/dtsrepl/dts/api"
	"github.com/dtsrepl/dts/internal/testenv"
)

// waitVariables waits until the agent can encrypt Variables: its node turns ready before the
// keyring is initialized, and until then every Variable write fails with a 500.
func waitVariables(t *testing.T, c *nomadapi.Client) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	poll(t, ctx, "waiting for the nomad keyring", func() (bool, error) {
		v := &nomadapi.Variable{Path: "dts-test/probe", Items: nomadapi.VariableItems{"k": "v"}}
		if _, _, err := c.Variables().Update(v, nil); err != nil {
			return false, err
		}
		_, err := c.Variables().Delete("dts-test/probe", nil)
		return err == nil, err
	})
}

func waitAddr(t *testing.T, ctx context.Context, l *Launcher, id int64) string {
	t.Helper()
	wctx, cancel := context.WithTimeout(ctx, 90*time.Second)
	defer cancel()
	addr, err := l.WaitAddr(wctx, id)
	if err != nil {
		t.Fatalf("WaitAddr: %v", err)
	}
	return addr
}

// poll calls check every 200ms until it reports done or ctx ends.
func poll(t *testing.T, ctx context.Context, what string, check func() (bool, error)) {
	t.Helper()
	var last error
	for {
		done, err := check()
		if done {
			return
		}
		last = err
		select {
		case <-ctx.Done():
			t.Fatalf("%s: %v (last error: %v)", what, ctx.Err(), last)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func waitJob(t *testing.T, ctx context.Context, l *Launcher, id int64, ok func(*api.JobInfo) bool) *api.JobInfo {
	t.Helper()
	var info *api.JobInfo
	poll(t, ctx, fmt.Sprintf("waiting for job of task %d", id), func() (bool, error) {
		all, err := l.Jobs(ctx, allIDs)
		if err != nil {
			return false, err
		}
		info = all[id]
		if info != nil {
			err = fmt.Errorf("last seen %+v", *info)
		}
		return ok(info), err
	})
	return info
}

func waitPassing(t *testing.T, ctx context.Context, consul *testenv.Consul, id int64) {
	t.Helper()
	poll(t, ctx, "waiting for a passing dts-worker service in consul", func() (bool, error) {
		entries, _, err := consul.Client.Health().Service("dts-worker", fmt.Sprintf("task-%d", id), true, nil)
		return err == nil && len(entries) == 1, err
	})
}

func runningAlloc(t *testing.T, c *nomadapi.Client, jobID string) *nomadapi.AllocationListStub {
	t.Helper()
	allocs, _, err := c.Jobs().Allocations(jobID, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range allocs {
		if a.ClientStatus == nomadapi.AllocClientStatusRunning {
			return a
		}
	}
	t.Fatalf("job %s has no running allocation", jobID)
	return nil
}

func readEnv(t *testing.T, ctx context.Context, path string) map[string]string {
	t.Helper()
	var b []byte
	poll(t, ctx, "waiting for "+path, func() (bool, error) {
		var err error
		b, err = os.ReadFile(path)
		return err == nil, err
	})
	env := map[string]string{}
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, "="); ok {
			env[k] = v
		}
	}
	return env
}

// readEnvAfter reads the env file once the worker has started n times.
func readEnvAfter(t *testing.T, ctx context.Context, starts string, n int, path string) map[string]string {
	t.Helper()
	poll(t, ctx, fmt.Sprintf("waiting for start %d", n), func() (bool, error) {
		b, err := os.ReadFile(starts)
		return err == nil && strings.Count(string(b), "\n") >= n, err
	})
	return readEnv(t, ctx, path)
}

func lines(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.Fields(string(b))
}

func readPid(t *testing.T, path string) int {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	return pid
}

func waitExit(t *testing.T, ctx context.Context, pid int) {
	t.Helper()
	poll(t, ctx, fmt.Sprintf("waiting for worker pid %d to exit", pid), func() (bool, error) {
		err := syscall.Kill(pid, 0)
		return errors.Is(err, syscall.ESRCH), err
	})
}

func decodeB64(t *testing.T, s string) string {
	t.Helper()
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		t.Errorf("decode %q: %v", s, err)
	}
	return string(b)
}

// allIDs are the task ids the tests use, for Jobs.
var allIDs = []int64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}
