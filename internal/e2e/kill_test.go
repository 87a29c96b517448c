package e2e

import (
	"context"
	"math/rand"
	"syscall"
	"testing"
	"time"

	"github.com/go-mysql-org/go-mysql/mysql"

	"github.com/dtsrepl/dts/api"
	"github.com/dtsrepl/dts/internal/testenv"
)

// TestKillNine kills the worker process with SIGKILL again and again under a steady write
// load, on both flavors: every row change still reaches Kafka at least once, and in order per
// key.
func TestKillNine(t *testing.T) {
	t.Parallel()
	bin := testenv.Build(t, "./cmd/dts")
	testenv.EachFlavor(t, func(t *testing.T, db testenv.MySQLServer) { killNine(t, bin, db, "") })
}

// killNine is the kill -9 test with a delivery guarantee: with exactly_once, a read_committed
// consumer must see every row version exactly once.
func killNine(t *testing.T, bin string, db testenv.MySQLServer, delivery string) {
	kafka := testenv.StartKafka(t, 4)
	db.Exec(t, "CREATE DATABASE t", "CREATE TABLE t.kv (id INT PRIMARY KEY, seq INT, pad VARCHAR(200))")
	e := db.Endpoint()
	fw := newFileWorker(t, bin, api.TaskSpec{
		Source:  &api.Source{Host: e.Host, Port: e.Port, Username: e.User, Password: e.Password},
		Kafka:   api.Kafka{Addr: kafka.Addr(), Topic: "kv", PartitionMode: api.PartitionByPrimaryKey, Delivery: delivery},
		Filters: []api.Filter{{DBName: "t", Match: "kv"}},
	})
	statusPos := func() string {
		if st := fw.status(); st != nil {
			return st.Pos
		}
		return ""
	}
	w := fw.start(0)
	deadline := time.Now().Add(60 * time.Second)
	for statusPos() == "" {
		if time.Now().After(deadline) {
			t.Fatalf("worker never saved a position: %s", w.Log())
		}
		time.Sleep(50 * time.Millisecond)
	}

	l := testenv.NewLoad(db)
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- l.Run(t, ctx, 300, 1) }()
	rnd := rand.New(rand.NewSource(2))
	const kills = 6
	for i := 1; i <= kills; i++ {
		time.Sleep(time.Duration(700+rnd.Intn(1500)) * time.Millisecond)
		if exited, err := w.Exited(); exited {
			t.Fatalf("worker %d exited by itself: %v\n%s", i-1, err, w.Log())
		}
		w.Stop(syscall.SIGKILL, time.Second)
		w = fw.start(i)
	}
	time.Sleep(time.Second)
	cancel()
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	// Wait until the last incarnation delivered everything, then check.
	total := l.Total()
	deadline = time.Now().Add(90 * time.Second)
	read := kafka.Read
	if delivery == api.ExactlyOnce {
		read = kafka.ReadCommitted
	}
	for {
		if recs := read(t, "kv"); len(recs) >= total {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("fewer messages than row changes after %d kills", kills)
		}
		time.Sleep(200 * time.Millisecond)
	}
	// Messages of the last changes may still be in flight; give the worker until its
	// checkpoint covers them.
	want := gtidPos(t, db)
	for statusPos() != want {
		if time.Now().After(deadline) {
			t.Fatalf("checkpoint %s never reached %s", statusPos(), want)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if delivery == api.ExactlyOnce {
		msgs, dups := l.VerifyCommitted(t, kafka, "kv")
		t.Logf("exactly once: %d row changes, %d committed messages after %d SIGKILLs (%d duplicates); %d offsets written in all (with aborted records and markers)", total, msgs, kills, dups, kafka.Written(t, "kv"))
		if dups != 0 || msgs != total {
			t.Errorf("a read_committed consumer saw %d messages for %d row changes (%d duplicates)", msgs, total, dups)
		}
		return
	}
	msgs, dups := l.Verify(t, kafka, "kv")
	t.Logf("%d row changes, %d messages after %d SIGKILLs (%d re-sent)", total, msgs, kills, dups)
}

// gtidPos is the position of a task that has streamed everything db has written: the server's
// GTID set behind its flavor's prefix, as a status shows it.
func gtidPos(t *testing.T, db testenv.MySQLServer) string {
	t.Helper()
	prefix := "MariaDB/"
	if db.Flavor() == mysql.MySQLFlavor {
		prefix = "MySQL56/"
	}
	return prefix + db.GTIDSet(t).String()
}
