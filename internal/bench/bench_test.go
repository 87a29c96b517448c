//go:build bench

package bench

import (
	"fmt"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/dtsrepl/dts/api"
	"github.com/dtsrepl/dts/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// defaultRows is the size of the orders backlog the project's figures are measured on.
const defaultRows = 1_000_000

// benchRows is BENCH_ROWS, the orders backlog's row changes (the wide backlog has a fifth as
// many): smaller for a quick run while developing, the default for figures anyone quotes.
func benchRows(t *testing.T) int {
	t.Helper()
	v := os.Getenv("BENCH_ROWS")
	if v == "" {
		return defaultRows
	}
	n, err := strconv.Atoi(strings.NewReplacer("_", "", ",", "").Replace(v))
	if err != nil || n < 10_000 {
		t.Fatalf("BENCH_ROWS=%q: want a number of rows, at least 10000", v)
	}
	return n
}

// phases are the bench's phases, in order; BENCH_PHASES picks some of them (the decode-only
// baselines always run: every figure is relative to them).
var phases = []string{"minimal", "worker", "latency", "exactly_once", "formats", "compression", "copy", "wide"}

// benchPhases is BENCH_PHASES: a comma-separated subset of phases (default all of them).
func benchPhases(t *testing.T) map[string]bool {
	t.Helper()
	on := map[string]bool{}
	v := os.Getenv("BENCH_PHASES")
	if v == "" {
		for _, p := range phases {
			on[p] = true
		}
		return on
	}
	for _, p := range strings.Split(v, ",") {
		p = strings.TrimSpace(p)
		if !slices.Contains(phases, p) {
			t.Fatalf("BENCH_PHASES=%q: %q is not one of %s", v, p, strings.Join(phases, ", "))
		}
		on[p] = true
	}
	if on["latency"] {
		on["worker"] = true // it measures the worker left running after the backlog
	}
	return on
}

// compare measures the worker again over shape s, BENCH_REPEAT-1 more times, and as many times
// the binary BENCH_COMPARE names (another build of dts, say the main branch's), alternately, so
// that two builds are compared in one run under the same load. Each run has its own server id.
func compare(t *testing.T, bin string, s shape, spec func(serverID uint32) api.TaskSpec, base *figures, servers []int) []figures {
	t.Helper()
	repeat := 1
	if v := os.Getenv("BENCH_REPEAT"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 20 {
			t.Fatalf("BENCH_REPEAT=%q: want 1 to 20 runs", v)
		}
		repeat = n
	}
	other := os.Getenv("BENCH_COMPARE")
	var out []figures
	id := uint32(4600)
	run := func(path, label string) {
		id++
		w, f := measureWorker(t, path, label, "", s, spec(id), s.start, s.rows, servers...)
		f.base = base
		out = append(out, f)
		w.Stop(syscall.SIGTERM, 30*time.Second)
	}
	for i := 0; i < repeat; i++ {
		if other != "" {
			run(other, "dts worker, BENCH_COMPARE")
		}
		if i > 0 {
			run(bin, "dts worker")
		}
	}
	return out
}

// TestBench prints the bench table. It asserts nothing about speed.
func TestBench(t *testing.T) {
	n := benchRows(t)
	on := benchPhases(t)
	profile := os.Getenv("BENCH_CPUPROFILE")
	loadBefore := loadAvg()

	bin := testenv.Build(t, "./cmd/dts")
	db := testenv.StartMariaDB(t)
	kafka := testenv.StartKafkaProcess(t, 4)
	servers := []int{db.Proc.Pid(), kafka.Proc.Pid()}

	orders := buildOrders(t, db, planOrders(n))
	dec := decodeOnly(t, db, orders, 9001, servers...)
	dec.base = &dec
	all := []figures{dec}
	if on["minimal"] {
		minimal := minimalPipeline(t, db, kafka, orders, servers...)
		minimal.base = &dec
		all = append(all, minimal)
	}
	var lat latencies
	var tail []figures
	ordersSpec := func(serverID uint32) api.TaskSpec {
		return api.TaskSpec{
			Source:  &api.Source{Host: db.Host, Port: db.Port, Username: db.User, Password: db.Password, ServerID: serverID},
			Kafka:   api.Kafka{Addr: kafka.Addr(), Topic: "orders", PartitionMode: api.PartitionByPrimaryKey, ExcludeColumns: api.StringList{"nothing_here"}},
			Filters: []api.Filter{{DBName: "bench", Match: "/ord.*/", Filter: "status >= 0"}},
		}
	}
	if on["worker"] {
		w, worker := measureWorker(t, bin, "dts worker", profile, orders, ordersSpec(0), orders.start, orders.rows, servers...)
		worker.base = &dec
		all = append(all, worker)
		if on["latency"] {
			var steady figures
			lat, steady = latency(t, db, kafka, w, "orders", servers...)
			steady.base = &dec
			tail = append(tail, steady)
		}
		w.Stop(syscall.SIGTERM, 30*time.Second)
		all = append(all, compare(t, bin, orders, ordersSpec, &dec, servers)...)
	}

	// The same worker with kafka.delivery exactly_once: Kafka transactions holding whole source
	// transactions and the checkpoint, committed at the task's commit interval.
	if on["exactly_once"] {
		spec := ordersSpec(4470)
		spec.Kafka.Topic = "orders_eos"
		spec.Kafka.Delivery = api.ExactlyOnce
		w, f := measureWorker(t, bin, "dts worker, exactly_once", "", orders, spec, orders.start, orders.rows, servers...)
		f.base = &dec
		all = append(all, f)
		w.Stop(syscall.SIGTERM, 30*time.Second)
	}

	// The same worker over the same backlog in each other message format (kafka.format), with
	// each format's defaults: the CPU a row costs in that format.
	if on["formats"] {
		for i, format := range []string{api.FormatCanal, api.FormatMaxwell, api.FormatDebezium} {
			w, f := measureWorker(t, bin, "dts worker, "+format+" format", "", orders, api.TaskSpec{
				Source: &api.Source{Host: db.Host, Port: db.Port, Username: db.User, Password: db.Password, ServerID: uint32(4450 + i)},
				Kafka: api.Kafka{Addr: kafka.Addr(), Topic: "orders_" + format, PartitionMode: api.PartitionByPrimaryKey, ExcludeColumns: api.StringList{"nothing_here"},
					Format: format},
				Filters: []api.Filter{{DBName: "bench", Match: "/ord.*/", Filter: "status >= 0"}},
			}, orders.start, orders.rows, servers...)
			f.base = &dec
			all = append(all, f)
			w.Stop(syscall.SIGTERM, 30*time.Second)
		}
	}

	// The same worker with each other kafka.compression: what compressing costs per row (lz4,
	// the default, is the "dts worker" row).
	if on["compression"] {
		for i, c := range []string{"none", "snappy", "zstd", "gzip"} {
			w, f := measureWorker(t, bin, "dts worker, compression "+c, "", orders, api.TaskSpec{
				Source: &api.Source{Host: db.Host, Port: db.Port, Username: db.User, Password: db.Password, ServerID: uint32(4460 + i)},
				Kafka: api.Kafka{Addr: kafka.Addr(), Topic: "orders_" + c, PartitionMode: api.PartitionByPrimaryKey, ExcludeColumns: api.StringList{"nothing_here"},
					Compression: c},
				Filters: []api.Filter{{DBName: "bench", Match: "/ord.*/", Filter: "status >= 0"}},
			}, orders.start, orders.rows, servers...)
			f.base = &dec
			all = append(all, f)
			w.Stop(syscall.SIGTERM, 30*time.Second)
		}
	}

	if on["copy"] {
		incr := false
		tableRows, err := db.Query(t, "SELECT COUNT(*) FROM bench.orders").GetInt(0, 0)
		if err != nil {
			t.Fatalf("count orders: %v", err)
		}
		copyProfile := ""
		if profile != "" {
			copyProfile = profile + ".copy"
		}
		w, cp := measureWorker(t, bin, "dts initial copy (incr=false)", copyProfile, orders, api.TaskSpec{
			Source:  &api.Source{Host: db.Host, Port: db.Port, Username: db.User, Password: db.Password, ServerID: 4444},
			Kafka:   api.Kafka{Addr: kafka.Addr(), Topic: "orders_copy", PartitionMode: api.PartitionByPrimaryKey},
			Filters: []api.Filter{{DBName: "bench", Match: "orders"}},
			Incr:    &incr,
		}, "", int(tableRows), servers...)
		tail = append(tail, cp)
		w.Stop(syscall.SIGTERM, 30*time.Second)
	}

	shapes := []shape{orders}
	if on["wide"] {
		wide := buildWide(t, db, n/5)
		shapes = append(shapes, wide)
		wdec := decodeOnly(t, db, wide, 9003, servers...)
		wdec.base = &wdec
		wideProfile := ""
		if profile != "" {
			wideProfile = profile + ".wide"
		}
		wideSpec := func(serverID uint32) api.TaskSpec {
			return api.TaskSpec{
				Source:  &api.Source{Host: db.Host, Port: db.Port, Username: db.User, Password: db.Password, ServerID: serverID},
				Kafka:   api.Kafka{Addr: kafka.Addr(), Topic: "wide", PartitionMode: api.PartitionByPrimaryKey, ExcludeColumns: api.StringList{"nothing_here"}},
				Filters: []api.Filter{{DBName: "bench", Match: "/wid.*/", Filter: "status >= 0"}},
			}
		}
		w, wworker := measureWorker(t, bin, "dts worker", wideProfile, wide, wideSpec(4446), wide.start, wide.rows, servers...)
		wworker.base = &wdec
		tail = append(tail, wdec, wworker)
		tail = append(tail, compare(t, bin, wide, wideSpec, &wdec, servers)...)
		w.Stop(syscall.SIGTERM, 30*time.Second)
	}
	loadAfter := loadAvg()

	version, _ := db.Query(t, "SELECT VERSION()").GetString(0, 0)
	out := os.Stdout
	fmt.Fprintf(out, "\n== dts bench, %s: %d cores (%s), GOMAXPROCS %d, CLK_TCK %d; MariaDB %s; Kafka-protocol broker (devkafka) in its own process\n",
		time.Now().Format("2006-01-02 15:04"), cpuCount(), cpuModel(), runtime.GOMAXPROCS(0), clockTicks, version)
	fmt.Fprintf(out, "load average before: %.2f %.2f %.2f   after: %.2f %.2f %.2f\n", loadBefore[0], loadBefore[1], loadBefore[2], loadAfter[0], loadAfter[1], loadAfter[2])
	for _, s := range shapes {
		fmt.Fprintf(out, "shape %-6s %s row changes, %.0f B of binlog per row: %s\n", s.table, groupDigits(s.rows), s.bytesPerRow(), s.desc)
	}
	fmt.Fprintln(out)
	var rows [][]string
	for _, f := range append(all, tail...) {
		rows = append(rows, f.cells())
	}
	printTable(out, 2, tableHeader, rows)
	if on["latency"] {
		fmt.Fprintf(out, "\nend-to-end latency at a steady %s rows/s for %s, orders (INSERT of %d rows sent every %s -> consumer receives; median INSERT round trip %.1f ms):\n\n",
			groupDigits(lat.rps), lat.duration, latencyRPS*latencyTick/time.Second, latencyTick, float64(lat.insertRT)/float64(time.Millisecond))
		printTable(out, 0, latencyHeader, [][]string{lat.cells()})
	}
	fmt.Fprint(out, `
CPU s/1M rows: user+sys CPU time of the process doing the work, per million rows: the test process
  (getrusage) for go-mysql decode only and the minimal pipeline, the dts worker process
  (/proc/PID/stat utime+stime) for the dts rows, from its start to the last row acknowledged.
cores: that CPU time over wall time. × decode CPU: CPU per row over go-mysql decode-only's, same shape.
peak RSS: VmHWM of that process (the test process's is reset before each of its phases).
db+broker cores: MariaDB's and the broker's CPU over the phase, sharing the machine with it.
dts worker: regex table match + row filter + excluded column, primary-key partitions, sarama
  idempotent, acks=all, lz4 unless another compression is named, at least once unless
  exactly_once is named (Kafka transactions, default commit interval); in the dts format unless one
  is named (kafka.format with its defaults; debezium: no embedded schema, tombstones on, DECIMAL
  precise); memory budget 128 MiB (--memory-mb). minimal: hand-written JSON, same producer
  settings, no filters, no checkpoints, unbounded memory. initial copy: 5,000-row primary-key
  chunks, each a checkpoint.
`)
	if profile != "" {
		fmt.Fprintf(out, "The dts worker rows include the cost of CPU profiling (BENCH_CPUPROFILE=%s).\n", profile)
	}
	fmt.Fprintln(out)
}

// cpuCount is the number of processors the kernel lists.
func cpuCount() int {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return runtime.NumCPU()
	}
	return strings.Count(string(b), "processor\t:")
}

// cpuModel is the first processor's model name.
func cpuModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return "unknown model"
	}
	for _, l := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown model"
}
