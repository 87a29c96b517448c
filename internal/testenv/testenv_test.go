package testenv_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/go-mysql-org/go-mysql/mysql"
	"github.com/go-mysql-org/go-mysql/replication"
	consulapi "github.com/hashicorp/consul/api"
	nomadapi "github.com/hashicorp/nomad/api"

	"github.com/dtsrepl/dts/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// TestMariaDBBinlog writes a row and reads it back from the binlog with column names taken from
// the table map's full row metadata.
func TestMariaDBBinlog(t *testing.T) {
	t.Parallel()
	db := testenv.StartMariaDB(t)
	r := db.Query(t, "SELECT @@gtid_binlog_pos")
	start, _ := r.GetString(0, 0)
	gset, err := mysql.ParseMariadbGTIDSet(start)
	if err != nil {
		t.Fatal(err)
	}
	db.Exec(t,
		"CREATE DATABASE shop",
		"CREATE TABLE shop.orders (id BIGINT UNSIGNED PRIMARY KEY, note VARCHAR(20))",
		"INSERT INTO shop.orders VALUES (18446744073709551615, 'héllo')",
	)

	syncer := replication.NewBinlogSyncer(replication.BinlogSyncerConfig{
		ServerID: 4242, Flavor: mysql.MariaDBFlavor, Host: db.Host, Port: uint16(db.Port),
		User: db.User, Password: db.Password, Charset: "utf8mb4",
	})
	defer syncer.Close()
	streamer, err := syncer.StartSyncGTID(gset)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for {
		ev, err := streamer.GetEvent(ctx)
		if err != nil {
			t.Fatalf("no row event: %v", err)
		}
		rows, ok := ev.Event.(*replication.RowsEvent)
		if !ok {
			continue
		}
		names := rows.Table.ColumnNameString()
		if fmt.Sprint(names) != "[id note]" {
			t.Fatalf("column names from row metadata = %v, want [id note]", names)
		}
		if got := fmt.Sprint(rows.Rows[0]); got != "[18446744073709551615 héllo]" {
			t.Fatalf("row = %s", got)
		}
		return
	}
}

func TestConsulKV(t *testing.T) {
	t.Parallel()
	c := testenv.StartConsul(t)
	kv := c.Client.KV()
	if _, err := kv.Put(&consulapi.KVPair{Key: "dts/test", Value: []byte("v1")}, nil); err != nil {
		t.Fatal(err)
	}
	p, _, err := kv.Get("dts/test", nil)
	if err != nil || p == nil || string(p.Value) != "v1" {
		t.Fatalf("get = %v, %v", p, err)
	}
}

// TestNomadRawExec runs a raw_exec job that registers a Consul service and waits until the
// allocation runs and the service is in Consul's catalog.
func TestNomadRawExec(t *testing.T) {
	t.Parallel()
	consul := testenv.StartConsul(t)
	nomad := testenv.StartNomad(t, consul)

	job := nomadapi.NewServiceJob("testenv-sleep", "testenv-sleep", "global", 50)
	group := nomadapi.NewTaskGroup("g", 1)
	group.Networks = []*nomadapi.NetworkResource{{DynamicPorts: []nomadapi.Port{{Label: "http"}}}}
	group.Services = []*nomadapi.Service{{Name: "testenv-sleep", PortLabel: "http", Provider: "consul"}}
	task := nomadapi.NewTask("sleep", "raw_exec")
	task.Config = map[string]any{"command": "/bin/sleep", "args": []string{"300"}}
	task.Resources = &nomadapi.Resources{CPU: intp(50), MemoryMB: intp(32)}
	group.AddTask(task)
	job.AddTaskGroup(group)
	if _, _, err := nomad.Client.Jobs().Register(job, nil); err != nil {
		t.Fatal(err)
	}

	deadline := time.Now().Add(90 * time.Second)
	for {
		allocs, _, err := nomad.Client.Jobs().Allocations("testenv-sleep", false, nil)
		if err != nil {
			t.Fatal(err)
		}
		running := len(allocs) > 0 && allocs[0].ClientStatus == "running"
		svcs, _, err := consul.Client.Catalog().Service("testenv-sleep", "", nil)
		if err != nil {
			t.Fatal(err)
		}
		if running && len(svcs) == 1 {
			if svcs[0].ServiceAddress != "127.0.0.1" {
				t.Fatalf("service address %q, want loopback", svcs[0].ServiceAddress)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("job not running with a registered service: allocs=%d running=%v services=%d", len(allocs), running, len(svcs))
		}
		time.Sleep(250 * time.Millisecond)
	}
}

func TestKafkaInProcess(t *testing.T) {
	t.Parallel()
	k := testenv.StartKafka(t, 3)
	testProduceConsume(t, k)
}

func TestKafkaProcess(t *testing.T) {
	t.Parallel()
	k := testenv.StartKafkaProcess(t, 2)
	testProduceConsume(t, k)
}

func testProduceConsume(t *testing.T, k *testenv.Kafka) {
	part, off := k.Produce(t, "t1", []byte("k"), []byte(`{"a":1}`))
	recs := k.WaitRecords(t, "t1", 1, 10*time.Second)
	if len(recs) != 1 || recs[0].Partition != part || recs[0].Offset != off || string(recs[0].Value) != `{"a":1}` || string(recs[0].Key) != "k" {
		t.Fatalf("records = %+v", recs)
	}
}

func intp(i int) *int { return &i }
