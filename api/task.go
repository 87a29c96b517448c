package api

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// State is a task's state as the list shows it.
type State string

// Task states.
const (
	StatePending      State = "Pending"      // stored, worker not running yet
	StateSnapshotting State = "Snapshotting" // copying existing rows (incr=false)
	StateRunning      State = "Running"      // streaming the binlog
	StateFailed       State = "Failed"       // stopped by an error; Message says why and what to do
	StateStopped      State = "Stopped"      // stopped by an operator
)

// Desired is what the operator asked for: the task running or stopped.
type Desired string

// Desired states.
const (
	DesiredRunning Desired = "running"
	DesiredStopped Desired = "stopped"
	// DesiredDeleted: a delete was asked for and is being carried out (worker stopped, its job
	// and credentials removed, then the task). A dispatcher that dies in the middle leaves this
	// mark, and any dispatcher's reconciler finishes the delete.
	DesiredDeleted Desired = "deleted"
)

// Task is a stored task. Its spec never holds the source password.
type Task struct {
	ID      int64    `json:"id"`
	Spec    TaskSpec `json:"spec"`
	Version int64    `json:"version"`
	Desired Desired  `json:"desired"`
	// DefaultAccount is set while the task logs in with the dispatcher's default replication
	// account (it gave only host and port), which may only be used for the hosts the dispatcher
	// allows; every alter and start checks that again.
	DefaultAccount bool `json:"default_account,omitempty"`
	// IdempotencyKey is the submit's Idempotency-Key header, hashed (IdempotencyKeyHash): a
	// retried submit with the same key answers with this task instead of making another.
	IdempotencyKey string    `json:"idempotency_key,omitempty"`
	CreatedAt      time.Time `json:"created_at"`
	UpdatedAt      time.Time `json:"updated_at"`
	// History lists the spec's versions, oldest first, at most MaxHistory.
	History []Revision `json:"history,omitempty"`
}

// ParseTaskID reads a task id in its one canonical form, a positive decimal integer without
// sign, spaces or leading zeros: "+1", "01" or " 1" would otherwise name task 1 too, so one
// task would answer to many paths.
func ParseTaskID(s string) (int64, error) {
	bad := s == "" || s[0] == '0' || len(s) > 19
	for i := 0; i < len(s) && !bad; i++ {
		bad = s[i] < '0' || s[i] > '9'
	}
	if !bad {
		if id, err := strconv.ParseInt(s, 10, 64); err == nil {
			return id, nil
		}
	}
	return 0, fmt.Errorf("%q is not a task id (a positive decimal integer without sign or leading zeros)", s)
}

// Credentials are a task's secrets, which reach its worker through the launcher (a Nomad
// Variable, the embedded store) and never through the stored spec: the account it logs in to
// the source with, and its Kafka secrets.
type Credentials struct {
	Username string `json:"username"`
	Password string `json:"password"`
	// KafkaSASLPassword is kafka.sasl.password; KafkaKeyPEM is kafka.tls.key_pem.
	KafkaSASLPassword string `json:"kafka_sasl_password,omitempty"`
	KafkaKeyPEM       string `json:"kafka_key_pem,omitempty"`
}

// Status is what a task's worker reports: its checkpoint (Pos, and Snapshot while copying) and
// how it is doing. Workers write it only while they hold the task's lock.
type Status struct {
	State State `json:"state"`
	// Pos is the position after the last transaction whose every message Kafka acknowledged:
	// a GTID set with its flavor ("MariaDB/0-1-123", "MySQL56/uuid:1-100") or "file:pos".
	Pos string `json:"pos,omitempty"`
	// TransactionTime is when the source executed the transaction at Pos.
	TransactionTime time.Time `json:"transaction_time,omitzero"`
	Message         string    `json:"message,omitempty"`
	// ServiceAddr is the worker's HTTP address.
	ServiceAddr string    `json:"service_addr,omitempty"`
	UpdatedAt   time.Time `json:"updated_at"`
	// SpecVersion is the version of the spec the worker runs.
	SpecVersion int64 `json:"spec_version,omitempty"`
	// LagSeconds is how far behind the source the checkpoint is.
	LagSeconds float64 `json:"lag_seconds"`
	// RowsSent counts messages Kafka acknowledged, over the task's whole life.
	RowsSent uint64 `json:"rows_sent"`
	// KafkaStalledSeconds is how long messages have waited without Kafka acknowledging any, once
	// that is 5 s or more (the message then says why: the broker's last error); 0 otherwise.
	KafkaStalledSeconds float64           `json:"kafka_stalled_seconds,omitempty"`
	Snapshot            *SnapshotProgress `json:"snapshot,omitempty"`
	// Worker identifies the process (host, pid, Nomad allocation).
	Worker string `json:"worker,omitempty"`
	// Tables counts what the task did per table (the busiest MaxTableStats; the rest in one
	// entry with table "*").
	Tables []TableStats `json:"tables,omitempty"`
	// RetentionHeadroomSeconds is how long the source keeps the binlog at the checkpoint
	// still: its binlog retention minus the checkpoint's age (see RetentionHeadroom). Absent when
	// the source purges by no age.
	RetentionHeadroomSeconds *float64 `json:"retention_headroom_seconds,omitempty"`
	// BinlogRetentionSeconds is the source's binlog retention as the worker last read it
	// (binlog_expire_logs_seconds, or expire_logs_days); absent when it purges by no age. With
	// it, the headroom can be told at any time from the status alone.
	BinlogRetentionSeconds *float64 `json:"binlog_retention_seconds,omitempty"`
	// AppliedVersion is the spec version whose rules the worker applies from AppliedPos on:
	// the transaction boundary where it switched to them (for the first version, where it
	// started), at AppliedAt. The task's history shows it.
	AppliedVersion int64     `json:"applied_version,omitempty"`
	AppliedPos     string    `json:"applied_pos,omitempty"`
	AppliedAt      time.Time `json:"applied_at,omitzero"`
	// Topics are the topics written since AppliedPos (for the markers of the next change).
	Topics []string `json:"topics,omitempty"`
	// JSONColumns are the MariaDB JSON columns of the task's databases as of Pos, which the
	// binlog does not record: the worker resumes with them, so the rows after Pos are typed by
	// the definitions they were written under, not today's. Absent for MySQL (its binlog logs
	// JSON as JSON) and when too large to save (MaxJSONColumnsBytes).
	JSONColumns *JSONColumns `json:"json_columns,omitempty"`
}

// MaxJSONColumnsBytes bounds the JSON columns a status saves (their JSON encoding): larger ones are
// not saved, and a worker that resumes without them reads today's definitions.
const MaxJSONColumnsBytes = 64 << 10

// JSONColumns lists MariaDB's JSON columns (text columns with a json_valid check, which MariaDB's
// JSON type is) of every table of some databases, as of a binlog position.
type JSONColumns struct {
	// Databases are the databases covered: a table of one of them not listed in Tables has no
	// JSON column.
	Databases []string `json:"databases"`
	// Tables groups the tables with JSON columns, tables of one database with the same columns
	// and checks together (sharded tables share one entry).
	Tables []JSONTables `json:"tables,omitempty"`
}

// JSONTables are tables of one database with the same JSON columns.
type JSONTables struct {
	DB     string   `json:"db"`
	Tables []string `json:"tables"`
	// Columns are JSON by their own definition (the JSON type, or a column-level
	// json_valid check): a MODIFY or CHANGE of the column decides anew.
	Columns []string `json:"columns,omitempty"`
	// Checks are table-level json_valid checks, each making its column JSON until it is
	// dropped, by name or with the column.
	Checks []JSONCheck `json:"checks,omitempty"`
}

// JSONCheck is a table-level json_valid check constraint.
type JSONCheck struct {
	// Name is the constraint's name; empty when the statement that added it gave none (the
	// server then picks CONSTRAINT_<n>, which the binlog does not say).
	Name   string `json:"name,omitempty"`
	Column string `json:"column"`
}

// RetentionHeadroom is the status's retention headroom at now, in whole seconds: the binlog
// retention the worker last read minus the age of the checkpoint's transaction (of the copy's
// start while the initial copy runs, since streaming resumes from the position taken before it).
// The file holding a transaction is written at or after its commit and purged no sooner than the
// retention after that, so this is how long the binlog the task resumes from is there at least.
// Told from the status rather than taken from the report, it keeps counting down while no worker
// runs. Without the retention (a status saved by an older worker) it is the reported
// RetentionHeadroomSeconds; nil when neither is known.
func (st *Status) RetentionHeadroom(now time.Time) *float64 {
	if st.BinlogRetentionSeconds == nil {
		return st.RetentionHeadroomSeconds
	}
	since := st.TransactionTime
	if s := st.Snapshot; s != nil && !s.Done {
		since = s.Started
	}
	if since.IsZero() {
		return st.RetentionHeadroomSeconds
	}
	h := math.Trunc(*st.BinlogRetentionSeconds - now.Sub(since).Seconds())
	return &h
}

// TableStats counts a table's changes as the task processed them (a change read again after a
// restart counts again).
type TableStats struct {
	DB       string `json:"db"`
	Table    string `json:"table"`
	Inserts  uint64 `json:"inserts"`
	Updates  uint64 `json:"updates"`
	Deletes  uint64 `json:"deletes"`
	DDL      uint64 `json:"ddl"`
	Copied   uint64 `json:"copied"`
	Filtered uint64 `json:"filtered"`
	// Bytes counts the bytes of the table's messages (keys and values).
	Bytes uint64 `json:"bytes"`
}

// MaxTableStats bounds the tables a status lists.
const MaxTableStats = 200

// SnapshotProgress is the state of the initial copy of an incr=false task; it is also the
// copy's checkpoint.
type SnapshotProgress struct {
	// Pos is the binlog position taken before the copy; streaming starts there after it.
	Pos string `json:"pos"`
	// Tables lists the tables to copy, in copy order.
	Tables     []TableRef `json:"tables"`
	TablesDone int        `json:"tables_done"`
	// Table is the table being copied and LastKey the primary key of its last copied row.
	Table         *TableRef       `json:"table,omitempty"`
	LastKey       json.RawMessage `json:"last_key,omitempty"`
	RowsCopied    uint64          `json:"rows_copied"`
	RowsEstimated uint64          `json:"rows_estimated"`
	Done          bool            `json:"done"`
	// Started is when Pos was taken: the binlog from there must outlive the copy.
	Started time.Time `json:"started,omitzero"`
}

// TableRef names a table by its database and its name, kept apart: either may contain a dot.
type TableRef struct {
	DB    string `json:"db"`
	Table string `json:"table"`
}

// String is db.table, for people.
func (t TableRef) String() string { return t.DB + "." + t.Table }

// UnmarshalJSON reads {"db":..,"table":..}, and the "db.table" strings of statuses saved before
// names were kept apart (split at the first dot, which is what those statuses meant).
func (t *TableRef) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		db, table, ok := strings.Cut(s, ".")
		if !ok {
			return fmt.Errorf("table %q is not db.table", s)
		}
		*t = TableRef{DB: db, Table: table}
		return nil
	}
	type plain TableRef
	return json.Unmarshal(b, (*plain)(t))
}

// JobStatus is the scheduler's view of a task's worker process, the same words for a Nomad job
// (jobs/nomad) and an in-process supervisor (jobs/local), so that the dispatcher branches on a
// type rather than on each launcher's strings.
type JobStatus string

// Job statuses.
const (
	// JobPending: the worker should run but does not yet: not placed, starting, or waiting for
	// its secrets. JobInfo.Message says why when the scheduler knows.
	JobPending JobStatus = "pending"
	// JobRunning: the worker's process runs.
	JobRunning JobStatus = "running"
	// JobRestarting: the worker failed and is restarted after a backoff (Message: the failure).
	JobRestarting JobStatus = "restarting"
	// JobDead: the scheduler gave up on the worker (Nomad's dead job).
	JobDead JobStatus = "dead"
	// JobFailed: no worker could be started at all (Message says why, such as no credentials).
	JobFailed JobStatus = "failed"
	// JobStopped: the worker was stopped on purpose (stop of the task).
	JobStopped JobStatus = "stopped"
)

// JobInfo is the scheduler's view of a task's worker (a Nomad job, or the local supervisor).
type JobInfo struct {
	ID          string    `json:"id"`
	Status      JobStatus `json:"status"`
	AllocID     string    `json:"alloc_id,omitempty"`
	AllocStatus string    `json:"alloc_status,omitempty"`
	Addr        string    `json:"addr,omitempty"`
	Message     string    `json:"message,omitempty"`
}

// TaskSummary is one row of the task list, as in the seed API, plus a few fields users expect.
type TaskSummary struct {
	ID              int64             `json:"id"`
	SourceAddr      string            `json:"source_addr"`
	DestAddr        string            `json:"dest_addr"`
	Pos             string            `json:"pos"`
	TransactionTime string            `json:"transaction_time"`
	State           State             `json:"state"`
	UpdatedAt       string            `json:"updated_at"`
	Message         string            `json:"message"`
	ServiceAddr     string            `json:"service_addr"`
	Desired         Desired           `json:"desired"`
	LagSeconds      float64           `json:"lag_seconds"`
	RowsSent        uint64            `json:"rows_sent"`
	Snapshot        *SnapshotProgress `json:"snapshot,omitempty"`
	// RetentionHeadroomSeconds is how long the source keeps the binlog the task resumes from
	// (Status.RetentionHeadroom as of the answer); absent when the source purges by no age or no
	// worker has read its retention yet. Negative: that binlog may be gone.
	RetentionHeadroomSeconds *float64 `json:"retention_headroom_seconds,omitempty"`
}

// TaskList is the data of GET /v1/task/list.
type TaskList struct {
	Tasks []TaskSummary `json:"tasks"`
	Total int           `json:"total"`
}

// TaskDetail is the data of GET /v1/task/:id.
type TaskDetail struct {
	TaskSummary
	Spec        *TaskSpec `json:"spec"`
	SpecVersion int64     `json:"spec_version"`
	CreatedAt   string    `json:"created_at"`
	Status      *Status   `json:"status,omitempty"`
	Job         *JobInfo  `json:"job,omitempty"`
	// History lists the spec's versions, oldest first, each with the position where it took
	// effect once the worker reported it.
	History []RevisionView `json:"history,omitempty"`
}

// DeleteResponse is the data of DELETE /v1/task/:id.
type DeleteResponse struct {
	// LeftRunning says what was left running when the task's worker did not stop in time; the
	// task is deleted all the same (its worker can no longer save a position).
	LeftRunning string `json:"left_running,omitempty"`
}

// TimeLayout is how the API writes times, in the dispatcher's zone.
const TimeLayout = "2006-01-02 15:04:05"

// FormatTime writes t in TimeLayout in loc; the zero time is "".
func FormatTime(t time.Time, loc *time.Location) string {
	if t.IsZero() {
		return ""
	}
	return t.In(loc).Format(TimeLayout)
}
