package e2e

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dtsrepl/dts/api"
	"github.com/dtsrepl/dts/internal/testenv"
)

// TestConcurrentSubmit submits 200 tasks at once through two dispatchers sharing Consul and
// Nomad: every submit succeeds with its own id. The tasks point at closed loopback ports (their
// workers retry), and submit does not wait for placement. All are deleted through the API.
func TestConcurrentSubmit(t *testing.T) {
	t.Parallel()
	const n = 200
	start := time.Now()
	bin := testenv.Build(t, "./cmd/dts")
	consul := testenv.StartConsul(t)
	nomad := testenv.StartNomad(t, consul)
	env := childEnv("CONSUL_HTTP_ADDR="+consul.Addr, "NOMAD_ADDR="+nomad.Addr)
	dir := t.TempDir()
	var bases []string
	for i := range 2 {
		s := startServer(t, fmt.Sprintf("dispatcher-%d", i), dir, env, "dispatcher",
			"--auth-user", seedAPIUser, "--auth-password", seedAPIPass, "--worker-command", bin,
			"--placement-timeout", "1ms")
		bases = append(bases, s.URL)
	}
	t.Logf("servers up in %s", time.Since(start).Round(time.Millisecond))

	// Nothing listens on these: workers keep retrying, which costs next to nothing.
	closed := testenv.FreePort(t)
	body := seedSubmitBody(closed, fmt.Sprintf("127.0.0.1:%d", closed), "replicator_test")
	client := &http.Client{Timeout: 3 * time.Minute, Transport: &http.Transport{MaxIdleConnsPerHost: n}}
	ctx := context.Background()

	submitStart := time.Now()
	ids := make([]int64, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rep, err := httpJSON(ctx, client, http.MethodPost, bases[i%2]+"/v1/dispatch/submit", body)
			if err != nil {
				errs[i] = err
				return
			}
			var out api.SubmitResponse
			if rep.Env.Code != 0 {
				errs[i] = fmt.Errorf("code %d: %s", rep.Env.Code, rep.Env.Message)
				return
			}
			if err := jsonUnmarshal(rep.Env.Data, &out); err != nil {
				errs[i] = err
				return
			}
			ids[i] = out.ID
		}()
	}
	wg.Wait()
	submitTook := time.Since(submitStart)
	failed := 0
	for i, err := range errs {
		if err != nil {
			failed++
			if failed <= 5 {
				t.Errorf("submit %d to dispatcher %d: %v", i, i%2, err)
			}
		}
	}
	if failed > 0 {
		t.Fatalf("%d of %d submits failed", failed, n)
	}
	sorted := slices.Clone(ids)
	slices.Sort(sorted)
	if len(slices.Compact(slices.Clone(sorted))) != n || sorted[0] <= 0 {
		t.Fatalf("ids are not %d distinct positive ids: %v", n, sorted)
	}
	t.Logf("%d concurrent submits over 2 dispatchers took %s; ids %d..%d", n, submitTook.Round(time.Millisecond), sorted[0], sorted[n-1])

	// Both dispatchers list all of them, and Nomad has a job for each.
	var rec recorder
	for _, b := range bases {
		listStart := time.Now()
		l := rec.list(t, b)
		t.Logf("listing %d tasks took %s", l.Total, time.Since(listStart).Round(time.Millisecond))
		states := map[api.State]int{}
		for _, s := range l.Tasks {
			states[s.State]++
		}
		t.Logf("states: %v", states)
		var listed []int64
		for _, s := range l.Tasks {
			listed = append(listed, s.ID)
		}
		if l.Total != n || !slices.Equal(listed, sorted) {
			t.Errorf("%s lists %d tasks (total %d), want the %d submitted", b, len(listed), l.Total, n)
		}
	}
	stubs, _, err := nomad.Client.Jobs().List(nil)
	if err != nil {
		t.Fatal(err)
	}
	jobs := map[string]bool{}
	for _, s := range stubs {
		if strings.HasPrefix(s.ID, "dts-task-") {
			jobs[s.ID] = true
		}
	}
	for _, id := range ids {
		if !jobs[fmt.Sprintf("dts-task-%d", id)] {
			t.Errorf("no Nomad job for task %d", id)
		}
	}
	t.Logf("%d running allocations (the rest wait for room on the one test node)", liveAllocs(t, nomad.Client, ""))
	healthStart := time.Now()
	rec.curl(t, "", "-sS", "-i", bases[0]+"/healthz").ok(t, nil)
	t.Logf("/healthz with %d tasks took %s", n, time.Since(healthStart).Round(time.Millisecond))

	// Delete every task through the API, a few at a time, half through each dispatcher.
	deleteStart := time.Now()
	work := make(chan int64)
	var mu sync.Mutex
	var deleteErrs []string
	for w := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for id := range work {
				rep, err := httpJSON(ctx, client, http.MethodDelete, fmt.Sprintf("%s/v1/task/%d", bases[w%2], id), "")
				if err == nil && rep.Env.Code != 0 {
					err = fmt.Errorf("code %d: %s", rep.Env.Code, rep.Env.Message)
				}
				if err != nil {
					mu.Lock()
					deleteErrs = append(deleteErrs, fmt.Sprintf("delete %d: %v", id, err))
					mu.Unlock()
				}
			}
		}()
	}
	for _, id := range ids {
		work <- id
	}
	close(work)
	wg.Wait()
	for _, e := range deleteErrs {
		t.Error(e)
	}
	t.Logf("%d deletes took %s", n, time.Since(deleteStart).Round(time.Millisecond))
	if l := rec.list(t, bases[0]); l.Total != 0 {
		t.Errorf("%d tasks left after deleting all", l.Total)
	}
	stubs, _, err = nomad.Client.Jobs().List(nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range stubs {
		if strings.HasPrefix(s.ID, "dts-task-") {
			t.Errorf("job %s left after its task was deleted", s.ID)
		}
	}
	eventually(t, 2*time.Minute, "every worker stopped", func() error {
		if n := liveAllocs(t, nomad.Client, ""); n > 0 {
			return fmt.Errorf("%d allocations still running", n)
		}
		return nil
	})
	t.Logf("done after %s", time.Since(start).Round(time.Millisecond))
}
