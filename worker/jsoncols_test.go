package worker_test

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/dtsrepl/dts/api"
	"github.com/dtsrepl/dts/internal/testenv"
)

// JSON typing across a backlog that changes a column to JSON and back: c goes LONGTEXT -> JSON ->
// LONGTEXT, d the other way.
var (
	jsonBacklog1 = []string{
		`INSERT INTO j.t VALUES (1, '123', '{"x":"1"}')`,
		`INSERT INTO j.t VALUES (2, '{"a":"1"}', '["1"]')`,
		`INSERT INTO j.t VALUES (3, 'plain', 'true')`,
		`DELETE FROM j.t WHERE id = 3`,
		`ALTER TABLE j.t MODIFY c JSON, MODIFY d LONGTEXT`,
		`INSERT INTO j.t VALUES (4, '{"b":"2"}', 'not json')`,
		`INSERT INTO j.t VALUES (5, '["1","2"]', '{"looks":"json"}')`,
	}
	jsonBacklog2 = []string{
		`UPDATE j.t SET c = '"s"', d = 'still text' WHERE id = 4`,
		`DELETE FROM j.t WHERE id = 4`,
		`ALTER TABLE j.t MODIFY c LONGTEXT, MODIFY d JSON`,
		`INSERT INTO j.t VALUES (6, 'not json', '{"y":"2"}')`,
		`INSERT INTO j.t VALUES (7, '{"c":"3"}', 'false')`,
	}
	// jsonBacklogWant is each message of the backlog: its type, data and old (compacted).
	jsonBacklogWant = []string{
		`insert {"c":"123","d":{"x":"1"},"id":1}`,
		`insert {"c":"{\"a\":\"1\"}","d":["1"],"id":2}`,
		`insert {"c":"plain","d":true,"id":3}`,
		`delete {"c":"plain","d":true,"id":3}`,
		`ddl`,
		`insert {"c":{"b":"2"},"d":"not json","id":4}`,
		`insert {"c":["1","2"],"d":"{\"looks\":\"json\"}","id":5}`,
		`update {"c":"s","d":"still text","id":4} {"c":{"b":"2"},"d":"not json"}`,
		`delete {"c":"s","d":"still text","id":4}`,
		`ddl`,
		`insert {"c":"not json","d":{"y":"2"},"id":6}`,
		`insert {"c":"{\"c\":\"3\"}","d":false,"id":7}`,
	}
)

// backlogMessages renders a topic's messages as jsonBacklogWant lists them; every value must be
// valid JSON.
func backlogMessages(t *testing.T, recs []testenv.Record) []string {
	t.Helper()
	var got []string
	for _, r := range recs {
		if !json.Valid(r.Value) {
			t.Errorf("message at offset %d is not valid JSON: %s", r.Offset, r.Value)
			continue
		}
		var m struct {
			Type string          `json:"type"`
			Data json.RawMessage `json:"data"`
			Old  json.RawMessage `json:"old"`
		}
		if err := json.Unmarshal(r.Value, &m); err != nil {
			t.Fatal(err)
		}
		s := m.Type
		if m.Type != "ddl" {
			s += " " + testenv.CompactJSON(m.Data)
		}
		if len(m.Old) > 0 && string(m.Old) != "null" {
			s += " " + testenv.CompactJSON(m.Old)
		}
		got = append(got, s)
	}
	return got
}

func checkBacklog(t *testing.T, what string, got []string) {
	t.Helper()
	if strings.Join(got, "\n") != strings.Join(jsonBacklogWant, "\n") {
		t.Errorf("%s: messages\n%s\nwant\n%s", what, strings.Join(got, "\n"), strings.Join(jsonBacklogWant, "\n"))
	}
}

// TestJSONTypeHistory reads a backlog in which columns change to JSON and back: every row is
// typed by its table's definition at the row's own position (text as a JSON string, JSON
// embedded), not by today's. A worker stopped in the middle of the backlog, after the first
// change, resumes with the definition it had reached, not today's, from its status or, with
// exactly-once delivery, from the checkpoint it committed to Kafka.
//
// MariaDB only: its JSON is LONGTEXT with a json_valid check, which the binlog's table map does
// not show. MySQL's table map logs JSON as JSON, so its rows carry their own type; Dolt, which
// stands in for MySQL, cannot serve this backlog faithfully (it logs a MODIFY's table rewrite as
// row updates, and the table maps of rows read after the change follow the new definition).
func TestJSONTypeHistory(t *testing.T) {
	t.Parallel()
	db := testenv.StartMariaDB(t)
	kafka := testenv.StartKafka(t, 1)
	db.Exec(t, "CREATE DATABASE j", "CREATE TABLE j.t (id INT PRIMARY KEY, c LONGTEXT, d JSON)")
	type task struct {
		topic   string
		exactly bool
		h       *harness
	}
	read := func(tk task) []testenv.Record {
		if tk.exactly {
			return kafka.ReadCommitted(t, tk.topic)
		}
		return kafka.Read(t, tk.topic)
	}
	// Each task records a position before the backlog (one after the other: they share a
	// server id).
	straight, resumed, exactly := task{topic: "straight"}, task{topic: "resumed"}, task{topic: "exactly", exactly: true}
	for _, tk := range []*task{&straight, &resumed, &exactly} {
		tk.h = newHarness(t, db, kafka)
		spec := api.TaskSpec{Kafka: api.Kafka{Topic: tk.topic}, Filters: []api.Filter{{DBName: "j", Match: "t"}}}
		if tk.exactly {
			spec.Kafka.Delivery = api.ExactlyOnce
		}
		tk.h.spec(spec)
		tk.h.start()
		tk.h.running()
		tk.h.stop()
	}

	db.Exec(t, jsonBacklog1...)
	// resumed and exactly read up to the end of the first change's rows and stop there.
	first := len(jsonBacklog1) // a message per statement
	for _, tk := range []task{resumed, exactly} {
		tk.h.start()
		if tk.exactly {
			kafka.WaitCommitted(t, tk.topic, first, 60*time.Second)
		} else {
			kafka.WaitRecords(t, tk.topic, first, 60*time.Second)
		}
		waitCaughtUp(t, tk.h, db)
		tk.h.stop()
		if got := backlogMessages(t, read(tk)); strings.Join(got, "\n") != strings.Join(jsonBacklogWant[:first], "\n") {
			t.Errorf("%s before the stop: messages\n%s\nwant\n%s", tk.topic, strings.Join(got, "\n"), strings.Join(jsonBacklogWant[:first], "\n"))
		}
	}

	// The rest of the backlog changes the columns back: today's definition is the first one
	// again, the opposite of where resumed and exactly stopped.
	db.Exec(t, jsonBacklog2...)
	for _, tk := range []task{straight, resumed, exactly} {
		tk.h.start()
		if tk.exactly {
			kafka.WaitCommitted(t, tk.topic, len(jsonBacklogWant), 60*time.Second)
		} else {
			kafka.WaitRecords(t, tk.topic, len(jsonBacklogWant), 60*time.Second)
		}
		waitCaughtUp(t, tk.h, db)
		tk.h.stop()
		checkBacklog(t, tk.topic, backlogMessages(t, read(tk)))
	}
	if st := resumed.h.status(); st.JSONColumns == nil || len(st.JSONColumns.Tables) != 1 || !slices.Equal(st.JSONColumns.Tables[0].Columns, []string{"d"}) {
		t.Errorf("saved JSON columns %+v, want d of j.t", st.JSONColumns)
	}
}
