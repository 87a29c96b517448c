//go:build bench

package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	nomadapi "github.com/hashicorp/nomad/api"

	"github.com/dtsrepl/dts/api"
	"github.com/dtsrepl/dts/internal/testenv"
	"github.com/dtsrepl/dts/jobs/nomad"
	"github.com/dtsrepl/dts/store/consul"
)

// TestScale is the control plane's scale run (`make bench-scale`): on one Nomad dev agent, one
// Consul, one MariaDB and one Kafka-protocol broker, it submits DTS_SCALE_TASKS tasks (default
// 200) through a real `dts dispatcher`, and prints submit and submit→Running percentiles, how
// many tasks run, list latencies, the dispatcher's and the workers' RSS and CPU, and how long
// deleting them all takes. Then it lists DTS_SCALE_LIST_TASKS (default 1000) tasks whose jobs
// cannot be placed, and as many stopped tasks. It asserts nothing about speed.
//
// DTS_SCALE_BIN runs another dts binary (an older build, for before/after figures);
// DTS_SCALE_ARGS adds dispatcher flags (space-separated).
func TestScale(t *testing.T) {
	n := envInt("DTS_SCALE_TASKS", 200)
	listN := envInt("DTS_SCALE_LIST_TASKS", 1000)
	bin := os.Getenv("DTS_SCALE_BIN")
	if bin == "" {
		bin = testenv.Build(t, "./cmd/dts")
	}
	c := testenv.StartConsul(t)
	nm := testenv.StartNomad(t, c)
	db := testenv.StartMariaDB(t, testenv.WithServerArgs("--max-connections=2000"))
	k := testenv.StartKafkaProcess(t, 1)
	db.Exec(t, "CREATE DATABASE scale", "CREATE TABLE scale.t (id INT PRIMARY KEY, v VARCHAR(32))")
	db.CreateReplicationUser(t, "scale_repl", "scale-pass")

	if n > 0 {
		d := startDispatcher(t, bin, c, nm, "placement")
		runPlacement(t, d, nm, db, k, bin, n)
		d.proc.Stop(syscall.SIGTERM, 30*time.Second)
	}
	if listN > 0 {
		runList(t, bin, c, nm, listN)
	}
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil {
		return v
	}
	return def
}

// scaleDispatcher is a dts dispatcher process and a client for it.
type scaleDispatcher struct {
	proc *testenv.Process
	url  string
	hc   *http.Client
}

func startDispatcher(t *testing.T, bin string, c *testenv.Consul, nm *testenv.Nomad, name string, extra ...string) *scaleDispatcher {
	t.Helper()
	addr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	env := []string{"CONSUL_HTTP_ADDR=" + c.Addr, "NOMAD_ADDR=" + nm.Addr, "DTS_AUTH_USER=u", "DTS_AUTH_PASSWORD=p", "HOME=" + os.Getenv("HOME"), "PATH=" + os.Getenv("PATH")}
	args := []string{bin, "dispatcher", "--listen", addr, "--log-level", "warn"}
	args = append(args, extra...)
	if a := strings.Fields(os.Getenv("DTS_SCALE_ARGS")); len(a) > 0 {
		args = append(args, a...)
	}
	p := testenv.StartProcess(t, "dispatcher-"+name, t.TempDir(), env, syscall.SIGTERM, args...)
	d := &scaleDispatcher{proc: p, url: "http://" + addr, hc: &http.Client{Timeout: 2 * time.Minute, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}}
	if err := testenv.WaitFor(context.Background(), p, 60*time.Second, func(ctx context.Context) error {
		var h json.RawMessage
		return d.call(ctx, http.MethodGet, "/healthz", "", nil, &h)
	}); err != nil {
		t.Fatalf("dispatcher: %v", err)
	}
	return d
}

func (d *scaleDispatcher) call(ctx context.Context, method, path, body string, hdr map[string]string, out any) error {
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, d.url+path, r)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.SetBasicAuth("u", "p")
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := d.hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	var env api.Envelope[json.RawMessage]
	if err := json.Unmarshal(b, &env); err != nil {
		return fmt.Errorf("HTTP %d: %.200s", resp.StatusCode, b)
	}
	if env.Code != 0 {
		return fmt.Errorf("code %d: %s", env.Code, env.Message)
	}
	if out != nil {
		return json.Unmarshal(env.Data, out)
	}
	return nil
}

func (d *scaleDispatcher) list(ctx context.Context, page, perPage int) (api.TaskList, error) {
	var l api.TaskList
	err := d.call(ctx, http.MethodGet, fmt.Sprintf("/v1/task/list?page=%d&per_page=%d", page, perPage), "", nil, &l)
	return l, err
}

func runPlacement(t *testing.T, d *scaleDispatcher, nm *testenv.Nomad, db *testenv.MariaDB, k *testenv.Kafka, bin string, n int) {
	ctx := context.Background()
	body := func(i int) string {
		return fmt.Sprintf(`{"task":{"source":{"host":"127.0.0.1","port":%d,"username":"scale_repl","password":"scale-pass"},"kafka":{"addr":%q,"topic":"scale_%d"},"filters":[{"dbname":"scale","match":"t"}],"incr":true}}`, db.Port, k.Addr(), i)
	}
	var (
		mu        sync.Mutex
		submitted = map[int64]time.Time{}
		submitDur []time.Duration
		callOf    = map[int64]time.Duration{}
		running   = map[int64]time.Duration{}
		failures  []string
	)
	done := make(chan struct{})
	pollDone := make(chan struct{})
	go func() { // the list, as an operator's dashboard would poll it
		defer close(pollDone)
		for {
			select {
			case <-done:
				return
			case <-time.After(250 * time.Millisecond):
			}
			l, err := d.list(ctx, 1, 1000)
			if err != nil {
				continue
			}
			now := time.Now()
			mu.Lock()
			for _, s := range l.Tasks {
				if at, ok := submitted[s.ID]; ok && s.State == api.StateRunning {
					if _, seen := running[s.ID]; !seen {
						running[s.ID] = now.Sub(at)
					}
				}
			}
			mu.Unlock()
		}
	}()

	start := time.Now()
	var wg sync.WaitGroup
	sem := make(chan struct{}, envInt("DTS_SCALE_CONCURRENCY", 4))
	for i := range n {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			t0 := time.Now()
			var out api.SubmitResponse
			err := d.call(ctx, http.MethodPost, "/v1/dispatch/submit", body(i), map[string]string{"Idempotency-Key": fmt.Sprintf("scale-%d", i)}, &out)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				failures = append(failures, err.Error())
				return
			}
			submitted[out.ID] = t0
			submitDur = append(submitDur, time.Since(t0))
			callOf[out.ID] = time.Since(t0)
		}()
	}
	wg.Wait()
	submitAll := time.Since(start)
	// Wait for every task to run, or for the count of running tasks to stop growing.
	last, lastChange := -1, time.Now()
	for time.Since(lastChange) < 60*time.Second {
		mu.Lock()
		r := len(running)
		mu.Unlock()
		if r == len(submitted) {
			break
		}
		if r != last {
			last, lastChange = r, time.Now()
		}
		time.Sleep(time.Second)
	}
	close(done)
	<-pollDone

	mu.Lock()
	var toRun, placedCall []time.Duration
	for id, d := range running {
		toRun = append(toRun, d)
		placedCall = append(placedCall, callOf[id])
	}
	mu.Unlock()
	l, err := d.list(ctx, 1, 1000)
	if err != nil {
		t.Fatalf("list: %v", err)
	}
	states := map[api.State]int{}
	var pendingMsg string
	for _, s := range l.Tasks {
		states[s.State]++
		if s.State == api.StatePending && pendingMsg == "" {
			pendingMsg = s.Message
		}
	}
	t.Logf("SCALE placement: %d tasks submitted in %s (%d at a time), %d failed%s", len(submitted), submitAll.Round(time.Millisecond), cap(sem), len(failures), firstOf(failures))
	t.Logf("SCALE submit call:      %s", pct(submitDur))
	t.Logf("SCALE submit call of the tasks that ran: %s", pct(placedCall))
	t.Logf("SCALE submit->Running:  %s (%d of %d running)", pct(toRun), len(toRun), len(submitted))
	t.Logf("SCALE states: %v; a pending task says: %q", states, pendingMsg)

	// Idle workers: memory and CPU over 10 s.
	workers := workerPids(bin)
	cpu0 := cpuTicks(append(workers, d.proc.Pid()))
	time.Sleep(10 * time.Second)
	cpu1 := cpuTicks(append(workers, d.proc.Pid()))
	var rss []float64
	var cpuW []float64
	for _, p := range workers {
		rss = append(rss, rssMiB(p))
		cpuW = append(cpuW, float64(cpu1[p]-cpu0[p])/100/10*1000) // ms of CPU per s
	}
	t.Logf("SCALE workers: %d processes; RSS MiB %s; idle CPU ms/s %s", len(workers), fpct(rss), fpct(cpuW))
	t.Logf("SCALE dispatcher: RSS %.0f MiB, idle CPU %.1f ms/s (while %d tasks run)", rssMiB(d.proc.Pid()), float64(cpu1[d.proc.Pid()]-cpu0[d.proc.Pid()])/100/10*1000, len(toRun))

	listLatency(t, d, "with running tasks", len(l.Tasks))

	// Teardown: delete everything, 4 at a time, then wait for Nomad to stop every allocation.
	start = time.Now()
	var delFail int
	for _, s := range l.Tasks {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			if err := d.call(ctx, http.MethodDelete, fmt.Sprintf("/v1/task/%d", s.ID), "", nil, nil); err != nil {
				mu.Lock()
				delFail++
				failures = append(failures[:0], err.Error())
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	deleted := time.Since(start)
	for time.Since(start) < 5*time.Minute && liveAllocs(nm.Client) > 0 {
		time.Sleep(time.Second)
	}
	t.Logf("SCALE teardown: %d deletes in %s (%d failed%s); allocations stopped after %s", len(l.Tasks), deleted.Round(time.Millisecond), delFail, firstOf(failures), time.Since(start).Round(time.Second))
}

func firstOf(s []string) string {
	if len(s) == 0 {
		return ""
	}
	return "; first: " + s[0]
}

// listLatency times the list: a page of 20, and one page of everything.
func listLatency(t *testing.T, d *scaleDispatcher, what string, total int) {
	ctx := context.Background()
	for _, pp := range []int{20, 1000} {
		var durs []time.Duration
		// At most 200 requests, and no more than 30 s of them (a slow list would take hours).
		began := time.Now()
		for i := range 200 {
			if time.Since(began) > 30*time.Second {
				break
			}
			page := 1
			if pp == 20 && total > 20 {
				page = 1 + i%((total+19)/20)
			}
			t0 := time.Now()
			if _, err := d.list(ctx, page, pp); err != nil {
				t.Logf("list: %v", err)
				continue
			}
			durs = append(durs, time.Since(t0))
		}
		t.Logf("SCALE list %s (%d tasks), per_page=%d: %s", what, total, pp, pct(durs))
	}
}

// runList seeds listN tasks whose jobs cannot be placed (they ask for more CPU than the client
// has; the before-build dispatchers read no task resources, but their jobs are seeded here) and
// listN stopped tasks, straight into Consul and Nomad as a dispatcher stores and
// launches them, then times a dispatcher's list of each.
func runList(t *testing.T, bin string, c *testenv.Consul, nm *testenv.Nomad, listN int) {
	ctx := context.Background()
	st := consul.New(c.Client, "")
	// The dispatcher's defaults, so that its reconciler finds the jobs current; the tasks ask
	// for more CPU than the client has.
	l, err := nomad.New(nomad.Config{Client: nm.Client, Command: bin})
	if err != nil {
		t.Fatal(err)
	}
	seed := func(desired api.Desired) {
		var wg sync.WaitGroup
		sem := make(chan struct{}, 8)
		for i := range listN {
			wg.Add(1)
			sem <- struct{}{}
			go func() {
				defer wg.Done()
				defer func() { <-sem }()
				now := time.Now()
				incr := true
				task := &api.Task{Spec: api.TaskSpec{
					Source:  &api.Source{Host: "127.0.0.1", Port: 3306, Username: "u"},
					Kafka:   api.Kafka{Addr: "127.0.0.1:9092", Topic: fmt.Sprintf("l%d", i)},
					Filters: []api.Filter{{DBName: "d"}}, Incr: &incr,
					Resources: &api.Resources{CPU: api.MaxCPU},
				}, Version: 1, Desired: desired, CreatedAt: now, UpdatedAt: now}
				id, err := st.Create(ctx, task)
				if err != nil {
					t.Errorf("seed: %v", err)
					return
				}
				if desired == api.DesiredRunning {
					if err := l.Launch(ctx, task, &api.Credentials{Username: "u", Password: "p"}); err != nil {
						t.Errorf("seed task %d: %v", id, err)
					}
				}
			}()
		}
		wg.Wait()
	}
	clear := func() {
		if _, err := c.Client.KV().DeleteTree("dts/", nil); err != nil {
			t.Fatal(err)
		}
		stubs, _, _ := nm.Client.Jobs().List(nil)
		for _, s := range stubs {
			_, _, _ = nm.Client.Jobs().Deregister(s.ID, true, nil)
		}
	}
	clear()
	t0 := time.Now()
	seed(api.DesiredRunning)
	t.Logf("SCALE seeded %d unplaceable tasks in %s", listN, time.Since(t0).Round(time.Millisecond))
	d := startDispatcher(t, bin, c, nm, "list-pending")
	lst, err := d.list(ctx, 1, 20)
	if err != nil {
		t.Fatal(err)
	}
	if len(lst.Tasks) > 0 {
		t.Logf("SCALE a pending task says: %s %q", lst.Tasks[0].State, lst.Tasks[0].Message)
	}
	listLatency(t, d, "pending", listN)
	t.Logf("SCALE dispatcher RSS after listing: %.0f MiB", rssMiB(d.proc.Pid()))
	d.proc.Stop(syscall.SIGTERM, 30*time.Second)

	clear()
	seed(api.DesiredStopped)
	d = startDispatcher(t, bin, c, nm, "list-stopped")
	listLatency(t, d, "stopped", listN)
	d.proc.Stop(syscall.SIGTERM, 30*time.Second)
	clear()
}

func liveAllocs(c *nomadapi.Client) int {
	allocs, _, err := c.Allocations().List(nil)
	if err != nil {
		return -1
	}
	n := 0
	for _, a := range allocs {
		if a.ClientStatus == "running" || a.ClientStatus == "pending" {
			n++
		}
	}
	return n
}

// workerPids are the processes running `bin worker`.
func workerPids(bin string) []int {
	var out []int
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil {
			continue
		}
		args := bytes.Split(b, []byte{0})
		if len(args) > 1 && string(args[0]) == bin && string(args[1]) == "worker" {
			out = append(out, pid)
		}
	}
	return out
}

func rssMiB(pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			f := strings.Fields(v)
			kb, _ := strconv.ParseFloat(f[0], 64)
			return kb / 1024
		}
	}
	return 0
}

// cpuTicks is utime+stime of each pid, in clock ticks (100 per second).
func cpuTicks(pids []int) map[int]int64 {
	out := map[int]int64{}
	for _, p := range pids {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p))
		if err != nil {
			continue
		}
		s := string(b)
		f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
		u, _ := strconv.ParseInt(f[11], 10, 64)
		st, _ := strconv.ParseInt(f[12], 10, 64)
		out[p] = u + st
	}
	return out
}

func pct(d []time.Duration) string {
	if len(d) == 0 {
		return "none"
	}
	slices.Sort(d)
	at := func(p float64) time.Duration { return d[min(len(d)-1, int(p*float64(len(d))))] }
	return fmt.Sprintf("p50 %s p90 %s p99 %s max %s (n=%d)", at(.5).Round(100*time.Microsecond), at(.9).Round(100*time.Microsecond), at(.99).Round(100*time.Microsecond), d[len(d)-1].Round(100*time.Microsecond), len(d))
}

func fpct(v []float64) string {
	if len(v) == 0 {
		return "none"
	}
	slices.Sort(v)
	sum := 0.0
	for _, x := range v {
		sum += x
	}
	return fmt.Sprintf("mean %.1f p50 %.1f max %.1f", sum/float64(len(v)), v[len(v)/2], v[len(v)-1])
}
