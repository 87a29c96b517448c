package dispatcher

import (
	"strings"
	"testing"
	"time"

	"github.com/dtsrepl/dts/api"
	"github.com/dtsrepl/dts/store"
)

func timeNow() time.Time { return time.Now() }

func TestSummarize(t *testing.T) {
	t.Parallel()
	now := time.Now()
	created := now.Add(-time.Hour)
	txTime := time.Date(2021, 4, 9, 12, 3, 20, 0, time.UTC)
	task := func(desired api.Desired, version int64) *api.Task {
		return &api.Task{
			ID: 7, Version: version, Desired: desired, CreatedAt: created, UpdatedAt: created,
			Spec: api.TaskSpec{
				Source: &api.Source{Host: "127.0.0.1", Port: 5306},
				Kafka:  api.Kafka{Addr: "127.0.0.1:9092", Topic: "t"},
			},
		}
	}
	running := func(age time.Duration) *api.Status {
		return &api.Status{
			State: api.StateRunning, Pos: "MariaDB/0-1-42", TransactionTime: txTime,
			ServiceAddr: "127.0.0.1:30001", UpdatedAt: now.Add(-age), SpecVersion: 1,
		}
	}
	withState := func(st *api.Status, s api.State, msg string) *api.Status {
		st.State, st.Message = s, msg
		return st
	}
	job := func(status api.JobStatus, msg string) *api.JobInfo {
		return &api.JobInfo{ID: "dts-task-7", Status: status, Addr: "127.0.0.1:30002", Message: msg}
	}
	stale := staleAfter + time.Minute

	cases := []struct {
		name    string
		task    *api.Task
		status  *api.Status
		job     *api.JobInfo
		state   api.State
		message string // substring; "" means the message must be empty
		addr    string
	}{
		{"running", task(api.DesiredRunning, 1), running(time.Second), job("running", ""), api.StateRunning, "", "127.0.0.1:30001"},
		{"no status yet, job running", task(api.DesiredRunning, 1), nil, job("running", ""), api.StatePending, "waiting for the worker to start", "127.0.0.1:30002"},
		{"no status, no job", task(api.DesiredRunning, 1), nil, nil, api.StatePending, "no worker is scheduled", ""},
		{"no status, job pending", task(api.DesiredRunning, 1), nil, job("pending", "placement failed: resources exhausted on 1 node"), api.StatePending, "worker not running: placement failed: resources exhausted", "127.0.0.1:30002"},
		{"no status, job pending without a reason", task(api.DesiredRunning, 1), nil, job("pending", ""), api.StatePending, "worker not running: job pending", "127.0.0.1:30002"},
		{"job dead after a running report", task(api.DesiredRunning, 1), running(stale), job("dead", "exited with code 1"), api.StatePending, "worker not running: exited with code 1", "127.0.0.1:30001"},
		{"fresh report beats a lagging scheduler", task(api.DesiredRunning, 1), running(time.Second), job("pending", "restarting"), api.StateRunning, "", "127.0.0.1:30001"},
		{"stale report, process running", task(api.DesiredRunning, 1), running(stale), job("running", ""), api.StateRunning, "no report from the worker since", "127.0.0.1:30001"},
		{"stale report, no job", task(api.DesiredRunning, 1), running(stale), nil, api.StatePending, "no worker is scheduled", "127.0.0.1:30001"},
		{"fresh report, no job", task(api.DesiredRunning, 1), running(time.Second), nil, api.StateRunning, "", "127.0.0.1:30001"},
		{"altered, not applied yet", task(api.DesiredRunning, 3), running(time.Second), job("running", ""), api.StateRunning, "applying the altered spec (version 3)", "127.0.0.1:30001"},
		{"worker failed", task(api.DesiredRunning, 1), withState(running(time.Second), api.StateFailed, "binlog purged"), job("running", ""), api.StateFailed, "binlog purged", "127.0.0.1:30001"},
		{"worker failed, job restarting", task(api.DesiredRunning, 1), withState(running(time.Second), api.StateFailed, "binlog purged"), job("pending", "restarting"), api.StateFailed, "binlog purged", "127.0.0.1:30001"},
		{"worker failed, scheduler view missing", task(api.DesiredRunning, 1), withState(running(time.Second), api.StateFailed, "binlog purged"), nil, api.StateFailed, "binlog purged", "127.0.0.1:30001"},
		{"snapshotting", task(api.DesiredRunning, 1), withState(running(time.Second), api.StateSnapshotting, ""), job("running", ""), api.StateSnapshotting, "", "127.0.0.1:30001"},
		{"stopped", task(api.DesiredStopped, 1), withState(running(time.Second), api.StateStopped, ""), job("stopped", ""), api.StateStopped, "", "127.0.0.1:30001"},
		{"stopping", task(api.DesiredStopped, 1), running(time.Second), job("running", ""), api.StateStopped, "stopping: the worker is flushing", "127.0.0.1:30001"},
		{"stopped, no job", task(api.DesiredStopped, 1), nil, nil, api.StateStopped, "waiting for the worker to start", ""},
		{"stopped after a failure", task(api.DesiredStopped, 1), withState(running(time.Second), api.StateFailed, "bad password"), job("stopped", ""), api.StateFailed, "bad password", "127.0.0.1:30001"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := summarize(store.Record{Task: tc.task, Status: tc.status}, tc.job, time.UTC)
			if s.State != tc.state {
				t.Errorf("state %s, want %s (%+v)", s.State, tc.state, s)
			}
			if tc.message == "" && s.Message != "" || !strings.Contains(s.Message, tc.message) {
				t.Errorf("message %q, want %q", s.Message, tc.message)
			}
			if s.ServiceAddr != tc.addr {
				t.Errorf("service_addr %q, want %q", s.ServiceAddr, tc.addr)
			}
			if s.ID != 7 || s.SourceAddr != "127.0.0.1:5306" || s.DestAddr != "127.0.0.1:9092" || s.Desired != tc.task.Desired {
				t.Errorf("summary %+v", s)
			}
			if tc.status != nil {
				if s.Pos != "MariaDB/0-1-42" || s.TransactionTime != "2021-04-09 12:03:20" {
					t.Errorf("pos %q transaction_time %q", s.Pos, s.TransactionTime)
				}
				if want := tc.status.UpdatedAt.UTC().Format(api.TimeLayout); s.UpdatedAt != want {
					t.Errorf("updated_at %q, want the report's %q", s.UpdatedAt, want)
				}
			} else if s.Pos != "" || s.TransactionTime != "" || s.UpdatedAt != created.UTC().Format(api.TimeLayout) {
				t.Errorf("without a report: pos %q transaction_time %q updated_at %q", s.Pos, s.TransactionTime, s.UpdatedAt)
			}
		})
	}
}

// TestSummarizeZone: times are written in the configured zone.
func TestSummarizeZone(t *testing.T) {
	t.Parallel()
	shanghai := time.FixedZone("CST", 8*3600)
	tx := time.Date(2021, 4, 9, 4, 3, 20, 0, time.UTC)
	s := summarize(store.Record{
		Task:   &api.Task{ID: 1, Version: 1, Desired: api.DesiredRunning, Spec: api.TaskSpec{Kafka: api.Kafka{Addr: "k:1"}}},
		Status: &api.Status{State: api.StateRunning, TransactionTime: tx, UpdatedAt: tx},
	}, &api.JobInfo{Status: api.JobRunning}, shanghai)
	if s.TransactionTime != "2021-04-09 12:03:20" || s.UpdatedAt != "2021-04-09 12:03:20" {
		t.Errorf("times %q %q, want them in +08:00", s.TransactionTime, s.UpdatedAt)
	}
	if _, err := time.Parse(api.TimeLayout, s.TransactionTime); err != nil {
		t.Error(err)
	}
	if s.SourceAddr != "" {
		t.Errorf("source_addr %q of a task without a source", s.SourceAddr)
	}
}

// TestSummarizeHeadroom: the list tells the retention headroom from the status, so that it keeps
// counting down while the worker is stopped; a status without the retention shows the headroom
// the worker reported, and one without either shows none.
func TestSummarizeHeadroom(t *testing.T) {
	t.Parallel()
	f := func(v float64) *float64 { return &v }
	task := &api.Task{ID: 3, Version: 1, Desired: api.DesiredStopped, Spec: api.TaskSpec{Kafka: api.Kafka{Addr: "k:1"}}}
	stopped := time.Now().Add(-2 * time.Hour)
	st := &api.Status{State: api.StateStopped, TransactionTime: stopped.Add(-time.Minute), UpdatedAt: stopped,
		BinlogRetentionSeconds: f(86400), RetentionHeadroomSeconds: f(86340)}
	s := summarize(store.Record{Task: task, Status: st}, &api.JobInfo{Status: api.JobStopped}, time.UTC)
	if h := s.RetentionHeadroomSeconds; h == nil || *h > 86400-7260 || *h < 86400-7270 {
		t.Errorf("headroom %v two hours after the stop, want about %d", h, 86400-7260)
	}

	st.BinlogRetentionSeconds = nil
	s = summarize(store.Record{Task: task, Status: st}, &api.JobInfo{Status: api.JobStopped}, time.UTC)
	if h := s.RetentionHeadroomSeconds; h == nil || *h != 86340 {
		t.Errorf("headroom %v of a status without the retention, want the reported 86340", h)
	}

	st.RetentionHeadroomSeconds = nil
	s = summarize(store.Record{Task: task, Status: st}, &api.JobInfo{Status: api.JobStopped}, time.UTC)
	if s.RetentionHeadroomSeconds != nil {
		t.Errorf("headroom %v of a source that purges by no age", *s.RetentionHeadroomSeconds)
	}
}
