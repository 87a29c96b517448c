package verify_test

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"

	"github.com/dtsrepl/dts/api"
	"github.com/dtsrepl/dts/internal/testenv"
	"github.com/dtsrepl/dts/precheck"
	"github.com/dtsrepl/dts/store/bolt"
	"github.com/dtsrepl/dts/verify"
)

func TestMain(m *testing.M) { testenv.Main(m) }

var _ verify.Store = (*bolt.DB)(nil)

// fill writes to Kafka exactly what the task's renderer makes of the source's rows (the preview),
// as a worker's initial copy would.
func fill(t *testing.T, k *testenv.Kafka, spec *api.TaskSpec, creds *api.Credentials) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	p, err := precheck.Preview(ctx, spec, creds, 1, precheck.MaxPreviewRows)
	if err != nil {
		t.Fatal(err)
	}
	prod, err := sarama.NewSyncProducer(k.Addrs, testenv.SaramaConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	for _, tb := range p.Tables {
		for _, r := range tb.Records {
			if _, _, err := prod.SendMessage(&sarama.ProducerMessage{Topic: r.Topic, Key: sarama.ByteEncoder(r.Key), Value: sarama.ByteEncoder(r.Value)}); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// send produces one record; a nil value is a tombstone.
func send(t *testing.T, k *testenv.Kafka, topic, key string, value []byte) {
	t.Helper()
	prod, err := sarama.NewSyncProducer(k.Addrs, testenv.SaramaConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	m := &sarama.ProducerMessage{Topic: topic, Key: sarama.StringEncoder(key)}
	if value != nil {
		m.Value = sarama.ByteEncoder(value)
	}
	if _, _, err := prod.SendMessage(m); err != nil {
		t.Fatal(err)
	}
}

// abortedWrite writes a record in a transaction that is aborted: a read-committed reader never
// sees it.
func abortedWrite(t *testing.T, k *testenv.Kafka, topic, key string, value []byte) {
	t.Helper()
	cfg := testenv.SaramaConfig()
	cfg.Producer.Idempotent = true
	cfg.Producer.Transaction.ID = "verify-test"
	cfg.Net.MaxOpenRequests = 1
	prod, err := sarama.NewSyncProducer(k.Addrs, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	if err := prod.BeginTxn(); err != nil {
		t.Fatal(err)
	}
	if _, _, err := prod.SendMessage(&sarama.ProducerMessage{Topic: topic, Key: sarama.StringEncoder(key), Value: sarama.ByteEncoder(value)}); err != nil {
		t.Fatal(err)
	}
	if err := prod.AbortTxn(); err != nil {
		t.Fatal(err)
	}
}

func check(t *testing.T, st *bolt.DB, task *api.Task, creds *api.Credentials, req api.VerifyRequest, status func(context.Context) (*api.Status, error)) *api.Verify {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c, err := verify.Begin(ctx, verify.Options{Task: task, Creds: creds, Request: req, Owner: "test", Store: st, Status: status, RecheckWait: 20 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	c.Run(ctx)
	v, _, err := st.Verify(ctx, task.ID)
	if err != nil || v == nil {
		t.Fatalf("stored verify: %v %v", v, err)
	}
	b, _ := json.MarshalIndent(v, "", "  ")
	t.Logf("verify: %s", b)
	if strings.Contains(string(b), creds.Password) {
		t.Error("the check shows the password")
	}
	return v
}

// TestVerify: a topic that holds what the source holds is consistent; then a record deleted in
// Kafka (a tombstone), a row changed without the binlog, a key only Kafka has and an aborted
// transaction's record are found for what they are.
func TestVerify(t *testing.T) {
	t.Parallel()
	db := testenv.StartMariaDB(t)
	db.Exec(t, "CREATE DATABASE shop",
		"CREATE TABLE shop.orders (id INT PRIMARY KEY, status INT, note VARCHAR(20))",
		"CREATE TABLE shop.items (sku VARCHAR(10), n INT, PRIMARY KEY (sku, n))")
	for i := 1; i <= 25; i++ {
		db.Exec(t, "INSERT INTO shop.orders VALUES ("+strconv.Itoa(i)+", "+strconv.Itoa(i%2)+", 'n"+strconv.Itoa(i)+"')", "INSERT INTO shop.items VALUES ('s"+strconv.Itoa(i%3)+"', "+strconv.Itoa(i)+")")
	}
	db.CreateReplicationUser(t, "dts_repl", "repl-pw-7")
	kafka := testenv.StartKafka(t, 3)
	st, err := bolt.Open(filepath.Join(t.TempDir(), "dts.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	creds := &api.Credentials{Username: "dts_repl", Password: "repl-pw-7"}
	byTable := api.TopicModeTable
	spec := api.TaskSpec{
		Source:  &api.Source{Host: db.Host, Port: db.Port, Username: "dts_repl"},
		Kafka:   api.Kafka{Addr: kafka.Addr(), TopicMode: &byTable, PartitionMode: api.PartitionByPrimaryKey},
		Filters: []api.Filter{{DBName: "shop", Match: "orders", Filter: "status = 1 OR id > 20"}, {DBName: "shop", Match: "items"}},
	}
	task := &api.Task{Spec: spec, Version: 1, Desired: api.DesiredRunning, CreatedAt: time.Now(), UpdatedAt: time.Now()}
	if _, err := st.Create(context.Background(), task); err != nil {
		t.Fatal(err)
	}
	fill(t, kafka, &spec, creds)

	v := check(t, st, task, creds, api.VerifyRequest{ChunkRows: 4, Rate: 1000}, nil)
	if v.State != api.VerifyDone || !v.Consistent || len(v.Tables) != 2 || v.RowsChecked != 50 {
		t.Fatalf("a faithful topic: %+v", v)
	}
	orders := v.Tables[1]
	if orders.Table != "orders" || orders.Matching != 15 || orders.Filtered != 10 || orders.SourceRows != 15 || orders.KafkaKeys != 15 || orders.Chunks != 7 || orders.ChunksMatching != 7 {
		t.Errorf("orders %+v", orders)
	}

	// A tombstone for order 3, order 5 changed with the binlog off for the session, a key the
	// source does not have, and an aborted transaction's record for order 7.
	send(t, kafka, "shop_orders", `{"database":"shop","table":"orders","pk":{"id":3}}`, nil)
	c := db.Conn(t)
	for _, q := range []string{"SET sql_log_bin = 0", "UPDATE shop.orders SET note = 'quiet' WHERE id = 5", "SET sql_log_bin = 1"} {
		if _, err := c.Execute(q); err != nil {
			t.Fatal(err)
		}
	}
	send(t, kafka, "shop_orders", `{"database":"shop","table":"orders","pk":{"id":99}}`, []byte(`{"database":"shop","table":"orders","type":"insert","ts":1,"data":{"id":99,"status":1,"note":"ghost"}}`))
	abortedWrite(t, kafka, "shop_orders", `{"database":"shop","table":"orders","pk":{"id":7}}`, []byte(`{"database":"shop","table":"orders","type":"update","ts":1,"data":{"id":7,"status":1,"note":"never"}}`))

	// The task reports Failed: nothing is in flight, so nothing is read again.
	stopped := func(context.Context) (*api.Status, error) { return &api.Status{State: api.StateFailed}, nil }
	v = check(t, st, task, creds, api.VerifyRequest{Tables: []string{"shop.orders"}, Samples: 5}, stopped)
	if v.State != api.VerifyDone || v.Consistent || len(v.Tables) != 1 {
		t.Fatalf("a damaged topic: %+v", v)
	}
	o := v.Tables[0]
	if o.Missing != 1 || o.Differing != 1 || o.Extra != 1 || o.Matching != 13 || o.Rechecked != 0 {
		t.Errorf("orders %+v", o)
	}
	kinds := map[string]api.VerifySample{}
	for _, s := range o.Samples {
		kinds[s.Kind] = s
	}
	if s := kinds["missing"]; !strings.Contains(string(s.Key), `"id":3`) || !strings.Contains(string(s.Source), `"note":"n3"`) {
		t.Errorf("missing sample %+v", s)
	}
	if s := kinds["differing"]; !strings.Contains(string(s.Key), `"id":5`) || !strings.Contains(string(s.Source), "quiet") || !strings.Contains(string(s.Kafka), `"note":"n5"`) {
		t.Errorf("differing sample %+v", s)
	}
	if s := kinds["extra"]; !strings.Contains(string(s.Key), `"id":99`) || !strings.Contains(string(s.Kafka), "ghost") {
		t.Errorf("extra sample %+v", s)
	}
	if !strings.Contains(v.Message, "not read again") {
		t.Errorf("message %q", v.Message)
	}

	// A running task that has caught up: the differences are read again and stay.
	running := func(ctx context.Context) (*api.Status, error) {
		r := db.Query(t, "SELECT @@gtid_binlog_pos")
		pos, _ := r.GetString(0, 0)
		return &api.Status{State: api.StateRunning, Pos: "MariaDB/" + pos}, nil
	}
	v = check(t, st, task, creds, api.VerifyRequest{Tables: []string{"shop.orders"}}, running)
	if o := v.Tables[0]; o.Missing != 1 || o.Differing != 1 || o.Extra != 1 || o.Rechecked != 3 {
		t.Errorf("rechecked orders %+v", o)
	}

	// Records deleted from the head of a partition (DeleteRecords, as retention does): the
	// check reads on from the new log start, and their keys are missing.
	var part int32 = -1
	var upTo int64
	lost := 0
	recs := kafka.Read(t, "shop_items")
	for _, r := range recs {
		if part < 0 || r.Partition == part && r.Offset+1 > upTo {
			part, upTo = r.Partition, r.Offset+1
		}
	}
	upTo = (upTo + 1) / 2 // the first half of the partition
	for _, r := range recs {
		if r.Partition == part && r.Offset < upTo {
			lost++
		}
	}
	admin, err := sarama.NewClusterAdmin(kafka.Addrs, testenv.SaramaConfig())
	if err != nil {
		t.Fatal(err)
	}
	if err := admin.DeleteRecords("shop_items", map[int32]int64{part: upTo}); err != nil {
		t.Fatal(err)
	}
	admin.Close()
	v = check(t, st, task, creds, api.VerifyRequest{Tables: []string{"shop.items"}}, stopped)
	if it := v.Tables[0]; lost == 0 || it.Missing != uint64(lost) || it.Matching != uint64(25-lost) {
		t.Errorf("items after deleting %d records: %+v", lost, it)
	}

	// A running check is not started twice.
	if _, err := verify.Begin(context.Background(), verify.Options{Task: task, Creds: creds, Owner: "a", Store: st}); err != nil {
		t.Fatal(err)
	}
	if _, err := verify.Begin(context.Background(), verify.Options{Task: task, Creds: creds, Owner: "b", Store: st}); err == nil || !strings.Contains(err.Error(), "running") {
		t.Errorf("a second check: %v", err)
	}
}
