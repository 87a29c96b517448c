package worker_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/dtsrepl/dts/api"
	"github.com/dtsrepl/dts/internal/testenv"
	"github.com/dtsrepl/dts/store"
	"github.com/dtsrepl/dts/store/consul"
	"github.com/dtsrepl/dts/worker"
)

// TestSecondWorkerWaits runs two workers for one task on Consul: the second neither produces
// nor writes while the first holds the lock, and takes over from the checkpoint when it stops.
// A worker whose session is destroyed stops at once.
func TestSecondWorkerWaits(t *testing.T) {
	t.Parallel()
	c := testenv.StartConsul(t)
	db := testenv.StartMariaDB(t)
	kafka := testenv.StartKafka(t, 1)
	db.Exec(t, "CREATE DATABASE s", "CREATE TABLE s.t (id INT PRIMARY KEY)")
	st := consul.New(c.Client, "")
	ctx := context.Background()
	id, err := st.Create(ctx, &api.Task{Version: 1, Desired: api.DesiredRunning, Spec: api.TaskSpec{
		Source:  &api.Source{Host: db.Host, Port: db.Port, Username: db.User},
		Kafka:   api.Kafka{Addr: kafka.Addr(), Topic: "s"},
		Filters: []api.Filter{{DBName: "s", Match: "t"}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	creds := &api.Credentials{Username: db.User, Password: db.Password}
	run := func(name string) (string, context.CancelFunc, func() error) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		w := worker.New(worker.Config{TaskID: id, Record: st.TaskRecord(id, consul.RecordOptions{Name: name}), Credentials: creds,
			Listener: ln, Name: name, StatusInterval: 100 * time.Millisecond})
		wctx, cancel := context.WithCancel(ctx)
		done := make(chan struct{})
		var runErr error
		go func() { runErr = w.Run(wctx); close(done) }()
		wait := func() error { <-done; return runErr }
		t.Cleanup(func() { cancel(); _ = wait() })
		return ln.Addr().String(), cancel, wait
	}
	waitState := func(what string, ok func(*api.Status) bool) *api.Status {
		t.Helper()
		deadline := time.Now().Add(60 * time.Second)
		for {
			s, err := st.Status(ctx, id)
			if err == nil && s != nil && ok(s) {
				return s
			}
			if time.Now().After(deadline) {
				t.Fatalf("status never %s: %+v", what, s)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	addrA, stopA, waitA := run("A")
	waitState("Running by A", func(s *api.Status) bool { return s.State == api.StateRunning && s.ServiceAddr == addrA })
	addrB, _, waitB := run("B")
	db.Exec(t, "INSERT INTO s.t VALUES (1), (2)", "INSERT INTO s.t VALUES (3)")
	kafka.WaitRecords(t, "s", 3, 30*time.Second)
	waitState("past the writes", func(s *api.Status) bool { return s.RowsSent >= 3 })
	if s, _ := st.Status(ctx, id); s.ServiceAddr != addrA {
		t.Fatalf("B wrote the status while A held the lock: %+v", s)
	}
	// A stops cleanly: B takes over from A's checkpoint and sends nothing twice.
	stopA()
	if err := waitA(); err != nil {
		t.Fatalf("A: %v", err)
	}
	waitState("Running by B", func(s *api.Status) bool { return s.State == api.StateRunning && s.ServiceAddr == addrB })
	db.Exec(t, "INSERT INTO s.t VALUES (4)")
	kafka.WaitRecords(t, "s", 4, 30*time.Second)
	waitState("past the last write", func(s *api.Status) bool { return s.RowsSent >= 4 })
	if recs := kafka.Read(t, "s"); len(recs) != 4 {
		t.Fatalf("%d messages for 4 rows: a second worker produced while the first held the lock", len(recs))
	}
	// B's session is destroyed from outside (as when Consul expires it): B must stop.
	sessions, _, err := c.Client.Session().List(nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range sessions {
		if strings.Contains(s.Name, "B") {
			if _, err := c.Client.Session().Destroy(s.ID, nil); err != nil {
				t.Fatal(err)
			}
		}
	}
	errB := make(chan error, 1)
	go func() { errB <- waitB() }()
	select {
	case err := <-errB:
		if !errors.Is(err, store.ErrLockLost) {
			t.Fatalf("B after losing its session: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("B kept running after its session was destroyed")
	}
}

// TestPurgedBinlog restarts a task whose checkpoint the source has purged: the task fails with
// a message naming the position and the way out, and sends nothing.
func TestPurgedBinlog(t *testing.T) {
	t.Parallel()
	db := testenv.StartMariaDB(t)
	kafka := testenv.StartKafka(t, 1)
	db.Exec(t, "CREATE DATABASE p", "CREATE TABLE p.t (id INT PRIMARY KEY)")
	h := newHarness(t, db, kafka)
	h.spec(api.TaskSpec{Kafka: api.Kafka{Topic: "p"}, Filters: []api.Filter{{DBName: "p", Match: "t"}}})
	h.start()
	pos := h.running().Pos
	h.stop()
	db.Exec(t, "INSERT INTO p.t VALUES (1)", "FLUSH BINARY LOGS")
	r := db.Query(t, "SHOW BINARY LOGS")
	last, _ := r.GetString(r.RowNumber()-1, 0)
	// The server keeps a file a (closing) dump thread still reads: purge until it is gone.
	deadline := time.Now().Add(30 * time.Second)
	for {
		db.Exec(t, "PURGE BINARY LOGS TO '"+last+"'")
		if db.Query(t, "SHOW BINARY LOGS").RowNumber() == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the old binlog files were never purged")
		}
		time.Sleep(200 * time.Millisecond)
	}
	h.start()
	st := h.waitStatus("Failed", func(s *api.Status) bool { return s.State == api.StateFailed })
	if !strings.Contains(st.Message, pos) || !strings.Contains(st.Message, "incr=false") {
		t.Fatalf("message does not name the position %s and the way out: %s", pos, st.Message)
	}
	if st.Pos != pos {
		t.Fatalf("position moved past undelivered data: %s -> %s", pos, st.Pos)
	}
	if n := len(kafka.Read(t, "p")); n != 0 {
		t.Fatalf("%d messages sent", n)
	}
}

// TestBadFilterFails starts a task whose regex does not compile: it fails with the field named,
// and recovers when the spec is fixed.
func TestBadFilterFails(t *testing.T) {
	t.Parallel()
	db := testenv.StartMariaDB(t)
	kafka := testenv.StartKafka(t, 1)
	db.Exec(t, "CREATE DATABASE b", "CREATE TABLE b.t (id INT PRIMARY KEY, v INT)")
	h := newHarness(t, db, kafka)
	spec := api.TaskSpec{Kafka: api.Kafka{Topic: "b"}, Filters: []api.Filter{{DBName: "b", Match: "/(unclosed/"}}}
	h.spec(spec)
	h.start()
	st := h.waitStatus("Failed", func(s *api.Status) bool { return s.State == api.StateFailed })
	if !strings.Contains(st.Message, "task.filters[0].match") {
		t.Fatalf("message: %s", st.Message)
	}
	spec.Filters[0] = api.Filter{DBName: "b", Match: "t", Filter: "nope = 1"}
	h.spec(spec)
	h.running()
	db.Exec(t, "INSERT INTO b.t VALUES (1, 1)")
	st = h.waitStatus("Failed on a missing column", func(s *api.Status) bool { return s.State == api.StateFailed })
	if !strings.Contains(st.Message, `"nope"`) {
		t.Fatalf("message: %s", st.Message)
	}
	spec.Filters[0].Filter = "v = 1"
	h.spec(spec)
	kafka.WaitRecords(t, "b", 1, 30*time.Second)
}

// TestKafkaDown starts a task while its broker is down: the worker retries and says why, then
// delivers once the broker is up.
func TestKafkaDown(t *testing.T) {
	t.Parallel()
	db := testenv.StartMariaDB(t)
	port := testenv.FreePort(t)
	db.Exec(t, "CREATE DATABASE k", "CREATE TABLE k.t (id INT PRIMARY KEY)")
	down := &testenv.Kafka{Addrs: []string{fmt.Sprintf("127.0.0.1:%d", port)}}
	h := newHarness(t, db, down)
	h.spec(api.TaskSpec{Kafka: api.Kafka{Topic: "k"}, Filters: []api.Filter{{DBName: "k", Match: "t"}}})
	h.start()
	h.waitStatus("retrying", func(s *api.Status) bool {
		return strings.Contains(s.Message, "retrying") && strings.Contains(s.Message, "kafka")
	})
	db.Exec(t, "INSERT INTO k.t VALUES (1)")
	up := testenv.StartKafka(t, 1, kfake.Ports(port))
	recs := up.WaitRecords(t, "k", 1, 90*time.Second)
	if len(recs) != 1 {
		t.Fatalf("%d records", len(recs))
	}
	h.waitStatus("Running without a message", func(s *api.Status) bool { return s.State == api.StateRunning && s.Message == "" })
}

// TestOrderUnderProduceRetries makes the broker reject produce requests at random with a
// retriable error: sarama retries, and per key the events stay in order.
func TestOrderUnderProduceRetries(t *testing.T) {
	t.Parallel()
	db := testenv.StartMariaDB(t)
	kafka := testenv.StartKafka(t, 3)
	db.Exec(t, "CREATE DATABASE t", "CREATE TABLE t.kv (id INT PRIMARY KEY, seq INT, pad VARCHAR(200))")
	var mu sync.Mutex
	rnd := rand.New(rand.NewSource(3))
	rejected := 0
	kafka.Cluster.ControlKey(int16(kmsg.Produce), func(req kmsg.Request) (kmsg.Response, error, bool) {
		kafka.Cluster.KeepControl()
		mu.Lock()
		defer mu.Unlock()
		if rnd.Intn(4) != 0 {
			return nil, nil, false
		}
		rejected++
		pr := req.(*kmsg.ProduceRequest)
		resp := pr.ResponseKind().(*kmsg.ProduceResponse)
		for _, rt := range pr.Topics {
			st := kmsg.NewProduceResponseTopic()
			st.Topic = rt.Topic
			for _, rp := range rt.Partitions {
				sp := kmsg.NewProduceResponseTopicPartition()
				sp.Partition = rp.Partition
				sp.ErrorCode = 6 // NOT_LEADER_OR_FOLLOWER: retriable
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
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Second)
	defer cancel()
	if err := l.Run(t, ctx, 50, 4); err != nil {
		t.Fatal(err)
	}
	total := l.Total()
	h.waitStatus("everything acknowledged", func(s *api.Status) bool { return s.RowsSent >= uint64(total) })
	msgs, dups := l.Verify(t, kafka, "kv")
	mu.Lock()
	t.Logf("%d row changes, %d messages, %d duplicates, %d produce requests rejected", total, msgs, dups, rejected)
	if rejected == 0 {
		t.Error("no produce request was rejected: the test did not exercise retries")
	}
	mu.Unlock()
}

// TestSourceDown stops the source while the task runs: the worker retries and says so, loses
// nothing written before or after, and carries on once the source is back.
func TestSourceDown(t *testing.T) {
	t.Parallel()
	db := testenv.StartMariaDB(t)
	kafka := testenv.StartKafka(t, 1)
	db.Exec(t, "CREATE DATABASE d", "CREATE TABLE d.t (id INT PRIMARY KEY)")
	h := newHarness(t, db, kafka)
	h.spec(api.TaskSpec{Kafka: api.Kafka{Topic: "d"}, Filters: []api.Filter{{DBName: "d", Match: "t"}}})
	h.start()
	h.running()
	db.Exec(t, "INSERT INTO d.t VALUES (1)")
	db.Stop()
	st := h.waitStatus("retrying", func(s *api.Status) bool { return strings.Contains(s.Message, "retrying") })
	if st.State == api.StateFailed {
		t.Fatalf("a source outage failed the task: %s", st.Message)
	}
	db.Restart(t)
	db.Exec(t, "INSERT INTO d.t VALUES (2)")
	recs := kafka.WaitRecords(t, "d", 2, 90*time.Second)
	ids := map[string]bool{}
	for _, r := range recs {
		ids[fmt.Sprint(r.JSON(t)["data"].(map[string]any)["id"])] = true
	}
	if !ids["1"] || !ids["2"] {
		t.Fatalf("rows delivered: %v", ids)
	}
	h.waitStatus("Running without a message", func(s *api.Status) bool { return s.State == api.StateRunning && s.Message == "" })
}
