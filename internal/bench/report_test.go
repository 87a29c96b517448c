//go:build bench

package bench

import (
	"fmt"
	"io"
	"math"
	"sort"
	"strings"
	"time"
)

// figures is one row of the bench table: a phase over one row shape.
type figures struct {
	phase string
	shape string
	rows  int
	wall  time.Duration
	// cpu is the user+sys CPU time of the process doing the work (the test process or a dts
	// worker) over the phase; serverCPU is MariaDB's and the broker's over the same time.
	cpu       time.Duration
	serverCPU time.Duration
	rssMiB    float64
	load1     float64
	// base is the decode-only figure of the same shape, for the CPU ratio.
	base *figures
}

func (f figures) rate() float64 { return float64(f.rows) / f.wall.Seconds() }

// cpuPerM is CPU seconds per million rows.
func (f figures) cpuPerM() float64 { return f.cpu.Seconds() / float64(f.rows) * 1e6 }

// cores is how many cores the process kept busy on average: CPU time over wall time, which is
// also cpuPerM × rate ÷ 1M.
func (f figures) cores() float64 { return f.cpu.Seconds() / f.wall.Seconds() }

func (f figures) cells() []string {
	ratio, rss := "-", "-"
	if f.base != nil && f.base.cpu > 0 {
		ratio = fmt.Sprintf("%.2f", f.cpuPerM()/f.base.cpuPerM())
	}
	if f.rssMiB > 0 {
		rss = fmt.Sprintf("%.0f", f.rssMiB)
	}
	return []string{f.phase, f.shape, groupDigits(f.rows), fmt.Sprintf("%.2f", f.wall.Seconds()), groupDigits(int(math.Round(f.rate()))),
		fmt.Sprintf("%.2f", f.cpuPerM()), fmt.Sprintf("%.2f", f.cores()), ratio, rss,
		fmt.Sprintf("%.2f", f.serverCPU.Seconds()/f.wall.Seconds()), fmt.Sprintf("%.1f", f.load1)}
}

var tableHeader = []string{"phase", "shape", "rows", "wall s", "rows/s", "CPU s/1M rows", "cores", "× decode CPU", "peak RSS MiB", "db+broker cores", "load1"}

// printTable writes rows as a markdown table with aligned columns: the first left columns
// left-aligned, the others (numbers) right-aligned.
func printTable(w io.Writer, left int, header []string, rows [][]string) {
	width := make([]int, len(header))
	for _, r := range append([][]string{header}, rows...) {
		for i, c := range r {
			width[i] = max(width[i], len([]rune(c)))
		}
	}
	line := func(r []string) {
		var b strings.Builder
		b.WriteString("|")
		for i, c := range r {
			pad := strings.Repeat(" ", width[i]-len([]rune(c)))
			if i < left {
				b.WriteString(" " + c + pad + " |")
			} else {
				b.WriteString(" " + pad + c + " |")
			}
		}
		fmt.Fprintln(w, b.String())
	}
	line(header)
	var sep strings.Builder
	sep.WriteString("|")
	for i, wd := range width {
		if i < left {
			sep.WriteString(strings.Repeat("-", wd+2) + "|")
		} else {
			sep.WriteString(strings.Repeat("-", wd+1) + ":|")
		}
	}
	fmt.Fprintln(w, sep.String())
	for _, r := range rows {
		line(r)
	}
}

// groupDigits formats n with thousands separators: 1000000 -> "1,000,000".
func groupDigits(n int) string {
	s := fmt.Sprint(n)
	if n < 0 {
		return "-" + groupDigits(-n)
	}
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

// latencies are end-to-end latency samples of one phase.
type latencies struct {
	samples  []time.Duration
	sent     int
	duration time.Duration
	rps      int
	insertRT time.Duration // median round trip of the INSERT statements
}

// percentile is the nearest-rank p-quantile (0 < p <= 1) of the sorted samples.
func (l latencies) percentile(p float64) time.Duration {
	n := len(l.samples)
	i := int(math.Ceil(p*float64(n))) - 1
	return l.samples[min(max(i, 0), n-1)]
}

func (l *latencies) sort() {
	sort.Slice(l.samples, func(i, j int) bool { return l.samples[i] < l.samples[j] })
}

func (l latencies) cells() []string {
	ms := func(d time.Duration) string { return fmt.Sprintf("%.1f", float64(d)/float64(time.Millisecond)) }
	if len(l.samples) == 0 {
		return []string{groupDigits(l.sent), "0", "-", "-", "-", "-", "-"}
	}
	return []string{groupDigits(l.sent), groupDigits(len(l.samples)), ms(l.percentile(0.50)), ms(l.percentile(0.90)), ms(l.percentile(0.99)),
		ms(l.percentile(0.999)), ms(l.samples[len(l.samples)-1])}
}

var latencyHeader = []string{"rows sent", "received", "p50 ms", "p90 ms", "p99 ms", "p99.9 ms", "max ms"}
