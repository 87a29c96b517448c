package worker_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/dtsrepl/dts/api"
	"github.com/dtsrepl/dts/internal/testenv"
)

// TestAlterInBacklog stops the worker, changes a table's columns several times between writes
// (add in the middle, drop, reorder, rename), and starts it again: every row of the backlog
// carries the columns it had when it was written.
func TestAlterInBacklog(t *testing.T) {
	t.Parallel()
	db := testenv.StartMariaDB(t)
	kafka := testenv.StartKafka(t, 1)
	db.Exec(t, "CREATE DATABASE s", "CREATE TABLE s.t (id INT PRIMARY KEY, a VARCHAR(5), b INT)")
	h := newHarness(t, db, kafka)
	h.spec(api.TaskSpec{Kafka: api.Kafka{Topic: "t"}, Filters: []api.Filter{{DBName: "s", Match: "t"}}})
	h.start()
	h.running()
	h.stop()
	db.Exec(t,
		"INSERT INTO s.t VALUES (1, 'x', 10)",
		"ALTER TABLE s.t ADD COLUMN c INT AFTER id",
		"INSERT INTO s.t VALUES (2, 20, 'y', 11)",
		"ALTER TABLE s.t DROP COLUMN a",
		"INSERT INTO s.t VALUES (3, 30, 12)",
		"ALTER TABLE s.t MODIFY COLUMN b INT FIRST",
		"INSERT INTO s.t (id, c, b) VALUES (4, 40, 13)",
		"ALTER TABLE s.t RENAME COLUMN c TO d",
		"INSERT INTO s.t (id, d, b) VALUES (5, 50, 14)",
		"UPDATE s.t SET b = 15 WHERE id = 1",
	)
	h.start()
	recs := kafka.WaitRecords(t, "t", 10, 30*time.Second) // 6 rows and 4 DDL
	want := []string{
		`{"a":"x","b":10,"id":1}`,
		`ddl`,
		`{"a":"y","b":11,"c":20,"id":2}`,
		`ddl`,
		`{"b":12,"c":30,"id":3}`,
		`ddl`,
		`{"b":13,"c":40,"id":4}`,
		`ddl`,
		`{"b":14,"d":50,"id":5}`,
		`{"b":15,"d":null,"id":1}`,
	}
	var got []string
	for _, r := range recs {
		var m struct {
			Type string          `json:"type"`
			Data json.RawMessage `json:"data"`
			SQL  string          `json:"sql"`
		}
		if err := json.Unmarshal(r.Value, &m); err != nil {
			t.Fatal(err)
		}
		if m.Type == "ddl" {
			got = append(got, "ddl")
			continue
		}
		got = append(got, testenv.CompactJSON(m.Data))
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("messages:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestMinimalRowMetadata runs against a server that logs no column names: names come from the
// table's definition, and a schema change in the backlog stops the task with a message instead
// of shifting columns.
func TestMinimalRowMetadata(t *testing.T) {
	t.Parallel()
	db := testenv.StartMariaDB(t, testenv.WithServerArgs("--binlog-row-metadata=MINIMAL"))
	kafka := testenv.StartKafka(t, 1)
	db.Exec(t, "CREATE DATABASE m", "CREATE TABLE m.t (id INT UNSIGNED PRIMARY KEY, e ENUM('p','q'), s VARCHAR(5))")
	h := newHarness(t, db, kafka)
	h.spec(api.TaskSpec{Kafka: api.Kafka{Topic: "m"}, Filters: []api.Filter{{DBName: "m", Match: "t"}}})
	h.start()
	h.running()
	db.Exec(t, "INSERT INTO m.t VALUES (4294967295, 'q', 'ok')")
	recs := kafka.WaitRecords(t, "m", 1, 30*time.Second)
	var m struct {
		Data json.RawMessage `json:"data"`
	}
	_ = json.Unmarshal(recs[0].Value, &m)
	if got := testenv.CompactJSON(m.Data); got != `{"e":"q","id":4294967295,"s":"ok"}` {
		t.Fatalf("row from schema-tracked names: %s", got)
	}
	h.stop()
	db.Exec(t, "INSERT INTO m.t VALUES (1, 'p', 'a')", "ALTER TABLE m.t ADD COLUMN x INT FIRST", "INSERT INTO m.t VALUES (9, 2, 'q', 'b')")
	h.start()
	st := h.waitStatus("Failed", func(s *api.Status) bool { return s.State == api.StateFailed })
	if !strings.Contains(st.Message, "binlog_row_metadata") {
		t.Fatalf("message: %s", st.Message)
	}
	if n := len(kafka.Read(t, "m")); n != 1 {
		t.Fatalf("%d messages: rows of a changed table were sent with guessed columns", n)
	}
}
