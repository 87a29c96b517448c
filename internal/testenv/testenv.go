// Package testenv starts the real servers dts talks to (MariaDB, Dolt for the MySQL flavor,
// Consul, Nomad and a Kafka-protocol broker) on free loopback ports for tests, and stops them in
// t.Cleanup.
//
// A test that needs a server and cannot get one fails with the reason; nothing here skips.
package testenv

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// leakOptions are the goroutines that outlive the tests by design: libraries' process-wide
// background work, not ours.
var leakOptions = []goleak.Option{
	// go-metrics (used by sarama) ticks meters from one process-wide goroutine.
	goleak.IgnoreTopFunction("github.com/rcrowley/go-metrics.(*meterArbiter).tick"),
	// HTTP keep-alive connections of clients (Consul, Nomad) idle in the pool until they time
	// out.
	goleak.IgnoreTopFunction("net/http.(*persistConn).readLoop"),
	goleak.IgnoreTopFunction("net/http.(*persistConn).writeLoop"),
	goleak.IgnoreTopFunction("internal/poll.runtime_pollWait"),
	// sarama's circuit breaker, once opened, sleeps out its timeout (10s) in a goroutine of its
	// own and then ends.
	goleak.IgnoreAnyFunction("github.com/eapache/go-resiliency/breaker.(*Breaker).timer"),
	// fasthttp (under the dispatcher's fiber app) keeps the Date header fresh from one
	// process-wide goroutine, and a stopped server's worker-pool cleaner sleeps out its idle
	// period (10s) before it sees the stop.
	goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.updateServerDate.func1"),
	goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.(*workerPool).Start.func2"),
}

// RepoRoot is the root of the dts source tree (the directory holding go.mod).
func RepoRoot() string {
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		panic("testenv: no caller information")
	}
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("find a free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// freePorts returns n distinct free ports. They are held open together so that no two are equal.
func freePorts(t testing.TB, n int) []int {
	t.Helper()
	ls := make([]net.Listener, 0, n)
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	ports := make([]int, 0, n)
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatalf("find a free port: %v", err)
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports
}

// Binary returns the path of a tool the Makefile's deps target puts into ./bin.
func Binary(t testing.TB, name string) string {
	t.Helper()
	p := filepath.Join(RepoRoot(), "bin", name)
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("%s is not built at %s: run `make deps` (it builds Consul, Nomad and Dolt once per machine): %v", name, p, err)
	}
	return p
}

// Process is a server process started by a test. Its output goes to a log file, which is
// printed when the test fails.
type Process struct {
	Name    string
	LogPath string

	cmd  *exec.Cmd
	done chan struct{}
	err  error
}

// StartProcess starts a command in its own process group with output to dir/name.log.
// The returned process is stopped in t.Cleanup with stopSignal, then SIGKILL after a grace period.
func StartProcess(t testing.TB, name string, dir string, env []string, stopSignal syscall.Signal, argv ...string) *Process {
	t.Helper()
	logPath := filepath.Join(dir, name+".log")
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatalf("create %s log: %v", name, err)
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdout = logf
	cmd.Stderr = logf
	cmd.Env = env
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logf.Close()
		t.Fatalf("start %s (%s): %v", name, argv[0], err)
	}
	p := &Process{Name: name, LogPath: logPath, cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		logf.Close()
		close(p.done)
	}()
	t.Cleanup(func() {
		if t.Failed() {
			p.dumpLog(t)
		}
		p.Stop(stopSignal, 30*time.Second)
	})
	return p
}

// Pid is the process id.
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// Exited reports whether the process has ended, and how.
func (p *Process) Exited() (bool, error) {
	select {
	case <-p.done:
		return true, p.err
	default:
		return false, nil
	}
}

// Done is closed when the process has ended.
func (p *Process) Done() <-chan struct{} { return p.done }

// Signal sends sig to the process.
func (p *Process) Signal(sig syscall.Signal) error {
	return p.cmd.Process.Signal(sig)
}

// Freeze stops the process with SIGSTOP: it keeps its sockets open and accepts connections
// (the kernel completes handshakes) but answers nothing, like a server that hangs. Thaw, or Stop,
// lets it go on. It returns once every thread of the process is stopped: the signal is delivered
// asynchronously, and a thread still running could answer one more request.
func (p *Process) Freeze() error {
	if err := p.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		return err
	}
	deadline := time.Now().Add(10 * time.Second)
	for !p.stopped() {
		if time.Now().After(deadline) {
			return fmt.Errorf("%s did not stop within 10s of SIGSTOP", p.Name)
		}
		time.Sleep(5 * time.Millisecond)
	}
	return nil
}

// stopped reports whether every thread of the process is in the stopped state (T).
func (p *Process) stopped() bool {
	dir := fmt.Sprintf("/proc/%d/task", p.Pid())
	tasks, err := os.ReadDir(dir)
	if err != nil || len(tasks) == 0 {
		return false
	}
	for _, t := range tasks {
		b, err := os.ReadFile(filepath.Join(dir, t.Name(), "stat"))
		if err != nil {
			return false
		}
		s := string(b)
		i := strings.LastIndexByte(s, ')')
		if i < 0 || i+2 >= len(s) || s[i+2] != 'T' {
			return false
		}
	}
	return true
}

// Thaw resumes a frozen process.
func (p *Process) Thaw() error { return p.cmd.Process.Signal(syscall.SIGCONT) }

// Stop sends sig, waits up to grace, then kills the whole process group. A frozen process is
// thawed first, so that it can act on sig.
func (p *Process) Stop(sig syscall.Signal, grace time.Duration) {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGCONT)
	_ = p.cmd.Process.Signal(sig)
	select {
	case <-p.done:
	case <-time.After(grace):
		_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
		<-p.done
	}
	// Children that outlived their parent in the same group go too.
	_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
}

// Log returns what the process has written so far.
func (p *Process) Log() string {
	b, _ := os.ReadFile(p.LogPath)
	return string(b)
}

func (p *Process) dumpLog(t testing.TB) {
	b, err := os.ReadFile(p.LogPath)
	if err != nil {
		return
	}
	const max = 16 << 10
	if len(b) > max {
		b = b[len(b)-max:]
	}
	t.Logf("---- last output of %s (%s) ----\n%s", p.Name, p.LogPath, b)
}

// WaitFor polls check until it returns nil, the process exits, or timeout passes.
func WaitFor(ctx context.Context, p *Process, timeout time.Duration, check func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var last error
	for {
		if p != nil {
			if exited, err := p.Exited(); exited {
				return fmt.Errorf("%s exited before it was ready (%v): %s", p.Name, err, tail(p.Log(), 2000))
			}
		}
		if last = check(ctx); last == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("not ready after %s: %w", timeout, errors.Join(last, ctx.Err()))
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// portTaken reports whether a server failed because a port picked for it was taken meanwhile:
// free ports are found by binding and releasing them, so a parallel test can grab one first.
func portTaken(p *Process) bool {
	log := strings.ToLower(p.Log())
	return strings.Contains(log, "address already in use") || strings.Contains(log, "bind on tcp/ip port")
}

// startRetrying runs start up to three times while it fails on a taken port.
func startRetrying(t testing.TB, name string, start func() (*Process, error)) *Process {
	t.Helper()
	var err error
	for range 3 {
		var p *Process
		p, err = start()
		if err == nil {
			return p
		}
		if p == nil || !portTaken(p) {
			break
		}
		p.Stop(syscall.SIGKILL, time.Second)
	}
	t.Fatalf("%s did not start: %v", name, err)
	return nil
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "..." + s[len(s)-n:]
}

// baseEnv is the environment for child servers: the test's own minus variables that change their
// behaviour (AWS_CA_BUNDLE breaks Nomad's fingerprinting; the HashiCorp address variables would
// point a child at the developer's own agents).
func baseEnv(extra ...string) []string {
	drop := map[string]bool{"AWS_CA_BUNDLE": true, "CONSUL_HTTP_ADDR": true, "CONSUL_HTTP_TOKEN": true, "NOMAD_ADDR": true, "NOMAD_TOKEN": true}
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if !drop[k] {
			env = append(env, kv)
		}
	}
	return append(env, extra...)
}

var (
	buildMu    sync.Mutex
	buildDir   string
	buildCache = map[string]string{}
)

// Build compiles a main package of this module (for example "./cmd/dts") once per test process
// and returns the binary's path. Call Main from TestMain so the binaries are removed at exit.
func Build(t testing.TB, pkg string) string {
	t.Helper()
	buildMu.Lock()
	defer buildMu.Unlock()
	if p, ok := buildCache[pkg]; ok {
		return p
	}
	if buildDir == "" {
		d, err := os.MkdirTemp("", "dts-testbin-")
		if err != nil {
			t.Fatalf("temp dir for binaries: %v", err)
		}
		buildDir = d
	}
	out := filepath.Join(buildDir, filepath.Base(pkg))
	cmd := exec.Command("go", "build", "-o", out, pkg)
	cmd.Dir = RepoRoot()
	cmd.Env = append(os.Environ(), "GOFLAGS=-buildvcs=false")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", pkg, err, b)
	}
	buildCache[pkg] = out
	return out
}

// Main runs the package's tests and removes what Build made. Use it as TestMain's body:
//
//	func TestMain(m *testing.M) { testenv.Main(m) }
func Main(m *testing.M) {
	code := m.Run()
	if code == 0 {
		// Every test stopped what it started: no goroutine of ours may outlive the tests.
		if err := goleak.Find(leakOptions...); err != nil {
			fmt.Fprintf(os.Stderr, "goroutines left running after the tests: %v\n", err)
			code = 1
		}
	}
	buildMu.Lock()
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
	buildMu.Unlock()
	mariadbTemplateCleanup()
	os.Exit(code)
}

// SilentServer accepts TCP connections on loopback and never sends a byte: a server that hangs,
// or a peer behind a network that drops every packet it should return.
type SilentServer struct {
	Host string
	Port int

	ln    net.Listener
	mu    sync.Mutex
	conns []net.Conn
}

// StartSilentServer starts one on a free port; it closes in t.Cleanup.
func StartSilentServer(t testing.TB) *SilentServer { return StartSilentServerAt(t, "127.0.0.1:0") }

// StartSilentServerAt starts one on addr (the port of a stopped server, say).
func StartSilentServerAt(t testing.TB, addr string) *SilentServer {
	t.Helper()
	var ln net.Listener
	var err error
	for range 50 { // a port just closed may linger a moment
		if ln, err = net.Listen("tcp", addr); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("listen on %s: %v", addr, err)
	}
	s := &SilentServer{ln: ln}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.mu.Lock()
			s.conns = append(s.conns, c)
			s.mu.Unlock()
		}
	}()
	t.Cleanup(s.Close)
	a := ln.Addr().(*net.TCPAddr)
	s.Host, s.Port = a.IP.String(), a.Port
	return s
}

// Close stops listening and drops every connection.
func (s *SilentServer) Close() {
	s.ln.Close()
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range s.conns {
		c.Close()
	}
	s.conns = nil
}
