//go:build bench

package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/dtsrepl/dts/api"
	"github.com/dtsrepl/dts/internal/testenv"
)

// ackedMetric counts the messages Kafka acknowledged to a worker; a phase ends when it reaches
// the phase's rows.
const ackedMetric = "dts_worker_messages_acked_total"

// workerProc is a `dts worker --task-file` process: one task, no Consul, its checkpoint in a
// state directory. The bench knows it only by its command line, its /metrics and its pid.
type workerProc struct {
	*testenv.Process
	addr    string
	scrapes int // of /metrics, each of which costs the worker some CPU
}

// startWorker writes spec as the task file and, when pos is set, a checkpoint at the MariaDB
// GTID position pos, and starts `dts worker` on them.
func startWorker(t *testing.T, bin, name string, spec api.TaskSpec, pos string) *workerProc {
	t.Helper()
	dir := t.TempDir()
	b, err := json.Marshal(api.SubmitRequest{Task: &spec})
	if err != nil {
		t.Fatalf("task file: %v", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "task.json"), b, 0o600); err != nil {
		t.Fatalf("task file: %v", err)
	}
	if pos != "" {
		writeStatus(t, dir, api.Status{State: api.StateRunning, Pos: "MariaDB/" + pos})
	}
	addr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	p := testenv.StartProcess(t, name, dir, os.Environ(), syscall.SIGTERM, bin, "worker", "--task-file", filepath.Join(dir, "task.json"),
		"--state-dir", filepath.Join(dir, "state"), "--listen", addr, "--log-level", "warn", "--pprof")
	return &workerProc{Process: p, addr: addr}
}

// writeStatus pre-seeds the worker's checkpoint, state/status.json, as the file store keeps it.
func writeStatus(t *testing.T, dir string, st api.Status) {
	t.Helper()
	if err := os.MkdirAll(filepath.Join(dir, "state"), 0o700); err != nil {
		t.Fatalf("state dir: %v", err)
	}
	b, err := json.Marshal(st)
	if err != nil {
		t.Fatalf("status file: %v", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "state", "status.json"), b, 0o600); err != nil {
		t.Fatalf("status file: %v", err)
	}
}

var nonWord = regexp.MustCompile(`[^a-zA-Z0-9]+`)

// measureWorker starts a worker for spec at pos and measures it until Kafka acknowledged rows
// messages: wall time from just before the start, user+sys CPU time of the worker process
// (/proc/PID/stat), its peak RSS. The worker is left running. With profile set, the worker's
// first five seconds of CPU profile are written there (go tool pprof FILE); profiling
// costs the worker a little CPU, which the figures then include.
func measureWorker(t *testing.T, bin, phase, profile string, s shape, spec api.TaskSpec, pos string, rows int, servers ...int) (*workerProc, figures) {
	t.Helper()
	t0 := time.Now()
	name := strings.Trim(nonWord.ReplaceAllString(phase+"-"+s.table, "-"), "-")
	w := startWorker(t, bin, name, spec, pos)
	m := startProc(t, w.Pid(), t0, servers...)
	var profiled chan error
	if profile != "" {
		profiled = make(chan error, 1)
		go func() { profiled <- w.profile(profile, 5*time.Second) }()
	}
	w.waitAcked(t, rows)
	f := figures{phase: phase, shape: s.table, rows: rows}
	m.stop(t, &f)
	scrapes := w.scrapes
	if b := w.metric(ackedMetric); b > 0 {
		t.Logf("%s/%s: %.0f B per message (key and value, before compression)", phase, s.table, w.metric("dts_worker_message_bytes_total")/b)
	}
	if per, err := w.scrapeCPU(200); err == nil {
		t.Logf("%s/%s: %d /metrics scrapes during the phase, about %s of worker CPU each: %.1f%% of the figure", phase, s.table,
			scrapes, per.Round(time.Microsecond), 100*float64(per)*float64(scrapes)/float64(f.cpu))
	}
	if profiled != nil {
		if err := <-profiled; err != nil {
			t.Logf("cpu profile: %v", err)
		} else {
			t.Logf("cpu profile of %s/%s: go tool pprof -top %s", phase, s.table, profile) // Go profiles carry their symbols
		}
	}
	return w, f
}

// waitAcked waits until the worker's acknowledged-message counter reaches n. Every scrape of
// /metrics costs the worker CPU that the phase counts (about 2 ms today), so it polls every
// 500 ms while the end is far and more often as it nears (a third of the time left at the rate
// so far): the end is seen within a few milliseconds with a few dozen scrapes.
func (w *workerProc) waitAcked(t *testing.T, n int) {
	t.Helper()
	t0 := time.Now()
	deadline := t0.Add(10 * time.Minute)
	for {
		v := w.metric(ackedMetric)
		if v >= float64(n) {
			return
		}
		if exited, err := w.Exited(); exited {
			t.Fatalf("%s exited: %v\n%s", w.Name, err, w.Log())
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %s is %v after %s, want %d", w.Name, ackedMetric, v, time.Since(t0), n)
		}
		wait := 20 * time.Millisecond // not serving yet
		if v == 0 {
			wait = 50 * time.Millisecond
		} else if v > 0 {
			left := time.Duration(float64(time.Since(t0)) * (float64(n) - v) / v)
			wait = min(max(left/3, 2*time.Millisecond), 500*time.Millisecond)
		}
		time.Sleep(wait)
	}
}

// metric is the value of an unlabelled metric on the worker's /metrics, or -1 when the worker
// does not answer (yet) or has no such metric.
func (w *workerProc) metric(name string) float64 {
	w.scrapes++
	req, err := http.NewRequest(http.MethodGet, "http://"+w.addr+"/metrics", nil)
	if err != nil {
		return -1
	}
	req.Header.Set("Accept-Encoding", "identity") // gzip would cost the worker more CPU
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return -1
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return -1
	}
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(name) + ` (\S+)$`).FindSubmatch(b)
	if m == nil {
		return -1
	}
	v, err := strconv.ParseFloat(string(m[1]), 64)
	if err != nil {
		return -1
	}
	return v
}

// scrapeCPU estimates the worker CPU one /metrics scrape costs, from n scrapes in a row of an
// idle worker.
func (w *workerProc) scrapeCPU(n int) (time.Duration, error) {
	c0, err := procCPU(w.Pid())
	if err != nil {
		return 0, err
	}
	for range n {
		w.metric(ackedMetric)
	}
	c1, err := procCPU(w.Pid())
	if err != nil {
		return 0, err
	}
	return (c1 - c0) / time.Duration(n), nil
}

// profile writes a CPU profile of the worker's next d to out.
func (w *workerProc) profile(out string, d time.Duration) error {
	url := fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", w.addr, int(d.Seconds()))
	resp, err := http.Get(url)
	for i := 0; err != nil && i < 100; i++ { // the worker is starting
		time.Sleep(10 * time.Millisecond)
		resp, err = http.Get(url)
	}
	if err != nil {
		return fmt.Errorf("get profile: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("get profile: %s", resp.Status)
	}
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("read profile: %w", err)
	}
	if err := os.WriteFile(out, b, 0o644); err != nil {
		return fmt.Errorf("write profile: %w", err)
	}
	return nil
}
