package api

import (
	"encoding/json"
	"strings"
	"time"
)

// CheckStatus is the verdict of one precheck item.
type CheckStatus string

// Check verdicts, in rising order of concern.
const (
	CheckPass CheckStatus = "pass"
	CheckWarn CheckStatus = "warn"
	CheckFail CheckStatus = "fail"
)

// rank orders verdicts: pass < warn < fail.
func (s CheckStatus) rank() int {
	switch s {
	case CheckWarn:
		return 1
	case CheckFail:
		return 2
	}
	return 0
}

// CheckItem is one line of a precheck: what was checked, what was found and what to do.
type CheckItem struct {
	// ID names the check, stable across versions ("source.binlog_row_image"), for scripts.
	ID     string      `json:"id"`
	Status CheckStatus `json:"status"`
	// Title says what is checked, Detail what was found, Fix what to do about a warn or fail.
	Title  string `json:"title"`
	Detail string `json:"detail,omitempty"`
	Fix    string `json:"fix,omitempty"`
	// Blocking marks a fail that makes submit and alter refuse the task unless forced. A fail
	// the dispatcher's own view cannot settle is not blocking: the source or Kafka unreachable
	// from the dispatcher may well be reachable from the worker's host, and the worker retries.
	Blocking bool `json:"blocking,omitempty"`
}

// TableCheck is what the precheck found about one table the filters match.
type TableCheck struct {
	DB    string `json:"db"`
	Table string `json:"table"`
	// RowsEstimate is information_schema's estimate (InnoDB's is approximate).
	RowsEstimate uint64 `json:"rows_estimate"`
	// PrimaryKey lists the primary key's columns; empty when the table has none.
	PrimaryKey []string `json:"primary_key"`
	// Topic is where the table's rows go; Partitions its partition count, 0 while it does not
	// exist (or Kafka could not be asked).
	Topic      string `json:"topic"`
	Partitions int    `json:"partitions,omitempty"`
	// WidestMessageBytes is the largest message a row of the table can make, from its column
	// definitions (an update with every column changed carries the row twice).
	WidestMessageBytes int64 `json:"widest_message_bytes"`
}

// Checklist is the answer of a precheck: every item, the matched tables, and the overall
// verdict (the worst item's).
type Checklist struct {
	Result CheckStatus  `json:"result"`
	Items  []CheckItem  `json:"items"`
	Tables []TableCheck `json:"tables,omitempty"`
}

// Add appends an item and updates the result.
func (c *Checklist) Add(it CheckItem) {
	if it.Status != CheckFail {
		it.Blocking = false
	}
	c.Items = append(c.Items, it)
	if c.Result == "" || it.Status.rank() > c.Result.rank() {
		c.Result = it.Status
	}
}

// Blocking returns the items that refuse a submit or an alter.
func (c *Checklist) Blocking() []CheckItem {
	var out []CheckItem
	for _, it := range c.Items {
		if it.Status == CheckFail && it.Blocking {
			out = append(out, it)
		}
	}
	return out
}

// Item returns the item with id, nil if there is none.
func (c *Checklist) Item(id string) *CheckItem {
	for i := range c.Items {
		if c.Items[i].ID == id {
			return &c.Items[i]
		}
	}
	return nil
}

// DescribeItems writes items on one line each, "id: detail (fix)", for error messages.
func DescribeItems(items []CheckItem) string {
	parts := make([]string, len(items))
	for i, it := range items {
		s := it.ID + ": " + it.Detail
		if it.Fix != "" {
			s += " (" + it.Fix + ")"
		}
		parts[i] = s
	}
	return strings.Join(parts, "; ")
}

// Refusal is the data of a submit or alter refused by its precheck (code -400): the whole
// checklist, so that a client shows every problem at once.
type Refusal struct {
	Precheck *Checklist `json:"precheck"`
}

// PreviewRecord is one Kafka record the task would send, exactly as the worker renders it.
type PreviewRecord struct {
	Topic string `json:"topic"`
	// Partition is hash modulo the topic's partition count; absent while the topic does not
	// exist (it then depends on the partition count it is created with).
	Partition *int32 `json:"partition,omitempty"`
	Hash      uint32 `json:"hash"`
	// Key and Value are the record's bytes: embedded as JSON when they are JSON (the dts
	// format), else as a JSON string. A nil Value is a tombstone, a nil Key no key.
	Key   json.RawMessage `json:"key"`
	Value json.RawMessage `json:"value"`
	// Bytes is the record's size as Kafka measures it against max.message.bytes.
	Bytes int `json:"bytes"`
}

// PreviewTable is the preview of one matched table.
type PreviewTable struct {
	DB    string `json:"db"`
	Table string `json:"table"`
	// RowsRead counts the rows read, in primary-key order from the first.
	RowsRead int `json:"rows_read"`
	// Records are the messages of the rows the filters keep; Dropped the messages the rows the
	// row filter drops would have made.
	Records []PreviewRecord `json:"records"`
	Dropped []PreviewRecord `json:"dropped"`
	// Error says why the table's rows cannot be sent (an excluded key column, a filter that
	// names a missing column); the task would fail on them.
	Error string `json:"error,omitempty"`
}

// Preview is the answer of POST /v1/dispatch/preview.
type Preview struct {
	// Rows is how many rows of each table were read at most.
	Rows   int            `json:"rows"`
	Tables []PreviewTable `json:"tables"`
	// Warnings say what the preview could not know (partitions of an unreachable Kafka, tables
	// left out).
	Warnings []string `json:"warnings,omitempty"`
}

// VerifyRequest is the body of POST /v1/task/:id/verify; every field may be omitted.
type VerifyRequest struct {
	// Tables limits the check to these tables, "db.table" each; default every table the task
	// streams.
	Tables []string `json:"tables,omitempty"`
	// Rate bounds the rows read from the source per second (default unlimited), so that the
	// check does not load it.
	Rate float64 `json:"rate,omitempty"`
	// ChunkRows is how many rows one source query reads and one checksum covers (default 1000).
	ChunkRows int `json:"chunk_rows,omitempty"`
	// Samples is how many keys of each kind a table reports at most (default 10).
	Samples int `json:"samples,omitempty"`
}

// Verify run states.
const (
	VerifyRunning   = "running"
	VerifyDone      = "done"
	VerifyFailed    = "failed"
	VerifyAbandoned = "abandoned" // its dispatcher stopped reporting: start it again
)

// Verify is the state of a task's consistency check, as GET /v1/task/:id/verify shows it.
type Verify struct {
	// Run identifies the check; a new POST starts a new one.
	Run   string `json:"run"`
	State string `json:"state"`
	// Message says why a check failed, or what it noticed.
	Message string        `json:"message,omitempty"`
	Request VerifyRequest `json:"request"`
	// SpecVersion is the task's spec version the check compares against.
	SpecVersion int64 `json:"spec_version"`
	// Owner is the dispatcher running the check; it reports at least every HeartbeatSeconds.
	Owner      string    `json:"owner"`
	StartedAt  time.Time `json:"started_at"`
	UpdatedAt  time.Time `json:"updated_at"`
	FinishedAt time.Time `json:"finished_at,omitzero"`
	// RowsChecked counts the source rows compared so far, of about RowsEstimated.
	RowsChecked   uint64        `json:"rows_checked"`
	RowsEstimated uint64        `json:"rows_estimated"`
	TablesDone    int           `json:"tables_done"`
	Tables        []VerifyTable `json:"tables"`
	// Consistent is set when the check is done and found no difference in any table.
	Consistent bool `json:"consistent"`
}

// VerifyTable is the check of one table.
type VerifyTable struct {
	DB    string `json:"db"`
	Table string `json:"table"`
	Topic string `json:"topic"`
	// State is pending, running, done or failed (Message says why).
	State   string `json:"state"`
	Message string `json:"message,omitempty"`
	// SourceRows are the rows the row filters keep; KafkaKeys the keys whose latest record is
	// not a delete.
	SourceRows uint64 `json:"source_rows"`
	KafkaKeys  uint64 `json:"kafka_keys"`
	// Chunks counts the primary-key chunks compared, ChunksMatching those whose checksums
	// agreed at once.
	Chunks         int `json:"chunks"`
	ChunksMatching int `json:"chunks_matching"`
	// Matching keys have the same row in the source and as their latest record; Missing keys
	// are in the source but not in Kafka (or deleted there); Extra keys are in Kafka but not in
	// the source; Differing keys have another row in Kafka.
	Matching  uint64 `json:"matching"`
	Missing   uint64 `json:"missing"`
	Extra     uint64 `json:"extra"`
	Differing uint64 `json:"differing"`
	// Filtered counts source rows the row filters drop: the task does not send them, so their
	// keys are neither missing nor extra.
	Filtered uint64 `json:"filtered"`
	// Rechecked counts keys that differed in the first pass and were read again once the task
	// had caught up; only keys that still differed are counted above.
	Rechecked uint64         `json:"rechecked"`
	Samples   []VerifySample `json:"samples,omitempty"`
}

// VerifySample is one key found missing, extra or differing.
type VerifySample struct {
	// Kind is missing, extra or differing.
	Kind string          `json:"kind"`
	Key  json.RawMessage `json:"key"`
	// Source is the row's data as the task would send it; Kafka the data of the key's latest
	// record, with its place.
	Source    json.RawMessage `json:"source,omitempty"`
	Kafka     json.RawMessage `json:"kafka,omitempty"`
	Partition int32           `json:"partition"`
	Offset    int64           `json:"offset"`
}

// Revision is one version of a task's spec, kept with the task.
type Revision struct {
	Version int64     `json:"version"`
	At      time.Time `json:"at"`
	// Action is submit or alter.
	Action string `json:"action"`
	// Changed lists the field paths the version changed ("kafka.topic", "filters[1].match");
	// empty for the first.
	Changed []string `json:"changed,omitempty"`
	// Forced is set when the version was stored although its precheck failed.
	Forced bool `json:"forced,omitempty"`
	// Pos is the position from which the worker applied the version, once it reported it, and
	// AppliedAt when.
	Pos       string    `json:"pos,omitempty"`
	AppliedAt time.Time `json:"applied_at,omitzero"`
}

// MaxHistory bounds the revisions kept with a task: the oldest go first.
const MaxHistory = 100

// RevisionView is a revision as GET /v1/task/:id shows it, times in the dispatcher's zone.
type RevisionView struct {
	Version   int64    `json:"version"`
	At        string   `json:"at"`
	Action    string   `json:"action"`
	Changed   []string `json:"changed,omitempty"`
	Forced    bool     `json:"forced,omitempty"`
	Pos       string   `json:"pos,omitempty"`
	AppliedAt string   `json:"applied_at,omitempty"`
}
