package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/dtsrepl/dts/api"
	"github.com/dtsrepl/dts/internal/devstack"
	"github.com/dtsrepl/dts/internal/testenv"
	"github.com/dtsrepl/dts/jobs/local"
	"github.com/dtsrepl/dts/store/bolt"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// reported is what the fake worker of taskServer reports for every task: two tables counted,
// the rest summed under "*", and a source that keeps its binlog for a day.
func reported(now time.Time) *api.Status {
	day := float64(24 * 3600)
	return &api.Status{
		State: api.StateRunning, Pos: "MariaDB/0-1-42", TransactionTime: now.Add(-90 * time.Minute), UpdatedAt: now,
		RowsSent: 1234, BinlogRetentionSeconds: &day,
		Tables: []api.TableStats{
			{DB: "shop", Table: "orders", Inserts: 1000, Updates: 200, Deletes: 3, DDL: 1, Copied: 5000, Filtered: 7, Bytes: 456789},
			{DB: "shop", Table: "order.items", Inserts: 20, Bytes: 2048},
			{Table: "*", Inserts: 5, Updates: 6, Deletes: 7, DDL: 8, Copied: 9, Filtered: 10, Bytes: 11},
		},
	}
}

// taskServer runs a dispatcher on the embedded store and the local launcher, whose workers
// report reported's status through the store as a worker does, and returns its address.
func taskServer(t *testing.T) string {
	t.Helper()
	worker := func(db *bolt.DB) local.RunFunc {
		return func(ctx context.Context, task *api.Task, _ api.Credentials, _ net.Listener) error {
			rec := db.TaskRecord(task.ID, "test worker")
			if _, err := rec.Lock(ctx); err != nil {
				return err
			}
			defer rec.Unlock(context.Background())
			st := reported(time.Now())
			st.SpecVersion = task.Version
			if err := rec.SaveStatus(ctx, st); err != nil {
				return err
			}
			<-ctx.Done()
			return nil
		}
	}
	return devstack.Start(t, devstack.Config{AuthUser: "op", AuthPassword: "pw", Worker: worker}).URL
}

// dtsTask runs `dts task args...` against addr and returns what it printed.
func dtsTask(t *testing.T, addr string, args ...string) string {
	t.Helper()
	var out bytes.Buffer
	args = append(args, "--addr", addr, "--auth-user", "op", "--auth-password", "pw")
	if err := taskCommand(t.Context(), args, &out); err != nil {
		t.Fatalf("dts task %s: %v\n%s", strings.Join(args, " "), err, out.String())
	}
	return out.String()
}

// TestTaskGetAndList: dts task list shows each task's retention headroom, and dts task get the
// headroom and a table of the per-table statistics; --json prints the dispatcher's answer as it
// is.
func TestTaskGetAndList(t *testing.T) {
	addr := taskServer(t)
	c, err := api.NewClient(&api.ClientConfig{Address: addr, User: "op", Password: "pw"})
	if err != nil {
		t.Fatal(err)
	}
	sub, err := c.Submit(t.Context(), &api.TaskSpec{
		Source:  &api.Source{Host: "127.0.0.1", Port: 3306, Username: "repl", Password: "secret"},
		Kafka:   api.Kafka{Addr: "127.0.0.1:9092", Topic: "shop"},
		Filters: []api.Filter{{DBName: "shop"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	id := "1"
	if sub.ID != 1 {
		t.Fatalf("submitted task %d, want 1", sub.ID)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		d, err := c.Get(t.Context(), 1)
		if err != nil {
			t.Fatal(err)
		}
		if d.Status != nil && len(d.Status.Tables) > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the worker never reported: %+v", d)
		}
		time.Sleep(20 * time.Millisecond)
	}

	// A day's retention, a checkpoint 90 minutes old: 22h30m left, give or take the test's time.
	headroom := regexp.MustCompile(`\b22h(29|30)m\b`)
	list := dtsTask(t, addr, "list")
	t.Logf("dts task list:\n%s", list)
	lines := strings.Split(strings.TrimSpace(list), "\n")
	if len(lines) != 3 || !strings.Contains(lines[0], " HEADROOM ") || !headroom.MatchString(lines[1]) {
		t.Errorf("dts task list, want a HEADROOM column with 22h30m:\n%s", list)
	}
	if col, row := strings.Index(lines[0], "HEADROOM"), headroom.FindStringIndex(lines[1]); row == nil || row[0] != col {
		t.Errorf("headroom not under its heading:\n%s", list)
	}

	get := dtsTask(t, addr, "get", id)
	t.Logf("dts task get:\n%s", get)
	if !regexp.MustCompile(`(?m)^retention headroom +22h(29|30)m before the source may purge`).MatchString(get) {
		t.Errorf("dts task get, want the retention headroom:\n%s", get)
	}
	want := []string{
		`(?m)^tables:$`,
		`(?m)^  TABLE +INSERTS +UPDATES +DELETES +DDL +COPIED +FILTERED +BYTES$`,
		`(?m)^  shop\.orders +1000 +200 +3 +1 +5000 +7 +456789$`,
		`(?m)^  shop\.order\.items +20 +0 +0 +0 +0 +0 +2048$`,
		`(?m)^  \* \(other tables\) +5 +6 +7 +8 +9 +10 +11$`,
	}
	for _, w := range want {
		if !regexp.MustCompile(w).MatchString(get) {
			t.Errorf("dts task get, want %s:\n%s", w, get)
		}
	}
	if i, j := strings.Index(get, "tables:"), strings.Index(get, "spec:"); i < 0 || j < i {
		t.Errorf("the table statistics should come before the spec:\n%s", get)
	}

	// --json: the answer itself, whatever the client knows of it.
	raw := dtsTask(t, addr, "get", id, "--json")
	var d map[string]any
	if err := json.Unmarshal([]byte(raw), &d); err != nil {
		t.Fatalf("dts task get --json: %v\n%s", err, raw)
	}
	st, _ := d["status"].(map[string]any)
	tables, _ := st["tables"].([]any)
	if len(tables) != 3 || d["retention_headroom_seconds"] == nil || st["binlog_retention_seconds"] != float64(86400) {
		t.Errorf("dts task get --json lacks what the dispatcher answered:\n%s", raw)
	}
	if strings.Contains(raw, "tables:") || strings.Contains(raw, "secret") {
		t.Errorf("dts task get --json printed more than the answer:\n%s", raw)
	}
}

// TestHeadroomFormat: the headroom column keeps the two units that matter.
func TestHeadroomFormat(t *testing.T) {
	f := func(v float64) *float64 { return &v }
	tests := []struct {
		secs *float64
		want string
	}{
		{nil, "-"},
		{f(0), "0s"},
		{f(59), "59s"},
		{f(60), "1m"},
		{f(3599), "59m"},
		{f(3600), "1h00m"},
		{f(22*3600 + 30*60 + 12), "22h30m"},
		{f(47*3600 + 59*60), "47h59m"},
		{f(48 * 3600), "2d00h"},
		{f(7*86400 - 3600), "6d23h"},
		{f(-90), "-1m"},
		{f(-5 * 3600), "-5h00m"},
	}
	for _, tc := range tests {
		if got := headroom(tc.secs); got != tc.want {
			t.Errorf("headroom(%v) = %q, want %q", deref(tc.secs), got, tc.want)
		}
	}
}

func deref(p *float64) any {
	if p == nil {
		return nil
	}
	return *p
}
