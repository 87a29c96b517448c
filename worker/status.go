package worker

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"sync"
	"time"

	"github.com/dtsrepl/dts/api"
)

// report is the worker's status as operators see it: where the task is in its life (the state
// transitions below are the only writers of the state), the last checkpoint Kafka made durable,
// and how the worker is doing. The pipeline, the retry loop and the HTTP handlers share it; the
// fenced status write saves a view of it.
type report struct {
	mu sync.Mutex
	// st holds the state, the message and the checkpoint in the form they are saved.
	st api.Status
	// caughtUp is true while the checkpoint is at the source's end: the lag is then 0 rather
	// than the age of the last transaction.
	caughtUp bool
}

func newReport(serviceAddr, worker string) *report {
	return &report{st: api.Status{State: api.StatePending, Message: "waiting for the task lock", ServiceAddr: serviceAddr, Worker: worker}}
}

func (r *report) update(f func(st *api.Status)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	f(&r.st)
}

// resume takes the checkpoint and counters from the saved status before an attempt.
func (r *report) resume(prev *api.Status, specVersion int64) {
	r.update(func(st *api.Status) {
		st.SpecVersion = specVersion
		if prev != nil {
			st.Pos, st.TransactionTime, st.RowsSent, st.Snapshot = prev.Pos, prev.TransactionTime, prev.RowsSent, prev.Snapshot
			st.Tables, st.AppliedVersion, st.AppliedPos, st.AppliedAt, st.Topics = prev.Tables, prev.AppliedVersion, prev.AppliedPos, prev.AppliedAt, prev.Topics
			st.BinlogRetentionSeconds, st.JSONColumns = prev.BinlogRetentionSeconds, prev.JSONColumns
		}
	})
	r.setCaughtUp(false)
}

// State transitions.

func (r *report) starting() {
	r.update(func(st *api.Status) { st.State, st.Message, st.KafkaStalledSeconds = api.StatePending, "starting", 0 })
}

func (r *report) copying() {
	r.update(func(st *api.Status) { st.State = api.StateSnapshotting })
}

func (r *report) running() {
	r.update(func(st *api.Status) { st.State = api.StateRunning })
}

// healthy clears the reason of an earlier retry or failure: the pipeline runs.
func (r *report) healthy() {
	r.update(func(st *api.Status) { st.Message = "" })
}

func (r *report) retrying(err error, in time.Duration) {
	r.setCaughtUp(false)
	r.update(func(st *api.Status) { st.Message = fmt.Sprintf("retrying in %s: %v", in.Round(time.Second), err) })
}

func (r *report) failed(err error) {
	r.setCaughtUp(false)
	r.update(func(st *api.Status) { st.State, st.Message, st.KafkaStalledSeconds = api.StateFailed, err.Error(), 0 })
}

// stopped records an operator's stop; a Failed task stays Failed, with its reason.
func (r *report) stopped() {
	r.setCaughtUp(false)
	r.update(func(st *api.Status) {
		st.KafkaStalledSeconds = 0 // with the message that said so
		if st.State != api.StateFailed {
			st.State, st.Message = api.StateStopped, "stopped"
		}
	})
}

// setSpecVersion records a spec version the running pipeline took on without a restart (a rate
// limit): it applies from here, and changes nothing a marker would delimit.
func (r *report) setSpecVersion(v int64) {
	r.update(func(st *api.Status) {
		if st.AppliedVersion == st.SpecVersion {
			st.AppliedVersion = v
		}
		st.SpecVersion = v
	})
}

func (r *report) setCaughtUp(v bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.caughtUp = v
}

// checkpoint records the newest durable checkpoint and the pipeline's warning (shown as the
// message while nothing is wrong), and reports whether anything an operator sees changed.
func (r *report) checkpoint(c Checkpoint, caughtUp bool, warning string) bool {
	pos := c.Pos.String()
	cols := c.JSONColumns.Saved()
	r.mu.Lock()
	defer r.mu.Unlock()
	st := &r.st
	changed := st.Pos != pos || !st.TransactionTime.Equal(c.TxnTime) || st.RowsSent != c.Sent || st.Message != warning ||
		c.Copy != nil && !sameProgress(st.Snapshot, c.Copy) || st.JSONColumns != cols
	st.Pos, st.TransactionTime, st.RowsSent, st.Message, st.JSONColumns = pos, c.TxnTime, c.Sent, warning, cols
	if c.Copy != nil {
		st.Snapshot = c.Copy
		if st.State == api.StateSnapshotting && c.Copy.Done {
			st.State = api.StateRunning
		}
	}
	r.caughtUp = caughtUp
	return changed
}

func sameProgress(a, b *api.SnapshotProgress) bool {
	return a != nil && b != nil && a.TablesDone == b.TablesDone && a.RowsCopied == b.RowsCopied && a.Done == b.Done &&
		(a.Table == nil) == (b.Table == nil) && (a.Table == nil || *a.Table == *b.Table)
}

// view returns the status as of now: a copy that shares nothing mutable, with the lag and the
// retention headroom computed (the headroom also while no pipeline runs, as the binlog at the
// checkpoint ages all the same).
func (r *report) view() api.Status {
	r.mu.Lock()
	defer r.mu.Unlock()
	st := r.st
	if st.Snapshot != nil {
		s := *st.Snapshot
		s.Tables = append([]api.TableRef(nil), s.Tables...)
		s.LastKey = append(json.RawMessage(nil), s.LastKey...)
		st.Snapshot = &s
	}
	st.LagSeconds = 0
	if !r.caughtUp && !st.TransactionTime.IsZero() {
		st.LagSeconds = math.Round(max(0, time.Since(st.TransactionTime).Seconds())*1000) / 1000
	}
	st.RetentionHeadroomSeconds = nil
	if st.BinlogRetentionSeconds != nil {
		keep := *st.BinlogRetentionSeconds
		st.BinlogRetentionSeconds = &keep
		st.RetentionHeadroomSeconds = st.RetentionHeadroom(time.Now())
	}
	return st
}

// statusWriter is the one path that writes the task's status: through the record, fenced by
// the lock, so a worker that lost its lock can never move the position.
type statusWriter struct {
	report  *report
	record  TaskRecord
	metrics *metrics
}

// save writes the status as of now.
func (w statusWriter) save(ctx context.Context) error {
	now := time.Now()
	w.report.update(func(st *api.Status) { st.UpdatedAt = now })
	st := w.report.view()
	w.metrics.lag.Set(st.LagSeconds)
	return w.record.SaveStatus(ctx, &st)
}

// publicStatus is what the worker's unauthenticated HTTP port shows of the status: progress and
// health, nothing derived from rows (no copy key, no message, which may quote a row's key).
// The whole status is on the dispatcher's authenticated API.
type publicStatus struct {
	State           api.State `json:"state"`
	Pos             string    `json:"pos,omitempty"`
	TransactionTime time.Time `json:"transaction_time,omitzero"`
	UpdatedAt       time.Time `json:"updated_at"`
	SpecVersion     int64     `json:"spec_version,omitempty"`
	LagSeconds      float64   `json:"lag_seconds"`
	RowsSent        uint64    `json:"rows_sent"`
	HasMessage      bool      `json:"has_message"`
	// KafkaStalledSeconds says Kafka does not acknowledge (the broker's error is in the
	// message, on the authenticated API).
	KafkaStalledSeconds float64         `json:"kafka_stalled_seconds,omitempty"`
	Snapshot            *publicSnapshot `json:"snapshot,omitempty"`
}

type publicSnapshot struct {
	TablesDone    int    `json:"tables_done"`
	Tables        int    `json:"tables"`
	RowsCopied    uint64 `json:"rows_copied"`
	RowsEstimated uint64 `json:"rows_estimated"`
	Done          bool   `json:"done"`
}

func public(st api.Status) publicStatus {
	p := publicStatus{State: st.State, Pos: st.Pos, TransactionTime: st.TransactionTime, UpdatedAt: st.UpdatedAt,
		SpecVersion: st.SpecVersion, LagSeconds: st.LagSeconds, RowsSent: st.RowsSent, HasMessage: st.Message != "",
		KafkaStalledSeconds: st.KafkaStalledSeconds}
	if sn := st.Snapshot; sn != nil {
		p.Snapshot = &publicSnapshot{TablesDone: sn.TablesDone, Tables: len(sn.Tables), RowsCopied: sn.RowsCopied, RowsEstimated: sn.RowsEstimated, Done: sn.Done}
	}
	return p
}
