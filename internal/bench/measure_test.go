//go:build bench

package bench

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"regexp"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// clockTicks is the kernel's USER_HZ, the unit of utime and stime in /proc/PID/stat. It is what
// `getconf CLK_TCK` prints, read without cgo from the AT_CLKTCK entry of this process's
// auxiliary vector; 100, Linux's value everywhere, if that cannot be read.
var clockTicks = readClockTicks()

func readClockTicks() int64 {
	const atNull, atClkTck = 0, 17
	b, err := os.ReadFile("/proc/self/auxv")
	if err != nil {
		return 100
	}
	word := strconv.IntSize / 8
	val := func(p []byte) uint64 {
		if word == 4 {
			return uint64(binary.NativeEndian.Uint32(p))
		}
		return binary.NativeEndian.Uint64(p)
	}
	for i := 0; i+2*word <= len(b); i += 2 * word {
		switch val(b[i:]) {
		case atNull:
			return 100
		case atClkTck:
			if v := val(b[i+word:]); v > 0 {
				return int64(v)
			}
			return 100
		}
	}
	return 100
}

// procCPU is the user+sys CPU time process pid has used so far, all its threads together and
// none of its children's, from /proc/PID/stat.
func procCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, fmt.Errorf("cpu time of process %d: %w", pid, err)
	}
	d, err := parseStatCPU(b, clockTicks)
	if err != nil {
		return 0, fmt.Errorf("cpu time of process %d: %w", pid, err)
	}
	return d, nil
}

// parseStatCPU reads utime+stime (fields 14 and 15, in ticks of 1/hz s) from a /proc/PID/stat
// line. The command name (field 2) is in parentheses and may itself hold spaces and
// parentheses, so fields are counted from the last ')'.
func parseStatCPU(stat []byte, hz int64) (time.Duration, error) {
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, errors.New("stat line without a command name")
	}
	f := strings.Fields(string(stat[i+1:])) // f[0] is field 3, the state
	if len(f) < 13 {
		return 0, fmt.Errorf("stat line has %d fields after the command name, want at least 13", len(f))
	}
	utime, err := strconv.ParseInt(f[11], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("utime: %w", err)
	}
	stime, err := strconv.ParseInt(f[12], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("stime: %w", err)
	}
	return time.Duration(utime+stime) * time.Second / time.Duration(hz), nil
}

// selfCPU is the user+sys CPU time this test process has used so far (getrusage RUSAGE_SELF,
// microsecond resolution, which is what `time` reports for a process).
func selfCPU() (time.Duration, error) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, fmt.Errorf("getrusage: %w", err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), nil
}

var vmHWM = regexp.MustCompile(`VmHWM:\s+(\d+) kB`)

// peakRSS is the resident-set high-water mark (VmHWM) of process pid in MiB, or 0 if unknown.
func peakRSS(pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	m := vmHWM.FindSubmatch(b)
	if m == nil {
		return 0
	}
	kb, _ := strconv.ParseFloat(string(m[1]), 64)
	return kb / 1024
}

// resetPeakRSS sets process pid's VmHWM back to its current RSS (Linux 4.0 and later), so that
// a later peakRSS covers only what came after.
func resetPeakRSS(pid int) error {
	if err := os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", pid), []byte("5"), 0); err != nil {
		return fmt.Errorf("reset peak rss of %d: %w", pid, err)
	}
	return nil
}

// loadAvg is /proc/loadavg's 1-, 5- and 15-minute load averages.
func loadAvg() [3]float64 {
	var l [3]float64
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return l
	}
	f := strings.Fields(string(b))
	for i := 0; i < 3 && i < len(f); i++ {
		l[i], _ = strconv.ParseFloat(f[i], 64)
	}
	return l
}

// meter measures one phase: its wall time, and the user+sys CPU time and peak RSS of the one
// process doing the phase's work, plus the CPU time of the servers it talks to (MariaDB and the
// broker), which share the machine's cores with it.
type meter struct {
	pid     int // the measured process; os.Getpid() for phases that run in the test process
	self    bool
	servers []int
	t0      time.Time
	cpu0    time.Duration
	srv0    time.Duration
	load1   float64
}

// startSelf starts measuring a phase that runs in this test process. Garbage from earlier
// phases is collected and returned to the OS first and the RSS high-water mark reset, so that
// neither the CPU nor the peak memory of the phase carries anything of what came before. The
// caller must run nothing else in the process until stop.
func startSelf(t testing.TB, servers ...int) *meter {
	t.Helper()
	runtime.GC()
	debug.FreeOSMemory()
	m := &meter{pid: os.Getpid(), self: true, servers: servers}
	if err := resetPeakRSS(m.pid); err != nil {
		t.Logf("peak RSS of in-process phases is unknown: %v", err)
		m.pid = 0
	}
	m.begin(t)
	return m
}

// startProc starts measuring a phase whose work is done by process pid, from now on. For a
// process started for the phase, t0 is the time just before it was started, so its start-up
// counts in the wall time as it does in the CPU time.
func startProc(t testing.TB, pid int, t0 time.Time, servers ...int) *meter {
	t.Helper()
	m := &meter{pid: pid, servers: servers}
	m.begin(t)
	if !t0.IsZero() {
		m.t0 = t0
	}
	return m
}

func (m *meter) begin(t testing.TB) {
	t.Helper()
	m.load1 = loadAvg()[0]
	m.srv0 = m.serversCPU(t)
	var err error
	m.cpu0, err = m.cpu()
	if err != nil {
		t.Fatal(err)
	}
	m.t0 = time.Now()
}

func (m *meter) cpu() (time.Duration, error) {
	if m.self {
		return selfCPU()
	}
	return procCPU(m.pid)
}

func (m *meter) serversCPU(t testing.TB) time.Duration {
	t.Helper()
	var sum time.Duration
	for _, pid := range m.servers {
		d, err := procCPU(pid)
		if err != nil {
			t.Fatal(err)
		}
		sum += d
	}
	return sum
}

// stop ends the phase and fills f's wall time, CPU time, peak RSS and load.
func (m *meter) stop(t testing.TB, f *figures) {
	t.Helper()
	cpu, err := m.cpu()
	if err != nil {
		t.Fatal(err)
	}
	f.wall = time.Since(m.t0)
	f.cpu = cpu - m.cpu0
	f.serverCPU = m.serversCPU(t) - m.srv0
	f.load1 = m.load1
	if m.pid != 0 {
		f.rssMiB = peakRSS(m.pid)
	}
}

// TestParseStatCPU reads utime+stime past a command name holding spaces and parentheses.
func TestParseStatCPU(t *testing.T) {
	line := []byte("4242 (dts (x) y) S 1 4242 4242 0 -1 4194560 1234 0 0 0 250 37 0 0 20 0 9 0 100 0 0\n")
	d, err := parseStatCPU(line, 100)
	if err != nil {
		t.Fatal(err)
	}
	if want := 2870 * time.Millisecond; d != want {
		t.Errorf("parseStatCPU = %s, want %s", d, want)
	}
	if _, err := parseStatCPU([]byte("4242 (dts) S 1"), 100); err == nil {
		t.Error("parseStatCPU of a short line: no error")
	}
}
