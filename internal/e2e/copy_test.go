package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/dtsrepl/dts/api"
	"github.com/dtsrepl/dts/internal/testenv"
)

// TestSnapshotUnderWritesAndKills copies 200,000 existing rows of three tables (one with a
// composite key, one without any key) while a writer inserts, updates and deletes, and kills
// the worker with SIGKILL twice during the copy. Afterwards the last message of every key in
// Kafka equals the row in the database, every row of the keyless table was copied, and the
// copy resumed where it stopped instead of starting over.
func TestSnapshotUnderWritesAndKills(t *testing.T) {
	t.Parallel()
	bin := testenv.Build(t, "./cmd/dts")
	db := testenv.StartMariaDB(t)
	kafka := testenv.StartKafka(t, 4)
	const rowsA, rowsB, rowsC = 120000, 79000, 1000
	db.Exec(t, "CREATE DATABASE snap",
		"CREATE TABLE snap.a (id BIGINT PRIMARY KEY, v INT NOT NULL, pad VARCHAR(100))",
		"CREATE TABLE snap.b (k1 VARCHAR(20) NOT NULL, k2 INT NOT NULL, v INT NOT NULL, PRIMARY KEY (k1, k2))",
		"CREATE TABLE snap.c (x INT, y VARCHAR(20))",
		fmt.Sprintf("INSERT INTO snap.a SELECT seq, 0, REPEAT('a', 60) FROM snap.seq_1_to_%d", rowsA),
		fmt.Sprintf("INSERT INTO snap.b SELECT CONCAT('k', seq %% 100), seq, 0 FROM snap.seq_1_to_%d", rowsB),
		fmt.Sprintf("INSERT INTO snap.c SELECT seq, 'c' FROM snap.seq_1_to_%d", rowsC),
	)
	incr := false
	fw := newFileWorker(t, bin, api.TaskSpec{
		Source:    &api.Source{Host: db.Host, Port: db.Port, Username: db.User, Password: db.Password},
		Kafka:     api.Kafka{Addr: kafka.Addr(), Topic: "snap", PartitionMode: api.PartitionByPrimaryKey},
		Filters:   []api.Filter{{DBName: "snap"}},
		RateLimit: &api.RateLimit{Rate: 30000},
		Incr:      &incr,
	})
	waitCopied := func(w *testenv.Process, n uint64) *api.Status {
		t.Helper()
		deadline := time.Now().Add(2 * time.Minute)
		for {
			if st := fw.status(); st != nil && st.Snapshot != nil && st.Snapshot.RowsCopied >= n {
				if st.Snapshot.Done {
					t.Fatalf("the copy finished before the kill at %d rows: %+v", n, st.Snapshot)
				}
				return st
			}
			if exited, err := w.Exited(); exited {
				t.Fatalf("worker exited: %v\n%s", err, w.Log())
			}
			if time.Now().After(deadline) {
				t.Fatalf("copy never reached %d rows: %+v", n, fw.status())
			}
			time.Sleep(20 * time.Millisecond)
		}
	}

	w := fw.start(0)
	// The writer runs through the whole copy.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	errc := make(chan error, 1)
	go func() { errc <- churn(ctx, t, db, rowsA) }()

	st := waitCopied(w, 30000)
	if st.State != api.StateSnapshotting || st.Snapshot.Pos == "" || len(st.Snapshot.Tables) != 3 {
		t.Fatalf("status while copying: %+v", st)
	}
	w.Stop(syscall.SIGKILL, time.Second)
	killedAt := fw.status().Snapshot.RowsCopied
	w = fw.start(1)
	st = waitCopied(w, killedAt+1)
	if st.Snapshot.RowsCopied < killedAt {
		t.Fatalf("copy restarted: %d rows copied after the kill at %d", st.Snapshot.RowsCopied, killedAt)
	}
	waitCopied(w, 110000)
	w.Stop(syscall.SIGKILL, time.Second)
	killedAt2 := fw.status().Snapshot.RowsCopied
	fw.start(2) // stopped by the test's cleanup
	deadline := time.Now().Add(3 * time.Minute)
	for {
		if st := fw.status(); st != nil && st.Snapshot != nil && st.Snapshot.Done && st.State == api.StateRunning {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("copy never finished: %+v", fw.status())
		}
		time.Sleep(50 * time.Millisecond)
	}
	cancel()
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	// Wait for the stream to catch up with the last write.
	r := db.Query(t, "SELECT @@gtid_binlog_pos")
	final, _ := r.GetString(0, 0)
	for !strings.HasSuffix(fw.status().Pos, final) {
		if time.Now().After(deadline) {
			t.Fatalf("checkpoint %s never reached %s", fw.status().Pos, final)
		}
		time.Sleep(100 * time.Millisecond)
	}

	latest := map[string]string{} // key -> last data, "" when deleted
	snapshotMsgs, cRows := 0, map[string]bool{}
	for _, rec := range kafka.Read(t, "snap") {
		var m struct {
			Table string          `json:"table"`
			Type  string          `json:"type"`
			Data  json.RawMessage `json:"data"`
		}
		if err := json.Unmarshal(rec.Value, &m); err != nil {
			t.Fatal(err)
		}
		if m.Type == "snapshot" {
			snapshotMsgs++
		}
		if m.Table == "c" {
			cRows[testenv.CompactJSON(m.Data)] = true
			continue
		}
		if m.Type == "delete" {
			latest[string(rec.Key)] = ""
		} else {
			latest[string(rec.Key)] = testenv.CompactJSON(m.Data)
		}
	}
	want := map[string]string{}
	res := db.Query(t, "SELECT id, v, pad FROM snap.a")
	for i := range res.RowNumber() {
		id, _ := res.GetInt(i, 0)
		v, _ := res.GetInt(i, 1)
		pad, _ := res.GetString(i, 2)
		want[fmt.Sprintf(`{"database":"snap","table":"a","pk":{"id":%d}}`, id)] = testenv.CompactJSON([]byte(fmt.Sprintf(`{"id":%d,"pad":%q,"v":%d}`, id, pad, v)))
	}
	res = db.Query(t, "SELECT k1, k2, v FROM snap.b")
	for i := range res.RowNumber() {
		k1, _ := res.GetString(i, 0)
		k2, _ := res.GetInt(i, 1)
		v, _ := res.GetInt(i, 2)
		want[fmt.Sprintf(`{"database":"snap","table":"b","pk":{"k1":%q,"k2":%d}}`, k1, k2)] = testenv.CompactJSON([]byte(fmt.Sprintf(`{"k1":%q,"k2":%d,"v":%d}`, k1, k2, v)))
	}
	bad := 0
	for k, w := range want {
		if latest[k] != w {
			if bad++; bad <= 5 {
				t.Errorf("key %s: last message %s, database %s", k, latest[k], w)
			}
		}
	}
	for k, v := range latest {
		if _, ok := want[k]; !ok && v != "" {
			if bad++; bad <= 10 {
				t.Errorf("key %s: last message %s, but the row is gone", k, v)
			}
		}
	}
	if bad > 0 {
		t.Fatalf("%d keys differ between Kafka and the database", bad)
	}
	if len(cRows) != rowsC {
		t.Errorf("keyless table: %d distinct rows copied, want %d", len(cRows), rowsC)
	}
	total := rowsA + rowsB + rowsC
	if limit := total + 2*40000; snapshotMsgs > limit {
		t.Errorf("%d snapshot messages for %d rows: the copy started over after a kill", snapshotMsgs, total)
	}
	t.Logf("%d rows copied with kills at %d and %d rows: %d snapshot messages (%d re-sent), %d keys checked",
		total, killedAt, killedAt2, snapshotMsgs, snapshotMsgs-total, len(want))
}

// churn inserts, updates and deletes rows of snap.a and snap.b until ctx ends.
func churn(ctx context.Context, t *testing.T, db *testenv.MariaDB, rowsA int) error {
	c := db.Conn(t)
	rnd := rand.New(rand.NewSource(7))
	next := rowsA + 1
	for ctx.Err() == nil {
		var q string
		switch rnd.Intn(6) {
		case 0:
			q = fmt.Sprintf("INSERT INTO snap.a VALUES (%d, 1, 'new')", next)
			next++
		case 1:
			q = fmt.Sprintf("DELETE FROM snap.a WHERE id = %d", 1+rnd.Intn(rowsA))
		case 2:
			q = fmt.Sprintf("UPDATE snap.b SET v = v + 1 WHERE k1 = 'k%d' AND k2 = %d", rnd.Intn(100), 1+rnd.Intn(79000))
		case 3:
			q = fmt.Sprintf("DELETE FROM snap.b WHERE k1 = 'k%d' AND k2 = %d", rnd.Intn(100), 1+rnd.Intn(79000))
		default:
			q = fmt.Sprintf("UPDATE snap.a SET v = v + 1 WHERE id = %d", 1+rnd.Intn(next-1))
		}
		if _, err := c.Execute(q); err != nil {
			return fmt.Errorf("%s: %w", q, err)
		}
	}
	return nil
}
