package worker_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/go-mysql-org/go-mysql/mysql"

	"github.com/dtsrepl/dts/api"
	"github.com/dtsrepl/dts/internal/testenv"
)

// dolt reports whether db is Dolt, for the checks its deviations make meaningless there (each
// says why).
func dolt(db testenv.MySQLServer) bool { return db.Flavor() == mysql.MySQLFlavor }

// posPrefix is the flavor prefix of a GTID position, as the seed API shows it.
func posPrefix(db testenv.MySQLServer) string {
	if dolt(db) {
		return "MySQL56/"
	}
	return "MariaDB/"
}

// waitCaughtUp waits until the saved checkpoint is the server's whole GTID set.
func waitCaughtUp(t *testing.T, h *harness, db testenv.MySQLServer) *api.Status {
	t.Helper()
	want := posPrefix(db) + db.GTIDSet(t).String()
	return h.waitStatus("at "+want, func(s *api.Status) bool { return s.Pos == want })
}

// TestFlavorStream: inserts, updates and deletes arrive with their images, the position is the
// flavor's GTID set, and the checkpoint reaches the server's.
func TestFlavorStream(t *testing.T) {
	t.Parallel()
	testenv.EachFlavor(t, func(t *testing.T, db testenv.MySQLServer) {
		kafka := testenv.StartKafka(t, 1)
		db.Exec(t, "CREATE DATABASE shop", "CREATE TABLE shop.orders (id INT PRIMARY KEY, qty INT, note VARCHAR(20))")
		h := newHarness(t, db, kafka)
		h.spec(api.TaskSpec{Kafka: api.Kafka{Topic: "cdc"}, Filters: []api.Filter{{DBName: "shop", Match: "orders"}}})
		h.start()
		st := h.running()
		if !strings.HasPrefix(st.Pos, posPrefix(db)) {
			t.Fatalf("pos %q is not a %s position", st.Pos, posPrefix(db))
		}
		db.Exec(t, "INSERT INTO shop.orders VALUES (1, 2, 'a'), (2, 5, 'b')", "UPDATE shop.orders SET qty = 3 WHERE id = 1", "DELETE FROM shop.orders WHERE id = 2")
		recs := kafka.WaitRecords(t, "cdc", 4, 60*time.Second)
		var got []string
		for _, v := range values(t, recs) {
			got = append(got, fmt.Sprintf("%v %v %v", v["type"], jsonString(v["data"]), jsonString(v["old"])))
		}
		want := []string{
			`insert {"id":1,"note":"a","qty":2} null`,
			`insert {"id":2,"note":"b","qty":5} null`,
			`update {"id":1,"note":"a","qty":3} {"qty":2}`,
			`delete {"id":2,"note":"b","qty":5} null`,
		}
		if strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Fatalf("messages:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
		st = waitCaughtUp(t, h, db)
		// Dolt stamps every event with its start time: the transaction time says nothing there.
		if !dolt(db) && time.Since(st.TransactionTime) > time.Minute {
			t.Errorf("transaction time %v", st.TransactionTime)
		}
		if len(kafka.Read(t, "cdc")) != 4 {
			t.Errorf("messages beyond the four changes")
		}
	})
}

// TestFlavorResume stops the worker, writes, and starts it again: it resumes at its GTID set and
// sends each change once — also where the server replays its whole history on every dump
// (Dolt ignores the set in the dump request).
func TestFlavorResume(t *testing.T) {
	t.Parallel()
	testenv.EachFlavor(t, func(t *testing.T, db testenv.MySQLServer) {
		kafka := testenv.StartKafka(t, 1)
		db.Exec(t, "CREATE DATABASE r", "CREATE TABLE r.t (id INT PRIMARY KEY)")
		h := newHarness(t, db, kafka)
		h.spec(api.TaskSpec{Kafka: api.Kafka{Topic: "r"}, Filters: []api.Filter{{DBName: "r", Match: "t"}}})
		h.start()
		h.running()
		db.Exec(t, "INSERT INTO r.t VALUES (1)", "INSERT INTO r.t VALUES (2)")
		kafka.WaitRecords(t, "r", 2, 60*time.Second)
		waitCaughtUp(t, h, db)
		h.stop()
		db.Exec(t, "INSERT INTO r.t VALUES (3)", "INSERT INTO r.t VALUES (4)")
		h.start()
		kafka.WaitRecords(t, "r", 4, 60*time.Second)
		waitCaughtUp(t, h, db)
		recs := kafka.Read(t, "r")
		var ids []string
		for _, v := range values(t, recs) {
			ids = append(ids, fmt.Sprint(v["data"].(map[string]any)["id"]))
		}
		if strings.Join(ids, ",") != "1,2,3,4" {
			t.Fatalf("rows sent: %v, want each once: 1,2,3,4", ids)
		}
	})
}

// TestFlavorCopy copies existing rows (incr=false), then streams from the position taken before
// the copy.
func TestFlavorCopy(t *testing.T) {
	t.Parallel()
	testenv.EachFlavor(t, func(t *testing.T, db testenv.MySQLServer) {
		kafka := testenv.StartKafka(t, 1)
		db.Exec(t, "CREATE DATABASE c", "CREATE TABLE c.t (id INT PRIMARY KEY, v VARCHAR(10))", "INSERT INTO c.t VALUES (1, 'a'), (2, 'b'), (3, 'c')")
		h := newHarness(t, db, kafka)
		f := false
		h.spec(api.TaskSpec{Kafka: api.Kafka{Topic: "c"}, Filters: []api.Filter{{DBName: "c", Match: "t"}}, Incr: &f})
		h.start()
		h.waitStatus("copy done", func(s *api.Status) bool { return s.Snapshot != nil && s.Snapshot.Done && s.State == api.StateRunning })
		db.Exec(t, "INSERT INTO c.t VALUES (4, 'd')")
		kafka.WaitRecords(t, "c", 4, 60*time.Second)
		waitCaughtUp(t, h, db)
		var got []string
		for _, v := range values(t, kafka.Read(t, "c")) {
			got = append(got, fmt.Sprintf("%v:%v", v["type"], v["data"].(map[string]any)["id"]))
		}
		if strings.Join(got, ",") != "snapshot:1,snapshot:2,snapshot:3,insert:4" {
			t.Fatalf("messages %v", got)
		}
	})
}

// TestFlavorAlter alters the topic of a running task: later rows go to the new topic.
func TestFlavorAlter(t *testing.T) {
	t.Parallel()
	testenv.EachFlavor(t, func(t *testing.T, db testenv.MySQLServer) {
		kafka := testenv.StartKafka(t, 1)
		db.Exec(t, "CREATE DATABASE a", "CREATE TABLE a.t (id INT PRIMARY KEY)")
		h := newHarness(t, db, kafka)
		spec := api.TaskSpec{Kafka: api.Kafka{Topic: "before"}, Filters: []api.Filter{{DBName: "a", Match: "t"}}}
		h.spec(spec)
		h.start()
		h.running()
		db.Exec(t, "INSERT INTO a.t VALUES (1)")
		kafka.WaitRecords(t, "before", 1, 60*time.Second)
		old := waitCaughtUp(t, h, db).SpecVersion
		spec.Kafka.Topic = "after"
		h.spec(spec)
		h.waitStatus("the new version", func(s *api.Status) bool {
			return s.SpecVersion != old && s.State == api.StateRunning && s.Message == ""
		})
		db.Exec(t, "INSERT INTO a.t VALUES (2)")
		kafka.WaitRecords(t, "after", 2, 60*time.Second) // the alter's marker and the row
		recs := rows(t, kafka.Read(t, "after"))
		if id := fmt.Sprint(recs[0].JSON(t)["data"].(map[string]any)["id"]); id != "2" || len(recs) != 1 {
			t.Fatalf("after the alter: %d rows, first row %s", len(recs), id)
		}
		if n := len(rows(t, kafka.Read(t, "before"))); n != 1 {
			t.Fatalf("%d rows on the old topic", n)
		}
	})
}

// flavorTypes has a column of the type classes both flavors serve (Dolt refuses TIME(n), has no
// MariaDB-only types, and keeps JSON numbers as doubles: the JSON value holds none).
const flavorTypes = `CREATE TABLE shop.types (
	id BIGINT UNSIGNED NOT NULL PRIMARY KEY,
	ti TINYINT, tu TINYINT UNSIGNED, bi BIGINT, iu INT UNSIGNED,
	dec1 DECIMAL(20,6), d DOUBLE,
	dt DATETIME(3), dte DATE, yr YEAR,
	s VARCHAR(50), txt TEXT, vb VARBINARY(10), bl BLOB,
	j JSON, e ENUM('small','medium','large'),
	n INT NULL
)`

const flavorRow = `INSERT INTO shop.types VALUES (18446744073709551615, -128, 255, -9223372036854775808, 4294967295,
	'-12345678901234.123456', 2.5, '2021-04-09 12:03:20.123', '2021-04-09', 2021,
	'héllo "q"', 'long text', X'00FF', X'DEADBEEF', '{"a": "x", "b": null}', 'medium', NULL)`

var wantFlavorTypes = map[string]string{
	"id": `18446744073709551615`, "ti": `-128`, "tu": `255`, "bi": `-9223372036854775808`, "iu": `4294967295`,
	"dec1": `"-12345678901234.123456"`, "d": `2.5`, "dt": `"2021-04-09 12:03:20.123"`, "dte": `"2021-04-09"`, "yr": `2021`,
	"s": `"héllo \"q\""`, "txt": `"long text"`, "vb": `"AP8="`, "bl": `"3q2+7w=="`,
	"j": `{"a":"x","b":null}`, "e": `"medium"`, "n": `null`,
}

// TestFlavorTypes streams and copies one row of every common type class: the values are the
// same both ways and on both flavors (Dolt's table map has no signedness: unsigned columns are
// typed from the table's definition).
func TestFlavorTypes(t *testing.T) {
	t.Parallel()
	testenv.EachFlavor(t, func(t *testing.T, db testenv.MySQLServer) {
		kafka := testenv.StartKafka(t, 1)
		db.Exec(t, "CREATE DATABASE shop", flavorTypes)
		stream := newHarness(t, db, kafka)
		stream.spec(api.TaskSpec{Kafka: api.Kafka{Topic: "stream"}, Filters: []api.Filter{{DBName: "shop", Match: "types"}}})
		stream.start()
		stream.running()
		db.Exec(t, flavorRow)
		check := func(what string, rec testenv.Record) {
			var msg struct {
				Data map[string]json.RawMessage `json:"data"`
			}
			if err := json.Unmarshal(rec.Value, &msg); err != nil {
				t.Fatalf("%v: %s", err, rec.Value)
			}
			for col, want := range wantFlavorTypes {
				if got := testenv.CompactJSON(msg.Data[col]); got != want {
					t.Errorf("%s: %s = %s, want %s", what, col, got, want)
				}
			}
		}
		check("stream", kafka.WaitRecords(t, "stream", 1, 60*time.Second)[0])
		stream.stop()
		copy := newHarness(t, db, kafka)
		f := false
		copy.spec(api.TaskSpec{Kafka: api.Kafka{Topic: "copy"}, Filters: []api.Filter{{DBName: "shop", Match: "types"}}, Incr: &f})
		copy.start()
		check("copy", kafka.WaitRecords(t, "copy", 1, 60*time.Second)[0])
	})
}
