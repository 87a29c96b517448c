//go:build bench

package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/go-mysql-org/go-mysql/mysql"
	"github.com/go-mysql-org/go-mysql/replication"

	"github.com/dtsrepl/dts/api"
	"github.com/dtsrepl/dts/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

const (
	bulkRows   = 700_000 // inserted 1,000 rows per transaction
	updateRows = 200_000 // updated 1,000 rows per transaction
	singleRows = 100_000 // inserted one row per transaction
	totalRows  = bulkRows + updateRows + singleRows
	latencyRPS = 5000
	latencyDur = 10 * time.Second
)

type result struct {
	name   string
	rows   int
	dur    time.Duration
	bytes  float64
	rssMiB float64
	note   string
}

func (r result) String() string {
	rate := float64(r.rows) / r.dur.Seconds()
	mb := "-"
	if r.bytes > 0 {
		mb = fmt.Sprintf("%.1f", r.bytes/r.dur.Seconds()/(1<<20))
	}
	rss := "-"
	if r.rssMiB > 0 {
		rss = fmt.Sprintf("%.0f", r.rssMiB)
	}
	return fmt.Sprintf("%-34s %9d %8.2fs %11.0f %8s %9s  %s", r.name, r.rows, r.dur.Seconds(), rate, mb, rss, r.note)
}

func TestBench(t *testing.T) {
	bin := testenv.Build(t, "./cmd/dts")
	db := testenv.StartMariaDB(t)
	kafka := testenv.StartKafkaProcess(t, 4)
	start := gtidPos(t, db)

	t.Log("building the backlog: 700k bulk inserts, 200k bulk updates, 100k single-row transactions")
	built := time.Now()
	buildBacklog(t, db)
	end := gtidPos(t, db)
	var binlogBytes int64
	res := db.Query(t, "SHOW BINARY LOGS")
	for i := range res.RowNumber() {
		n, _ := res.GetInt(i, 1)
		binlogBytes += n
	}
	t.Logf("backlog built in %s: %d row changes, %.0f MiB of binlog (%.0f B per row)", time.Since(built).Round(time.Second), totalRows,
		float64(binlogBytes)/(1<<20), float64(binlogBytes)/totalRows)

	var results []result
	results = append(results, decodeOnly(t, db, start))
	results = append(results, minimalPipeline(t, db, kafka, start))
	w, r := workerBacklog(t, bin, db, kafka, start, end)
	results = append(results, r)
	lat := latency(t, db, kafka, w)
	results = append(results, snapshotCopy(t, bin, db, kafka))

	fmt.Printf("\n== dts bench (%s, GOMAXPROCS=%d, MariaDB 10.11, Kafka-protocol broker in its own process)\n", time.Now().Format("2006-01-02"), runtimeProcs())
	fmt.Printf("%-34s %9s %9s %11s %8s %9s\n", "pipeline", "rows", "time", "rows/s", "MB/s", "peakRSS")
	for _, r := range results {
		fmt.Println(r)
	}
	fmt.Printf("\nend-to-end latency at a steady %d rows/s for %s (commit on the source -> consumer receives):\n  %s\n\n", latencyRPS, latencyDur, lat)
}

func runtimeProcs() int {
	b, _ := os.ReadFile("/proc/cpuinfo")
	return strings.Count(string(b), "processor\t:")
}

func gtidPos(t *testing.T, db *testenv.MariaDB) string {
	r := db.Query(t, "SELECT @@gtid_binlog_pos")
	s, _ := r.GetString(0, 0)
	return s
}

func buildBacklog(t *testing.T, db *testenv.MariaDB) {
	db.Exec(t, "CREATE DATABASE bench",
		`CREATE TABLE bench.orders (id BIGINT PRIMARY KEY, user_id INT NOT NULL, status TINYINT NOT NULL,
			amount DECIMAL(12,2) NOT NULL, note VARCHAR(120) NOT NULL, created DATETIME(6) NOT NULL)`)
	c := db.Conn(t)
	for i := 0; i < bulkRows; i += 1000 {
		q := fmt.Sprintf(`INSERT INTO bench.orders SELECT seq, seq %% 10007, seq %% 5, seq / 100, REPEAT(CHAR(97 + seq %% 26), 100), '2024-01-01 00:00:00'
			FROM bench.seq_%d_to_%d`, i+1, i+1000)
		if _, err := c.Execute(q); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < updateRows; i += 1000 {
		q := fmt.Sprintf("UPDATE bench.orders SET status = status + 1, amount = amount + 1 WHERE id BETWEEN %d AND %d", i+1, i+1000)
		if _, err := c.Execute(q); err != nil {
			t.Fatal(err)
		}
	}
	var wg sync.WaitGroup
	const writers = 8
	errs := make(chan error, writers)
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			c := db.Conn(t)
			for i := w; i < singleRows; i += writers {
				id := bulkRows + 1 + i
				q := fmt.Sprintf("INSERT INTO bench.orders VALUES (%d, %d, 1, 12.50, '%s', '2024-01-01 00:00:00')", id, id%10007, strings.Repeat("s", 100))
				if _, err := c.Execute(q); err != nil {
					errs <- err
					return
				}
			}
		}(w)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

// decodeOnly is the ceiling: go-mysql reading and decoding the same binlog, nothing else.
func decodeOnly(t *testing.T, db *testenv.MariaDB, start string) result {
	set, _ := mysql.ParseMariadbGTIDSet(start)
	s := replication.NewBinlogSyncer(replication.BinlogSyncerConfig{ServerID: 9001, Flavor: mysql.MariaDBFlavor, Host: db.Host, Port: uint16(db.Port),
		User: db.User, Password: db.Password, TimestampStringLocation: time.UTC, Logger: slog.New(slog.DiscardHandler)})
	defer s.Close()
	t0 := time.Now()
	st, err := s.StartSyncGTID(set)
	if err != nil {
		t.Fatal(err)
	}
	rows := 0
	for rows < totalRows {
		ev, err := st.GetEvent(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if re, ok := ev.Event.(*replication.RowsEvent); ok && string(re.Table.Schema) == "bench" {
			if re.Type() == replication.EnumRowsEventTypeUpdate {
				rows += len(re.Rows) / 2
			} else {
				rows += len(re.Rows)
			}
		}
	}
	return result{name: "go-mysql decode only (ceiling)", rows: rows, dur: time.Since(t0), rssMiB: 0, note: "replication.BinlogSyncer, rows counted"}
}

// workerBacklog runs `dts worker` over the backlog and measures until Kafka acknowledged every
// row change.
func workerBacklog(t *testing.T, bin string, db *testenv.MariaDB, kafka *testenv.Kafka, start, end string) (*testenv.Process, result) {
	dir := t.TempDir()
	spec := api.TaskSpec{
		Source:  &api.Source{Host: db.Host, Port: db.Port, Username: db.User, Password: db.Password},
		Kafka:   api.Kafka{Addr: kafka.Addr(), Topic: "orders", PartitionMode: api.PartitionByPrimaryKey, ExcludeColumns: api.StringList{"nothing_here"}},
		Filters: []api.Filter{{DBName: "bench", Match: "/ord.*/", Filter: "status >= 0"}},
	}
	writeTask(t, dir, spec)
	// The checkpoint starts at the backlog's beginning.
	writeStatus(t, dir, api.Status{State: api.StateRunning, Pos: "MariaDB/" + start})
	port := testenv.FreePort(t)
	t0 := time.Now()
	w := testenv.StartProcess(t, "worker", dir, os.Environ(), syscall.SIGTERM, bin, "worker", "--task-file", filepath.Join(dir, "task.json"),
		"--state-dir", filepath.Join(dir, "state"), "--listen", fmt.Sprintf("127.0.0.1:%d", port), "--log-level", "warn", "--pprof")
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	if out := os.Getenv("BENCH_CPUPROFILE"); out != "" {
		// A profile of the worker's first five seconds over the backlog: go tool pprof bin/dts FILE.
		go profile(addr, out)
	}
	waitMetric(t, w, addr, "dts_worker_messages_acked_total", totalRows)
	d := time.Since(t0)
	bytes := metric(addr, "dts_worker_message_bytes_total")
	return w, result{name: "dts worker (every feature on)", rows: totalRows, dur: d, bytes: bytes, rssMiB: peakRSS(w.Pid()),
		note: "regex match + row filter + exclude, pk partitions, idempotent acks=all lz4"}
}

func profile(addr, out string) {
	resp, err := http.Get("http://" + addr + "/debug/pprof/profile?seconds=5")
	for i := 0; err != nil && i < 50; i++ {
		time.Sleep(20 * time.Millisecond)
		resp, err = http.Get("http://" + addr + "/debug/pprof/profile?seconds=5")
	}
	if err != nil {
		return
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	_ = os.WriteFile(out, b, 0o644)
}

func writeTask(t *testing.T, dir string, spec api.TaskSpec) {
	b, _ := json.Marshal(api.SubmitRequest{Task: &spec})
	if err := os.WriteFile(filepath.Join(dir, "task.json"), b, 0o600); err != nil {
		t.Fatal(err)
	}
}

func writeStatus(t *testing.T, dir string, st api.Status) {
	if err := os.MkdirAll(filepath.Join(dir, "state"), 0o700); err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(st)
	if err := os.WriteFile(filepath.Join(dir, "state", "status.json"), b, 0o600); err != nil {
		t.Fatal(err)
	}
}

func metric(addr, name string) float64 {
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		return -1
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(name) + ` (\S+)$`).FindSubmatch(b)
	if m == nil {
		return -1
	}
	v, _ := strconv.ParseFloat(string(m[1]), 64)
	return v
}

func waitMetric(t *testing.T, p *testenv.Process, addr, name string, n float64) {
	deadline := time.Now().Add(10 * time.Minute)
	for metric(addr, name) < n {
		if exited, err := p.Exited(); exited {
			t.Fatalf("worker exited: %v\n%s", err, p.Log())
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s never reached %v", name, n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func peakRSS(pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	m := regexp.MustCompile(`VmHWM:\s+(\d+) kB`).FindSubmatch(b)
	if m == nil {
		return 0
	}
	kb, _ := strconv.ParseFloat(string(m[1]), 64)
	return kb / 1024
}

// latency writes at a steady rate through the running worker and measures commit-to-consumer
// latency from the rows' own timestamps.
func latency(t *testing.T, db *testenv.MariaDB, kafka *testenv.Kafka, w *testenv.Process) string {
	cfg := testenv.SaramaConfig()
	client, err := sarama.NewClient(kafka.Addrs, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	cons, err := sarama.NewConsumerFromClient(client)
	if err != nil {
		t.Fatal(err)
	}
	defer cons.Close()
	parts, _ := client.Partitions("orders")
	var mu sync.Mutex
	var lat []time.Duration
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for _, p := range parts {
		off, _ := client.GetOffset("orders", p, sarama.OffsetNewest)
		pc, err := cons.ConsumePartition("orders", p, off)
		if err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer pc.Close()
			for {
				select {
				case <-ctx.Done():
					return
				case m := <-pc.Messages():
					now := time.Now()
					var v struct {
						Data struct {
							Created string `json:"created"`
						} `json:"data"`
					}
					if json.Unmarshal(m.Value, &v) != nil {
						continue
					}
					ts, err := time.ParseInLocation("2006-01-02 15:04:05.000000", v.Data.Created, time.UTC)
					if err != nil || ts.Year() < 2025 {
						continue
					}
					mu.Lock()
					lat = append(lat, now.Sub(ts))
					mu.Unlock()
				}
			}
		}()
	}
	c := db.Conn(t)
	tick := time.NewTicker(10 * time.Millisecond)
	per := latencyRPS / 100
	id := 5_000_000
	stop := time.Now().Add(latencyDur)
	sent := 0
	for time.Now().Before(stop) {
		<-tick.C
		var vals []string
		for range per {
			id++
			vals = append(vals, fmt.Sprintf("(%d, 1, 1, 1.00, 'latency', '%s')", id, time.Now().UTC().Format("2006-01-02 15:04:05.000000")))
		}
		if _, err := c.Execute("INSERT INTO bench.orders VALUES " + strings.Join(vals, ",")); err != nil {
			t.Fatal(err)
		}
		sent += per
	}
	tick.Stop()
	deadline := time.Now().Add(30 * time.Second)
	for {
		mu.Lock()
		n := len(lat)
		mu.Unlock()
		if n >= sent || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	wg.Wait()
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	if len(lat) == 0 {
		return "no messages received"
	}
	pct := func(p float64) time.Duration {
		return lat[min(len(lat)-1, int(p*float64(len(lat))))].Round(100 * time.Microsecond)
	}
	return fmt.Sprintf("p50 %s  p90 %s  p99 %s  max %s  (%d of %d rows, in 50-row transactions every 10ms)", pct(0.50), pct(0.90), pct(0.99), lat[len(lat)-1].Round(100*time.Microsecond), len(lat), sent)
}

// snapshotCopy measures the initial copy (incr=false) of the benchmark table.
func snapshotCopy(t *testing.T, bin string, db *testenv.MariaDB, kafka *testenv.Kafka) result {
	r := db.Query(t, "SELECT COUNT(*) FROM bench.orders")
	rows, _ := r.GetInt(0, 0)
	dir := t.TempDir()
	incr := false
	writeTask(t, dir, api.TaskSpec{
		Source:  &api.Source{Host: db.Host, Port: db.Port, Username: db.User, Password: db.Password, ServerID: 4444},
		Kafka:   api.Kafka{Addr: kafka.Addr(), Topic: "orders_copy", PartitionMode: api.PartitionByPrimaryKey},
		Filters: []api.Filter{{DBName: "bench", Match: "orders"}},
		Incr:    &incr,
	})
	port := testenv.FreePort(t)
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	t0 := time.Now()
	w := testenv.StartProcess(t, "copier", dir, os.Environ(), syscall.SIGTERM, bin, "worker", "--task-file", filepath.Join(dir, "task.json"),
		"--state-dir", filepath.Join(dir, "state"), "--listen", addr, "--log-level", "warn")
	waitMetric(t, w, addr, "dts_worker_messages_acked_total", float64(rows))
	d := time.Since(t0)
	res := result{name: "dts initial copy (incr=false)", rows: int(rows), dur: d, bytes: metric(addr, "dts_worker_message_bytes_total"), rssMiB: peakRSS(w.Pid()),
		note: "5,000-row primary-key chunks, each a checkpoint"}
	w.Stop(syscall.SIGTERM, 30*time.Second)
	return res
}
