package worker_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/dtsrepl/dts/api"
	"github.com/dtsrepl/dts/internal/testenv"
	"github.com/dtsrepl/dts/worker"
)

// TestOrderAcrossKafkaOutage stops the broker for a while under a steady write load and starts
// it again with its data: per key, no row version may reach Kafka before an older one, and none
// is lost.
func TestOrderAcrossKafkaOutage(t *testing.T) {
	t.Parallel()
	db := testenv.StartMariaDB(t)
	kafka := testenv.StartDurableKafka(t, 3)
	db.Exec(t, "CREATE DATABASE t", "CREATE TABLE t.kv (id INT PRIMARY KEY, seq INT, pad VARCHAR(200))")
	h := newHarness(t, db, kafka)
	h.spec(api.TaskSpec{Kafka: api.Kafka{Topic: "kv", PartitionMode: api.PartitionByPrimaryKey}, Filters: []api.Filter{{DBName: "t", Match: "kv"}}})
	h.start()
	h.running()

	l := testenv.NewLoad(db)
	l.Pause = 2 * time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	loadErr := make(chan error, 1)
	go func() { loadErr <- l.Run(t, ctx, 40, 8) }()
	time.Sleep(2 * time.Second)
	kafka.Stop()
	// Long enough for sarama to give up on messages and open its circuit breaker (10s), short
	// enough for it to still hold others when the broker comes back.
	time.Sleep(15 * time.Second)
	kafka.Restart(t)
	time.Sleep(3 * time.Second)
	cancel()
	if err := <-loadErr; err != nil {
		t.Fatal(err)
	}
	total := l.Total()
	h.waitStatus("everything delivered", func(s *api.Status) bool { return s.RowsSent >= uint64(total) && s.Message == "" })
	msgs, dups := l.Verify(t, kafka, "kv")
	t.Logf("%d row changes, %d messages (%d re-sent) across a broker outage", total, msgs, dups)
}

// TestOrderAfterProduceError makes the broker fail a few produce requests with an error sarama
// does not retry, under a steady write load: the messages queued behind a failed one must not
// reach Kafka before it, so per key no row version overtakes an older one.
func TestOrderAfterProduceError(t *testing.T) {
	t.Parallel()
	db := testenv.StartMariaDB(t)
	kafka := testenv.StartKafka(t, 3)
	db.Exec(t, "CREATE DATABASE t", "CREATE TABLE t.kv (id INT PRIMARY KEY, seq INT, pad VARCHAR(200))")
	var mu sync.Mutex
	requests, failed := 0, 0
	kafka.Cluster.ControlKey(int16(kmsg.Produce), func(req kmsg.Request) (kmsg.Response, error, bool) {
		kafka.Cluster.KeepControl()
		mu.Lock()
		defer mu.Unlock()
		requests++
		if requests < 40 || requests%37 != 0 || failed >= 4 {
			return nil, nil, false
		}
		failed++
		pr := req.(*kmsg.ProduceRequest)
		resp := pr.ResponseKind().(*kmsg.ProduceResponse)
		for _, rt := range pr.Topics {
			st := kmsg.NewProduceResponseTopic()
			st.Topic = rt.Topic
			for _, rp := range rt.Partitions {
				sp := kmsg.NewProduceResponseTopicPartition()
				sp.Partition = rp.Partition
				sp.ErrorCode = -1 // UNKNOWN_SERVER_ERROR: sarama gives the batch up at once
				st.Partitions = append(st.Partitions, sp)
			}
			resp.Topics = append(resp.Topics, st)
		}
		return resp, nil, true
	})
	h := newHarness(t, db, kafka)
	h.spec(api.TaskSpec{Kafka: api.Kafka{Topic: "kv", PartitionMode: api.PartitionByPrimaryKey}, Filters: []api.Filter{{DBName: "t", Match: "kv"}}})
	h.start()
	h.running()
	l := testenv.NewLoad(db)
	l.Pause = time.Millisecond
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Second)
	defer cancel()
	if err := l.Run(t, ctx, 30, 9); err != nil {
		t.Fatal(err)
	}
	total := l.Total()
	h.waitStatus("everything delivered", func(s *api.Status) bool { return s.RowsSent >= uint64(total) && s.State == api.StateRunning })
	msgs, dups := l.Verify(t, kafka, "kv")
	mu.Lock()
	defer mu.Unlock()
	if failed == 0 {
		t.Fatal("no produce request failed: the test did not exercise the failure")
	}
	t.Logf("%d row changes, %d messages (%d re-sent), %d produce requests failed", total, msgs, dups, failed)
}

// TestKafkaOutageVisible: while the broker does not answer (a network that drops its packets)
// the status says so within seconds, and keeps being written (updated_at moves, lag grows);
// once the broker is back it clears.
func TestKafkaOutageVisible(t *testing.T) {
	t.Parallel()
	db := testenv.StartMariaDB(t)
	kafka := testenv.StartDurableKafka(t, 1)
	db.Exec(t, "CREATE DATABASE o", "CREATE TABLE o.t (id INT PRIMARY KEY)")
	h := newHarness(t, db, kafka)
	h.spec(api.TaskSpec{Kafka: api.Kafka{Topic: "o"}, Filters: []api.Filter{{DBName: "o", Match: "t"}}})
	h.start()
	h.running()
	db.Exec(t, "INSERT INTO o.t VALUES (1)")
	kafka.WaitRecords(t, "o", 1, 30*time.Second)
	kafka.Stop()
	hole := testenv.StartSilentServerAt(t, kafka.Addr())
	db.Exec(t, "INSERT INTO o.t VALUES (2)")
	first := h.waitStatusWithin(20*time.Second, "saying Kafka does not answer", func(s *api.Status) bool {
		return strings.Contains(s.Message, "Kafka")
	})
	later := h.waitStatusWithin(30*time.Second, "written again while Kafka does not answer", func(s *api.Status) bool {
		return s.UpdatedAt.After(first.UpdatedAt.Add(time.Second)) && strings.Contains(strings.ToLower(s.Message), "kafka")
	})
	if later.LagSeconds <= 0 {
		t.Errorf("lag_seconds = %v while a row waits for Kafka", later.LagSeconds)
	}
	if later.State == api.StateFailed {
		t.Errorf("a broker outage failed the task: %s", later.Message)
	}
	if later.KafkaStalledSeconds < 5 {
		t.Errorf("kafka_stalled_seconds = %v in a status that says %q", later.KafkaStalledSeconds, later.Message)
	}
	// The worker's own /status, which shows no message, says it too.
	var view struct {
		Status struct {
			KafkaStalledSeconds float64 `json:"kafka_stalled_seconds"`
		} `json:"status"`
	}
	jsonDecode(t, h.get("/status"), &view)
	if view.Status.KafkaStalledSeconds < 5 {
		t.Errorf("/status kafka_stalled_seconds = %v while Kafka does not answer", view.Status.KafkaStalledSeconds)
	}
	hole.Close()
	kafka.Restart(t)
	kafka.WaitRecords(t, "o", 2, 90*time.Second)
	h.waitStatus("Running without a message", func(s *api.Status) bool {
		return s.State == api.StateRunning && s.Message == "" && s.KafkaStalledSeconds == 0
	})
}

// TestStopWithKafkaDown stops a worker whose messages get no answer from Kafka: it stops within
// its stop budget instead of waiting for the producer's timeouts and retries, and keeps its
// position before the unacknowledged rows.
func TestStopWithKafkaDown(t *testing.T) {
	t.Parallel()
	db := testenv.StartMariaDB(t)
	kafka := testenv.StartDurableKafka(t, 1)
	db.Exec(t, "CREATE DATABASE s", "CREATE TABLE s.t (id INT PRIMARY KEY)")
	h := newHarness(t, db, kafka)
	h.configure = func(c *worker.Config) { c.StopTimeout = 3 * time.Second }
	h.spec(api.TaskSpec{Kafka: api.Kafka{Topic: "s"}, Filters: []api.Filter{{DBName: "s", Match: "t"}}})
	h.start()
	before := h.running()
	kafka.Stop()
	hole := testenv.StartSilentServerAt(t, kafka.Addr())
	db.Exec(t, "INSERT INTO s.t VALUES (1)", "INSERT INTO s.t VALUES (2)")
	time.Sleep(2 * time.Second)
	start := time.Now()
	h.stop()
	// A bound of several stop budgets: the defect was a stop that waited out the producer's
	// timeouts and retries (about 50s).
	if took := time.Since(start); took > 15*time.Second {
		t.Fatalf("stopping took %s with a 3s stop budget", took.Round(time.Second))
	}
	if st := h.status(); st.Pos != before.Pos {
		t.Fatalf("position moved from %s to %s past rows Kafka never acknowledged", before.Pos, st.Pos)
	}
	hole.Close()
	kafka.Restart(t)
	h.start()
	kafka.WaitRecords(t, "s", 2, 60*time.Second)
}

// TestSourceNeverGreets points a task at a server that accepts connections and says nothing:
// the status says why it is retrying, and the worker stops when asked.
func TestSourceNeverGreets(t *testing.T) {
	t.Parallel()
	kafka := testenv.StartKafka(t, 1)
	silent := testenv.StartSilentServer(t)
	h := newHarness(t, nil, kafka)
	h.specAt(silent.Host, silent.Port, api.TaskSpec{Kafka: api.Kafka{Topic: "n"}, Filters: []api.Filter{{DBName: "n", Match: "t"}}})
	h.start()
	h.waitStatus("retrying with the reason", func(s *api.Status) bool {
		return strings.Contains(s.Message, "retrying") && strings.Contains(s.Message, "handshake")
	})
	start := time.Now()
	h.stop()
	if took := time.Since(start); took > 15*time.Second {
		t.Fatalf("stopping a worker whose source never answers took %s", took.Round(time.Second))
	}
}

// TestLagOnIdleSource: once the worker has delivered everything and the source is idle, the
// server's heartbeats show it is caught up: lag_seconds goes back to 0.
func TestLagOnIdleSource(t *testing.T) {
	t.Parallel()
	db := testenv.StartMariaDB(t)
	kafka := testenv.StartKafka(t, 1)
	db.Exec(t, "CREATE DATABASE l", "CREATE TABLE l.t (id INT PRIMARY KEY)")
	h := newHarness(t, db, kafka)
	h.spec(api.TaskSpec{Kafka: api.Kafka{Topic: "l"}, Filters: []api.Filter{{DBName: "l", Match: "t"}}})
	h.start()
	h.running()
	db.Exec(t, "INSERT INTO l.t VALUES (1)")
	kafka.WaitRecords(t, "l", 1, 30*time.Second)
	// Commit time is in whole seconds: wait until the row is old enough for a lag to show.
	time.Sleep(3 * time.Second)
	h.waitStatus("caught up (lag 0)", func(s *api.Status) bool { return s.RowsSent >= 1 && s.LagSeconds == 0 && s.Message == "" })
}

// TestStatusTruth: the saved status says Running as soon as the worker streams, and the
// worker's own /status endpoint has a real updated_at and no row data (the copy's last key is
// a primary key: here e-mail addresses).
func TestStatusTruth(t *testing.T) {
	t.Parallel()
	db := testenv.StartMariaDB(t)
	kafka := testenv.StartKafka(t, 1)
	db.Exec(t, "CREATE DATABASE st", "CREATE TABLE st.t (email VARCHAR(64) PRIMARY KEY)")
	db.Exec(t, "INSERT INTO st.t VALUES ('alice@example.com'), ('bob@example.com'), ('carol@example.com'), ('dave@example.com')")
	h := newHarness(t, db, kafka)
	h.configure = func(c *worker.Config) {
		c.StatusInterval = 200 * time.Millisecond
		c.HeartbeatInterval = time.Minute // only a change of state may save the status at once
		c.SnapshotChunkRows = 1
	}
	f := false
	h.spec(api.TaskSpec{Kafka: api.Kafka{Topic: "st"}, Filters: []api.Filter{{DBName: "st", Match: "t"}}, Incr: &f,
		RateLimit: &api.RateLimit{Rate: 1, Capacity: 1}})
	h.start()
	h.waitStatus("copying", func(s *api.Status) bool { return s.Snapshot != nil && len(s.Snapshot.LastKey) > 0 })
	body := h.get("/status")
	var view struct {
		Status struct {
			UpdatedAt time.Time `json:"updated_at"`
			State     string    `json:"state"`
		} `json:"status"`
	}
	jsonDecode(t, body, &view)
	if view.Status.UpdatedAt.IsZero() || time.Since(view.Status.UpdatedAt) > time.Minute {
		t.Errorf("/status updated_at = %v", view.Status.UpdatedAt)
	}
	for _, secret := range []string{"example.com", "last_key"} {
		if strings.Contains(body, secret) {
			t.Errorf("the unauthenticated /status shows row data (%q): %s", secret, body)
		}
	}
	h.waitStatus("copy done", func(s *api.Status) bool { return s.Snapshot != nil && s.Snapshot.Done })
	db.Exec(t, "INSERT INTO st.t VALUES ('erin@example.com')")
	kafka.WaitRecords(t, "st", 5, 30*time.Second)
	if st := h.status(); st.State != api.StateRunning {
		t.Errorf("state %s (%s) while the worker streams", st.State, st.Message)
	}
}

// TestCopyDottedDatabase copies a table of a database whose name has a dot: every row arrives.
func TestCopyDottedDatabase(t *testing.T) {
	t.Parallel()
	db := testenv.StartMariaDB(t)
	kafka := testenv.StartKafka(t, 1)
	db.Exec(t, "CREATE DATABASE `x.y`", "CREATE DATABASE x", "CREATE TABLE `x.y`.t (id INT PRIMARY KEY)", "CREATE TABLE x.`y.t` (id INT PRIMARY KEY)")
	db.Exec(t, "INSERT INTO `x.y`.t VALUES (1), (2), (3)", "INSERT INTO x.`y.t` VALUES (100)")
	h := newHarness(t, db, kafka)
	f := false
	h.spec(api.TaskSpec{Kafka: api.Kafka{Topic: "d"}, Filters: []api.Filter{{DBName: "x.y", Match: "t"}}, Incr: &f})
	h.start()
	h.waitStatus("copy done", func(s *api.Status) bool { return s.Snapshot != nil && s.Snapshot.Done && s.State == api.StateRunning })
	recs := kafka.Read(t, "d")
	got := map[string]bool{}
	for _, r := range recs {
		m := r.JSON(t)
		got[fmt.Sprintf("%v.%v:%v", m["database"], m["table"], m["data"].(map[string]any)["id"])] = true
	}
	for _, want := range []string{"x.y.t:1", "x.y.t:2", "x.y.t:3"} {
		if !got[want] {
			t.Errorf("row %s not copied; got %v", want, got)
		}
	}
	if len(got) != 3 {
		t.Errorf("copied %v, want the three rows of `x.y`.t only", got)
	}
}

// TestRunningWithoutWrites: on an idle source, the saved status says Running as soon as the
// worker streams, not at its next heartbeat.
func TestRunningWithoutWrites(t *testing.T) {
	t.Parallel()
	db := testenv.StartMariaDB(t)
	kafka := testenv.StartKafka(t, 1)
	db.Exec(t, "CREATE DATABASE r", "CREATE TABLE r.t (id INT PRIMARY KEY)")
	h := newHarness(t, db, kafka)
	h.configure = func(c *worker.Config) { c.HeartbeatInterval = 5 * time.Minute }
	h.spec(api.TaskSpec{Kafka: api.Kafka{Topic: "r"}, Filters: []api.Filter{{DBName: "r", Match: "t"}}})
	h.start()
	h.waitStatusWithin(30*time.Second, "Running", func(s *api.Status) bool { return s.State == api.StateRunning && s.Message == "" })
}

// TestAlterWhileRetrying alters a task that keeps failing to reach its broker: the next attempt
// runs the new spec at once (it used to keep retrying the old broker).
func TestAlterWhileRetrying(t *testing.T) {
	t.Parallel()
	db := testenv.StartMariaDB(t)
	kafka := testenv.StartKafka(t, 1)
	db.Exec(t, "CREATE DATABASE a", "CREATE TABLE a.t (id INT PRIMARY KEY)")
	h := newHarness(t, db, kafka)
	h.configure = func(c *worker.Config) { c.RetryMin, c.RetryMax = 2*time.Minute, 2*time.Minute }
	dead := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	spec := api.TaskSpec{Kafka: api.Kafka{Addr: dead, Topic: "a"}, Filters: []api.Filter{{DBName: "a", Match: "t"}}}
	h.spec(spec)
	h.start()
	h.waitStatus("retrying the dead broker", func(s *api.Status) bool { return strings.Contains(s.Message, "retrying") })
	db.Exec(t, "INSERT INTO a.t VALUES (1)")
	spec.Kafka.Addr = kafka.Addr()
	h.spec(spec)
	kafka.WaitRecords(t, "a", 1, 30*time.Second)
	h.waitStatus("Running the new spec", func(s *api.Status) bool { return s.State == api.StateRunning && s.Message == "" })
}

// TestOversizedRow writes a row larger than the topic accepts between small rows: the task
// fails naming the row and the ways out, sends nothing after it, and does not retry; altered to
// skip such rows it goes on from there; a topic that accepts it gets it.
func TestOversizedRow(t *testing.T) {
	t.Parallel()
	db := testenv.StartMariaDB(t)
	kafka := testenv.StartKafka(t, 1)
	db.Exec(t, "CREATE DATABASE big", "CREATE TABLE big.t (id INT PRIMARY KEY, body LONGTEXT)")
	h := newHarness(t, db, kafka)
	spec := api.TaskSpec{Kafka: api.Kafka{Topic: "big"}, Filters: []api.Filter{{DBName: "big", Match: "t"}}}
	h.spec(spec)
	h.start()
	h.running()
	db.Exec(t, "INSERT INTO big.t VALUES (1, 'small')", "INSERT INTO big.t VALUES (2, REPEAT('x', 2000000))", "INSERT INTO big.t VALUES (3, 'after')")
	st := h.waitStatus("Failed", func(s *api.Status) bool { return s.State == api.StateFailed })
	for _, want := range []string{"big.t", `"id":2`, "bytes", "max.message.bytes", "oversized_rows"} {
		if !strings.Contains(st.Message, want) {
			t.Errorf("message lacks %q: %s", want, st.Message)
		}
	}
	time.Sleep(2 * time.Second) // a retry loop would show in the starts metric
	if n := h.metric("dts_worker_pipeline_starts_total"); n != 1 {
		t.Errorf("%v pipeline starts: a row too large is not worth retrying", n)
	}
	if recs := kafka.Read(t, "big"); len(recs) != 1 {
		t.Fatalf("%d messages, want only the row before the large one", len(recs))
	}
	spec.Kafka.OversizedRows = api.OversizedSkip
	h.spec(spec)
	kafka.WaitRecords(t, "big", 3, 30*time.Second) // the alter's marker, then the row after the large one
	recs := rows(t, kafka.Read(t, "big"))
	if id := recs[len(recs)-1].JSON(t)["data"].(map[string]any)["id"]; fmt.Sprint(id) != "3" {
		t.Fatalf("after skipping, got row %v", id)
	}
	h.waitStatus("a warning about the skipped row", func(s *api.Status) bool {
		return s.State == api.StateRunning && strings.Contains(s.Message, "1 rows larger")
	})
	if n := h.metric("dts_worker_rows_oversized_total"); n != 1 {
		t.Errorf("oversized rows metric = %v", n)
	}
	// A statement without a table (a database's DDL, with the comment its client sent) can be
	// too large as well.
	db.Exec(t, "ALTER DATABASE big CHARACTER SET utf8mb4 /* "+strings.Repeat("y", 2000000)+" */", "INSERT INTO big.t VALUES (4, 'last')")
	kafka.WaitRecords(t, "big", 4, 30*time.Second)
	recs = rows(t, kafka.Read(t, "big"))
	if id := recs[len(recs)-1].JSON(t)["data"].(map[string]any)["id"]; fmt.Sprint(id) != "4" {
		t.Fatalf("after skipping the DDL, got row %v", id)
	}
	if n := h.metric("dts_worker_rows_oversized_total"); n != 2 {
		t.Errorf("oversized rows metric = %v, want 2", n)
	}
}

// TestOversizedRowFitsTopic: a topic configured for larger messages gets the large row, with
// the producer's bound raised to match.
func TestOversizedRowFitsTopic(t *testing.T) {
	t.Parallel()
	db := testenv.StartMariaDB(t)
	kafka := testenv.StartKafka(t, 1, kfake.BrokerConfigs(map[string]string{"message.max.bytes": "4000000"}))
	db.Exec(t, "CREATE DATABASE big", "CREATE TABLE big.t (id INT PRIMARY KEY, body LONGTEXT)")
	h := newHarness(t, db, kafka)
	h.spec(api.TaskSpec{Kafka: api.Kafka{Topic: "big", Compression: "none"}, Filters: []api.Filter{{DBName: "big", Match: "t"}}})
	h.start()
	h.running()
	db.Exec(t, "INSERT INTO big.t VALUES (2, REPEAT('x', 2000000))", "INSERT INTO big.t VALUES (3, 'after')")
	recs := kafka.WaitRecords(t, "big", 2, 30*time.Second)
	if len(recs[0].Value) < 2000000 {
		t.Fatalf("first message has %d bytes", len(recs[0].Value))
	}
}

// TestExcludedKeyColumn: excluding a primary-key column would still put its values in every
// message key: the task fails naming the column instead, and sends nothing of the table.
func TestExcludedKeyColumn(t *testing.T) {
	t.Parallel()
	db := testenv.StartMariaDB(t)
	kafka := testenv.StartKafka(t, 1)
	db.Exec(t, "CREATE DATABASE p", "CREATE TABLE p.people (ssn CHAR(11) PRIMARY KEY, name VARCHAR(20))")
	h := newHarness(t, db, kafka)
	h.spec(api.TaskSpec{Kafka: api.Kafka{Topic: "p", ExcludeColumns: api.StringList{"SSN"}}, Filters: []api.Filter{{DBName: "p", Match: "people"}}})
	h.start()
	h.running()
	db.Exec(t, "INSERT INTO p.people VALUES ('123-45-6789', 'ann')")
	st := h.waitStatus("Failed", func(s *api.Status) bool { return s.State == api.StateFailed })
	if !strings.Contains(st.Message, "exclude_columns") || !strings.Contains(st.Message, "ssn") || strings.Contains(st.Message, "123-45") {
		t.Errorf("message: %s", st.Message)
	}
	for _, r := range kafka.Read(t, "p") {
		if strings.Contains(string(r.Key)+string(r.Value), "123-45-6789") {
			t.Fatalf("the excluded column reached Kafka: %s %s", r.Key, r.Value)
		}
	}
}

// TestServerIDInUse: a task whose server id another replica of the source already uses fails
// naming it, instead of the two knocking each other off for ever.
func TestServerIDInUse(t *testing.T) {
	t.Parallel()
	db := testenv.StartMariaDB(t)
	kafka := testenv.StartKafka(t, 1)
	db.Exec(t, "CREATE DATABASE r", "CREATE TABLE r.t (id INT PRIMARY KEY)")
	other := testenv.StartReplica(t, db, 4242, "replica-7")
	defer other.Close()
	h := newHarness(t, db, kafka)
	spec := api.TaskSpec{Kafka: api.Kafka{Topic: "r"}, Filters: []api.Filter{{DBName: "r", Match: "t"}}}
	spec.Source = &api.Source{Host: db.Host, Port: db.Port, Username: db.User, Password: db.Password, ServerID: 4242}
	h.write(spec)
	h.start()
	st := h.waitStatus("Failed", func(s *api.Status) bool { return s.State == api.StateFailed })
	if !strings.Contains(st.Message, "4242") || !strings.Contains(st.Message, "replica-7") || !strings.Contains(st.Message, "server_id") {
		t.Errorf("message: %s", st.Message)
	}
	if !other.Alive() {
		t.Error("the other replica was knocked off")
	}
}

// TestFilterMatchesNothing: a filter that selects no table runs, and says so.
func TestFilterMatchesNothing(t *testing.T) {
	t.Parallel()
	db := testenv.StartMariaDB(t)
	kafka := testenv.StartKafka(t, 1)
	db.Exec(t, "CREATE DATABASE m", "CREATE TABLE m.orders (id INT PRIMARY KEY)")
	h := newHarness(t, db, kafka)
	h.spec(api.TaskSpec{Kafka: api.Kafka{Topic: "m"}, Filters: []api.Filter{{DBName: "m", Match: "orders"}, {DBName: "m", Match: `/order_\d+/`}}})
	h.start()
	st := h.waitStatus("Running with a warning", func(s *api.Status) bool { return s.State == api.StateRunning && s.Message != "" })
	if !strings.Contains(st.Message, "task.filters[1]") || strings.Contains(st.Message, "task.filters[0]") {
		t.Errorf("message: %s", st.Message)
	}
}
