package worker_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/dtsrepl/dts/api"
	"github.com/dtsrepl/dts/internal/testenv"
	"github.com/dtsrepl/dts/worker"
)

// TestTableStatistics counts inserts, updates, deletes, DDL and filtered rows per table, in the
// status and in the metrics.
func TestTableStatistics(t *testing.T) {
	t.Parallel()
	db := testenv.StartMariaDB(t)
	kafka := testenv.StartKafka(t, 1)
	db.Exec(t, "CREATE DATABASE s", "CREATE TABLE s.a (id INT PRIMARY KEY, v INT)", "CREATE TABLE s.b (id INT PRIMARY KEY, v INT)")
	h := newHarness(t, db, kafka)
	h.spec(api.TaskSpec{Kafka: api.Kafka{Topic: "s"}, Filters: []api.Filter{{DBName: "s", Match: "a"}, {DBName: "s", Match: "b", Filter: "v > 0"}}})
	h.start()
	h.running()
	db.Exec(t, "INSERT INTO s.a VALUES (1, 1), (2, 2)", "UPDATE s.a SET v = 3 WHERE id = 1", "DELETE FROM s.a WHERE id = 2",
		"INSERT INTO s.b VALUES (1, 0), (2, 5)", "ALTER TABLE s.a ADD COLUMN w INT")
	st := h.waitStatus("counted", func(s *api.Status) bool { return len(s.Tables) == 2 && s.Tables[0].DDL == 1 })
	a, b := st.Tables[0], st.Tables[1]
	if a.Table != "a" || a.Inserts != 2 || a.Updates != 1 || a.Deletes != 1 || a.DDL != 1 || a.Bytes == 0 {
		t.Errorf("s.a: %+v", a)
	}
	if b.Table != "b" || b.Inserts != 1 || b.Filtered != 1 {
		t.Errorf("s.b: %+v", b)
	}
	if m := h.get("/metrics"); !strings.Contains(m, `dts_worker_table_changes_total{table="s.a",type="insert"} 2`) {
		t.Errorf("no per-table series in the metrics")
	}
}

// TestTableRateLimit limits one table beside the task (rate_limit.tables): its rows wait, the
// other table's do not on their own account, and an alter lifts it live.
func TestTableRateLimit(t *testing.T) {
	t.Parallel()
	db := testenv.StartMariaDB(t)
	kafka := testenv.StartKafka(t, 1)
	db.Exec(t, "CREATE DATABASE r", "CREATE TABLE r.slow (id INT PRIMARY KEY)", "CREATE TABLE r.fast (id INT PRIMARY KEY)")
	h := newHarness(t, db, kafka)
	spec := api.TaskSpec{Kafka: api.Kafka{Topic: "r"}, Filters: []api.Filter{{DBName: "r"}},
		RateLimit: &api.RateLimit{Tables: map[string]api.TableRateLimit{"r./sl.w/": {Rate: 20, Capacity: 1}}}}
	h.spec(spec)
	h.start()
	h.running()
	starts := h.metric("dts_worker_pipeline_starts_total")
	db.Exec(t, "INSERT INTO r.fast VALUES (1), (2), (3), (4), (5)")
	kafka.WaitRecords(t, "r", 5, 30*time.Second)
	if w := h.metricLabel("dts_worker_rate_limit_wait_seconds_total", `limit="table"`); w > 0 {
		t.Errorf("rows of an unlimited table waited %vs", w)
	}
	db.Exec(t, "INSERT INTO r.slow VALUES (1), (2), (3), (4), (5), (6), (7), (8), (9), (10)")
	kafka.WaitRecords(t, "r", 15, 30*time.Second)
	if w := h.metricLabel("dts_worker_rate_limit_wait_seconds_total", `limit="table"`); w <= 0 {
		t.Errorf("rows of the limited table did not wait")
	}
	if w := h.metricLabel("dts_worker_rate_limit_wait_seconds_total", `limit="task"`); w > 0 {
		t.Errorf("the task's own limit (none) made rows wait %vs", w)
	}
	spec.RateLimit = nil
	h.spec(spec)
	h.waitStatus("the alter applied", func(s *api.Status) bool { return s.SpecVersion != 0 })
	time.Sleep(3 * time.Second) // the task file is polled
	before := h.metricLabel("dts_worker_rate_limit_wait_seconds_total", `limit="table"`)
	db.Exec(t, "INSERT INTO r.slow VALUES (11), (12), (13), (14), (15), (16), (17), (18), (19), (20)")
	kafka.WaitRecords(t, "r", 25, 30*time.Second)
	if after := h.metricLabel("dts_worker_rate_limit_wait_seconds_total", `limit="table"`); after != before {
		t.Errorf("rows still waited after the limit was lifted (%v -> %v)", before, after)
	}
	if n := h.metric("dts_worker_pipeline_starts_total"); n != starts {
		t.Errorf("a rate limit change restarted the pipeline (%v -> %v)", starts, n)
	}
}

// TestRetentionHeadroom reports how long the source keeps the binlog at the checkpoint, and
// warns, state Running, when that is short under the task's retention_warn_share; an alter of
// the share applies live.
func TestRetentionHeadroom(t *testing.T) {
	t.Parallel()
	db := testenv.StartMariaDB(t, testenv.WithServerArgs("--binlog-expire-logs-seconds=3600"))
	kafka := testenv.StartKafka(t, 1)
	db.Exec(t, "CREATE DATABASE h", "CREATE TABLE h.t (id INT PRIMARY KEY)")
	h := newHarness(t, db, kafka)
	h.configure = func(c *worker.Config) {
		c.RetentionCheckInterval = 200 * time.Millisecond
	}
	spec := api.TaskSpec{Kafka: api.Kafka{Topic: "h"}, Filters: []api.Filter{{DBName: "h", Match: "t"}},
		RetentionWarnShare: 0.9999} // any age is short
	h.spec(spec)
	h.start()
	h.running()
	db.Exec(t, "INSERT INTO h.t VALUES (1)")
	st := h.waitStatus("a headroom", func(s *api.Status) bool {
		return s.RetentionHeadroomSeconds != nil && strings.Contains(s.Message, "purges its binlog")
	})
	if hr := *st.RetentionHeadroomSeconds; hr <= 3000 || hr > 3600 {
		t.Errorf("headroom %v with a 3600s retention and a fresh checkpoint", hr)
	}
	if st.BinlogRetentionSeconds == nil || *st.BinlogRetentionSeconds != 3600 {
		t.Errorf("binlog_retention_seconds %v, want 3600", st.BinlogRetentionSeconds)
	}
	if st.State != api.StateRunning {
		t.Errorf("state %s with a short headroom: a warning, not a failure", st.State)
	}
	if h.metric("dts_worker_retention_headroom_seconds") <= 0 {
		t.Errorf("no headroom metric")
	}

	starts := h.metric("dts_worker_pipeline_starts_total")
	spec.RetentionWarnShare = 0.01
	h.spec(spec)
	h.waitStatus("the warning gone", func(s *api.Status) bool {
		return s.RetentionHeadroomSeconds != nil && !strings.Contains(s.Message, "purges its binlog")
	})
	if n := h.metric("dts_worker_pipeline_starts_total"); n != starts {
		t.Errorf("a retention_warn_share change restarted the pipeline (%v -> %v)", starts, n)
	}
}

// TestAlterMarkers alters a task's routing: a marker record with both versions and the boundary
// position goes to every partition of the old topics and the new one, and the status says where
// the new version took effect.
func TestAlterMarkers(t *testing.T) {
	t.Parallel()
	db := testenv.StartMariaDB(t)
	kafka := testenv.StartKafka(t, 2)
	db.Exec(t, "CREATE DATABASE m", "CREATE TABLE m.a (id INT PRIMARY KEY)", "CREATE TABLE m.b (id INT PRIMARY KEY)")
	h := newHarness(t, db, kafka)
	one := 1
	spec := api.TaskSpec{Kafka: api.Kafka{TopicMode: &one}, Filters: []api.Filter{{DBName: "m"}}}
	h.spec(spec)
	h.start()
	h.running()
	db.Exec(t, "INSERT INTO m.a VALUES (1)", "INSERT INTO m.b VALUES (1)")
	kafka.WaitRecords(t, "m_a", 1, 30*time.Second)
	kafka.WaitRecords(t, "m_b", 1, 30*time.Second)
	first := waitCaughtUp(t, h, db)
	zero := 0
	spec.Kafka.TopicMode = &zero
	h.spec(spec)
	st := h.waitStatus("the new version applied", func(s *api.Status) bool {
		return s.AppliedVersion != 0 && s.AppliedVersion != first.AppliedVersion && s.State == api.StateRunning
	})
	if st.AppliedPos != first.Pos {
		t.Errorf("applied at %s, the boundary was %s", st.AppliedPos, first.Pos)
	}
	for _, topic := range []string{"m_a", "m_b", "m"} {
		parts := map[int32]bool{}
		for _, r := range kafka.WaitRecords(t, topic, 1, 30*time.Second) {
			v := r.JSON(t)
			if v["type"] == "alter" {
				parts[r.Partition] = true
				if jsonString(v["pos"]) != jsonString(first.Pos) || jsonString(v["previous_version"]) != jsonString(first.AppliedVersion) {
					t.Errorf("%s marker %s", topic, r.Value)
				}
				// Keyed: a compacted topic refuses records without a key.
				if want := fmt.Sprintf(`{"type":"alter","version":%s}`, jsonString(v["version"])); string(r.Key) != want {
					t.Errorf("%s marker key %q, want %s", topic, r.Key, want)
				}
			}
		}
		if len(parts) != 2 {
			t.Errorf("topic %s: markers on partitions %v, want both", topic, parts)
		}
	}
	db.Exec(t, "INSERT INTO m.a VALUES (2)")
	recs := kafka.WaitRecords(t, "m", 3, 30*time.Second) // two markers, then the row
	if v := recs[len(recs)-1].JSON(t); v["type"] == "alter" {
		for _, r := range recs {
			if r.JSON(t)["type"] != "alter" {
				return
			}
		}
		t.Fatalf("no row after the markers")
	}
}
