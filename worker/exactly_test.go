package worker_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kversion"

	"github.com/dtsrepl/dts/api"
	"github.com/dtsrepl/dts/internal/testenv"
)

// TestExactlyOnce streams with exactly_once delivery: a read_committed consumer sees each change
// once; the checkpoint is in the checkpoint topic; a restart resumes there and sends nothing
// twice.
func TestExactlyOnce(t *testing.T) {
	t.Parallel()
	db := testenv.StartMariaDB(t)
	kafka := testenv.StartKafka(t, 2)
	db.Exec(t, "CREATE DATABASE x", "CREATE TABLE x.t (id INT PRIMARY KEY, v INT)")
	h := newHarness(t, db, kafka)
	h.spec(api.TaskSpec{Kafka: api.Kafka{Topic: "x", PartitionMode: api.PartitionByPrimaryKey, Delivery: api.ExactlyOnce},
		Filters: []api.Filter{{DBName: "x", Match: "t"}}})
	h.start()
	h.running()
	db.Exec(t, "INSERT INTO x.t VALUES (1, 1), (2, 1)", "UPDATE x.t SET v = 2 WHERE id = 1", "DELETE FROM x.t WHERE id = 2")
	kafka.WaitCommitted(t, "x", 4, 60*time.Second)
	waitCaughtUp(t, h, db)
	h.stop()
	db.Exec(t, "INSERT INTO x.t VALUES (3, 1)")
	h.start()
	kafka.WaitCommitted(t, "x", 5, 60*time.Second)
	waitCaughtUp(t, h, db)
	recs := kafka.ReadCommitted(t, "x")
	var got []string
	for _, v := range values(t, recs) {
		got = append(got, fmt.Sprintf("%v:%v", v["type"], v["data"].(map[string]any)["id"]))
	}
	if len(recs) != 5 {
		t.Fatalf("a read_committed consumer sees %d messages: %v", len(recs), got)
	}
	ck := kafka.ReadCommitted(t, api.DefaultCheckpointTopic)
	if len(ck) == 0 {
		t.Fatal("no checkpoint in the checkpoint topic")
	}
	var last struct {
		Pos string `json:"pos"`
	}
	if err := json.Unmarshal(ck[len(ck)-1].Value, &last); err != nil || !strings.HasPrefix(last.Pos, "MariaDB/") {
		t.Fatalf("checkpoint record %s: %v", ck[len(ck)-1].Value, err)
	}
}

// TestExactlyOnceWithoutTransactions: a broker without transactions fails an exactly_once task at
// once, saying so.
func TestExactlyOnceWithoutTransactions(t *testing.T) {
	t.Parallel()
	db := testenv.StartMariaDB(t)
	v := kversion.V0_10_2()
	kafka := testenv.StartKafka(t, 1, kfake.MaxVersions(v))
	db.Exec(t, "CREATE DATABASE x", "CREATE TABLE x.t (id INT PRIMARY KEY)")
	h := newHarness(t, db, kafka)
	h.spec(api.TaskSpec{Kafka: api.Kafka{Topic: "x", Delivery: api.ExactlyOnce}, Filters: []api.Filter{{DBName: "x", Match: "t"}}})
	h.start()
	st := h.waitStatus("Failed", func(s *api.Status) bool { return s.State == api.StateFailed })
	if !strings.Contains(st.Message, "transactions") || !strings.Contains(st.Message, "at_least_once") {
		t.Fatalf("message: %s", st.Message)
	}
}

// TestExactlyOnceOutage stops the broker for a while under load with exactly_once delivery: the
// status says so, nothing is lost, and a read_committed consumer sees no duplicate (aborted
// transactions instead).
func TestExactlyOnceOutage(t *testing.T) {
	t.Parallel()
	db := testenv.StartMariaDB(t)
	kafka := testenv.StartDurableKafka(t, 3)
	db.Exec(t, "CREATE DATABASE t", "CREATE TABLE t.kv (id INT PRIMARY KEY, seq INT, pad VARCHAR(200))")
	h := newHarness(t, db, kafka)
	h.spec(api.TaskSpec{Kafka: api.Kafka{Topic: "kv", PartitionMode: api.PartitionByPrimaryKey, Delivery: api.ExactlyOnce},
		Filters: []api.Filter{{DBName: "t", Match: "kv"}}})
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
	h.waitStatusWithin(30*time.Second, "saying Kafka fails", func(s *api.Status) bool {
		return strings.Contains(s.Message, "kafka") || strings.Contains(s.Message, "Kafka")
	})
	time.Sleep(5 * time.Second)
	kafka.Restart(t)
	time.Sleep(3 * time.Second)
	cancel()
	if err := <-loadErr; err != nil {
		t.Fatal(err)
	}
	total := l.Total()
	kafka.WaitCommitted(t, "kv", total, 90*time.Second)
	waitCaughtUp(t, h, db)
	msgs, dups := l.VerifyCommitted(t, kafka, "kv")
	if dups != 0 || msgs != total {
		t.Errorf("a read_committed consumer saw %d messages for %d row changes (%d duplicates)", msgs, total, dups)
	}
	t.Logf("%d row changes, %d committed, %d offsets written in all (with aborted records and markers)", total, msgs, kafka.Written(t, "kv"))
}

// TestExactlyOnceOversized: a row larger than the topic accepts fails an exactly_once task as
// it does an at_least_once one, and once skipped, the rows around it are each committed once.
func TestExactlyOnceOversized(t *testing.T) {
	t.Parallel()
	db := testenv.StartMariaDB(t)
	kafka := testenv.StartKafka(t, 1)
	db.Exec(t, "CREATE DATABASE big", "CREATE TABLE big.t (id INT PRIMARY KEY, body LONGTEXT)")
	h := newHarness(t, db, kafka)
	spec := api.TaskSpec{Kafka: api.Kafka{Topic: "big", Delivery: api.ExactlyOnce}, Filters: []api.Filter{{DBName: "big", Match: "t"}}}
	h.spec(spec)
	h.start()
	h.running()
	db.Exec(t, "INSERT INTO big.t VALUES (1, 'small')", "INSERT INTO big.t VALUES (2, REPEAT('x', 2000000))", "INSERT INTO big.t VALUES (3, 'after')")
	st := h.waitStatus("Failed", func(s *api.Status) bool { return s.State == api.StateFailed })
	if !strings.Contains(st.Message, "oversized_rows") {
		t.Errorf("message: %s", st.Message)
	}
	spec.Kafka.OversizedRows = api.OversizedSkip
	h.spec(spec)
	kafka.WaitCommitted(t, "big", 2, 60*time.Second)
	waitCaughtUp(t, h, db)
	recs := rows(t, kafka.ReadCommitted(t, "big"))
	var ids []string
	for _, v := range values(t, recs) {
		ids = append(ids, fmt.Sprint(v["data"].(map[string]any)["id"]))
	}
	if strings.Join(ids, ",") != "1,3" {
		t.Fatalf("committed rows %v, want 1,3", ids)
	}
}
