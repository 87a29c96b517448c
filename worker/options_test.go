package worker_test

import (
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/dtsrepl/dts/api"
	"github.com/dtsrepl/dts/internal/testenv"
)

// metric reads one metric of the harness's worker from /metrics.
func (h *harness) metric(name string) float64 {
	h.t.Helper()
	resp, err := http.Get("http://" + h.addr + "/metrics")
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(name) + ` (\S+)$`).FindSubmatch(b)
	if m == nil {
		h.t.Fatalf("metric %s not in /metrics", name)
	}
	v, _ := strconv.ParseFloat(string(m[1]), 64)
	return v
}

// metricLabel reads a series of a labelled metric (0 when it has none yet).
func (h *harness) metricLabel(name, label string) float64 {
	h.t.Helper()
	b := h.get("/metrics")
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(name) + `\{` + regexp.QuoteMeta(label) + `\} (\S+)$`).FindStringSubmatch(b)
	if m == nil {
		return 0
	}
	v, _ := strconv.ParseFloat(m[1], 64)
	return v
}

func intp(i int) *int { return &i }

// TestRouting covers topic_mode, partition_mode with its fallback, exclude_columns, flat_format,
// row filters, regex table matches and DDL events.
func TestRouting(t *testing.T) {
	t.Parallel()
	db := testenv.StartMariaDB(t)
	kafka := testenv.StartKafka(t, 8)
	db.Exec(t, "CREATE DATABASE app",
		"CREATE TABLE app.users_1 (id INT PRIMARY KEY, tenant INT, name VARCHAR(20), secret VARCHAR(20), status INT)",
		"CREATE TABLE app.users_2 (id INT PRIMARY KEY, tenant INT, name VARCHAR(20), secret VARCHAR(20), status INT)",
		"CREATE TABLE app.users_x (id INT PRIMARY KEY)",
		"CREATE TABLE app.events (id INT PRIMARY KEY, kind VARCHAR(10))",
		"CREATE TABLE app.nopk (v INT)",
	)
	h := newHarness(t, db, kafka)
	h.spec(api.TaskSpec{
		Kafka: api.Kafka{TopicMode: intp(api.TopicModeTable), PartitionMode: api.PartitionByColumn, PartitionColumns: api.StringList{"tenant"},
			ProducerPartitionByFallback: api.PartitionByPrimaryKey, ExcludeColumns: api.StringList{"SECRET"}},
		Filters: []api.Filter{
			{DBName: "app", Match: `/users_\d+/`, Filter: "status = 1 AND name LIKE 'a%'"},
			{DBName: "app", Match: "events"},
			{DBName: "app", Match: "nopk"},
		},
	})
	h.start()
	h.running()
	var stmts []string
	for i := 1; i <= 40; i++ {
		stmts = append(stmts, fmt.Sprintf("INSERT INTO app.users_%d VALUES (%d, %d, 'ann%d', 'pw', %d)", 1+i%2, i, i%4, i, i%3%2))
		stmts = append(stmts, fmt.Sprintf("INSERT INTO app.events VALUES (%d, 'k%d')", i, i))
	}
	stmts = append(stmts, "INSERT INTO app.users_x VALUES (1)", "INSERT INTO app.nopk VALUES (7)",
		"UPDATE app.users_1 SET status = 0 WHERE id = 2", // old image matches: kept
		"ALTER TABLE app.events ADD COLUMN extra INT")
	db.Exec(t, stmts...)

	// users rows are kept when status = 1, which is when i%3 == 1; the update of id 2 matches in
	// neither image (status 0 before and after) and is dropped.
	wantUsers := map[string]int{}
	total := 40 + 1 + 1 // events, the DDL, nopk
	for i := 1; i <= 40; i++ {
		if i%3%2 == 1 {
			wantUsers[fmt.Sprintf("app_users_%d", 1+i%2)]++
			total++
		}
	}
	// Once Kafka acknowledged every expected message, nothing else may be there.
	h.waitStatus("all messages acknowledged", func(s *api.Status) bool { return s.RowsSent >= uint64(total) })
	events := kafka.Read(t, "app_events")
	if len(events) != 41 {
		t.Errorf("app_events: %d records, want 40 inserts and the DDL", len(events))
	}
	for topic, n := range wantUsers {
		recs := kafka.Read(t, topic)
		if len(recs) != n {
			t.Errorf("%s: %d records, want %d (row filter)", topic, len(recs), n)
		}
		byTenant := map[string]int32{}
		for _, r := range recs {
			v := r.JSON(t)
			data := v["data"].(map[string]any)
			if _, ok := data["secret"]; ok {
				t.Errorf("%s: excluded column present: %s", topic, r.Value)
			}
			tenant := fmt.Sprint(data["tenant"])
			if p, ok := byTenant[tenant]; ok && p != r.Partition {
				t.Errorf("%s: tenant %s in partitions %d and %d", topic, tenant, p, r.Partition)
			}
			byTenant[tenant] = r.Partition
		}
	}
	if recs := kafka.Read(t, "app_users_x"); len(recs) != 0 {
		t.Errorf("app.users_x matched /users_\\d+/: %d records", len(recs))
	}
	// events has no tenant column: the fallback partitions by primary key, spreading rows.
	parts := map[int32]bool{}
	ddl := 0
	for _, r := range events {
		v := r.JSON(t)
		if v["type"] == "ddl" {
			ddl++
			if !strings.Contains(v["sql"].(string), "ADD COLUMN extra") {
				t.Errorf("ddl message %s", r.Value)
			}
			continue
		}
		parts[r.Partition] = true
	}
	if ddl != 1 || len(parts) < 3 {
		t.Errorf("events: %d ddl messages, rows in %d partitions", ddl, len(parts))
	}
	// A table without a primary key has no message key.
	nopk := kafka.Read(t, "app_nopk")
	if len(nopk) != 1 || nopk[0].Key != nil {
		t.Errorf("nopk key %q", nopk[0].Key)
	}
}

// TestFlatFormatAndDatabaseTopic covers flat_format with topic_mode 0.
func TestFlatFormatAndDatabaseTopic(t *testing.T) {
	t.Parallel()
	db := testenv.StartMariaDB(t)
	kafka := testenv.StartKafka(t, 2)
	db.Exec(t, "CREATE DATABASE inv", "CREATE TABLE inv.items (id INT PRIMARY KEY, qty INT)")
	h := newHarness(t, db, kafka)
	h.spec(api.TaskSpec{Kafka: api.Kafka{TopicMode: intp(api.TopicModeDatabase), FlatFormat: true}, Filters: []api.Filter{{DBName: "inv"}}})
	h.start()
	h.running()
	db.Exec(t, "INSERT INTO inv.items VALUES (1, 5)", "UPDATE inv.items SET qty = 6", "DELETE FROM inv.items")
	recs := kafka.WaitRecords(t, "inv", 3, 30*time.Second)
	var got []string
	for _, r := range recs {
		v := r.JSON(t)
		got = append(got, fmt.Sprintf("%v/%v/%v/%v", v["__op"], v["qty"], v["__deleted"], v["__table"]))
		if v["__ts_ms"] == nil || v["__db"] != "inv" {
			t.Errorf("flat message %s", r.Value)
		}
	}
	if strings.Join(got, " ") != "c/5/false/items u/6/false/items d/6/true/items" {
		t.Errorf("flat messages: %v", got)
	}
}

// TestAlterSpecLive changes the rate limit (applied live, no restart) and then the filters
// (the pipeline restarts from its checkpoint and routes later rows by the new spec).
func TestAlterSpecLive(t *testing.T) {
	t.Parallel()
	db := testenv.StartMariaDB(t)
	kafka := testenv.StartKafka(t, 1)
	db.Exec(t, "CREATE DATABASE a", "CREATE TABLE a.t (id INT PRIMARY KEY)", "CREATE TABLE a.u (id INT PRIMARY KEY)")
	h := newHarness(t, db, kafka)
	spec := api.TaskSpec{Kafka: api.Kafka{Topic: "one"}, Filters: []api.Filter{{DBName: "a", Match: "t"}}}
	h.spec(spec)
	h.start()
	st := h.running()
	if n := h.metric("dts_worker_pipeline_starts_total"); n != 1 {
		t.Fatalf("pipeline starts %v", n)
	}
	spec.RateLimit = &api.RateLimit{Rate: 1000, Capacity: 100}
	h.spec(spec)
	h.waitStatus("new spec version", func(s *api.Status) bool { return s.SpecVersion != st.SpecVersion })
	db.Exec(t, "INSERT INTO a.t VALUES (1)")
	kafka.WaitRecords(t, "one", 1, 30*time.Second)
	if n := h.metric("dts_worker_pipeline_starts_total"); n != 1 {
		t.Fatalf("a rate limit change restarted the pipeline: %v starts", n)
	}
	spec.Kafka.Topic = "two"
	spec.Filters = append(spec.Filters, api.Filter{DBName: "a", Match: "u"})
	h.spec(spec)
	deadline := time.Now().Add(30 * time.Second)
	for h.metric("dts_worker_pipeline_starts_total") != 2 {
		if time.Now().After(deadline) {
			t.Fatal("the pipeline did not restart after a filter change")
		}
		time.Sleep(50 * time.Millisecond)
	}
	db.Exec(t, "INSERT INTO a.t VALUES (2)", "INSERT INTO a.u VALUES (3)")
	// The alter also writes a marker to each topic (markers are counted apart).
	kafka.WaitRecords(t, "two", 3, 30*time.Second)
	recs := rows(t, kafka.Read(t, "two"))
	if one := kafka.Read(t, "one"); len(rows(t, one)) != 1 || len(one) != 2 || len(recs) != 2 {
		t.Fatalf("after alter: one has %d rows of %d messages, two has %d rows", len(rows(t, one)), len(one), len(recs))
	}
	var b strings.Builder
	for _, r := range recs {
		b.WriteString(string(r.Value))
	}
	if !strings.Contains(b.String(), `"table":"u"`) {
		t.Fatalf("new filter not applied: %s", b.String())
	}
}
