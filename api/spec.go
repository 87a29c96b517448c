// Package api holds the wire types of dts: the task spec operators submit, the status workers
// report, the response envelope and error codes, their structural validation, and a Go client.
// The dispatcher, the worker and the `dts task` command all use these same types.
package api

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"strconv"
	"strings"
)

// Source is the MySQL or MariaDB server a task reads. Username and password may be omitted: the
// dispatcher then uses its configured default replication account.
type Source struct {
	Host     string `json:"host"`
	Port     int    `json:"port"`
	Username string `json:"username,omitempty"`
	Password string `json:"password,omitempty"`
	// PasswordSet is shown by GET /v1/task/:id: whether a password is stored for the task (its
	// value never is). Ignored on input, so that a spec read with GET can be sent back.
	PasswordSet *bool `json:"password_set,omitempty"`
	// ServerID is the replica server id the worker registers with; 0 means the default,
	// DefaultServerID(task id). Two replicas with the same id on one server disconnect each other
	// over and over, so the dispatcher refuses a second task with the same effective id on the same
	// source. The tags give DecodeSubmit the documented range.
	ServerID uint32 `json:"server_id,omitempty" min:"1" zero:"1000000000 + the task id"`
	// TLS encrypts the worker's connections to the source (the binlog, the copy and schema
	// queries alike).
	TLS *SourceTLS `json:"tls,omitempty"`
}

// Addr is host:port.
func (s Source) Addr() string { return net.JoinHostPort(s.Host, strconv.Itoa(s.Port)) }

// DefaultServerID is the replica server id of a task that gives none: 1000000000 + the task id,
// wrapping within 3000000000 ids so that it stays a valid uint32.
func DefaultServerID(taskID int64) uint32 {
	return uint32(1_000_000_000 + taskID%3_000_000_000)
}

// EffectiveServerID is the server id task taskID registers with: ServerID, or the default.
func (s Source) EffectiveServerID(taskID int64) uint32 {
	if s.ServerID != 0 {
		return s.ServerID
	}
	return DefaultServerID(taskID)
}

// Topic modes.
const (
	TopicModeDatabase = 0 // topic = dbname
	TopicModeTable    = 1 // topic = dbname_tablename
)

// Partition modes and fallbacks.
const (
	PartitionByTable      = "table"
	PartitionByColumn     = "column"
	PartitionByPrimaryKey = "primary_key"
)

// Kafka is the destination of a task and how rows are routed in it.
type Kafka struct {
	// Addr is a comma-separated list of brokers.
	Addr string `json:"addr"`
	// Topic receives every message when TopicMode is absent.
	Topic string `json:"topic,omitempty"`
	// TopicMode absent: everything to Topic; 0: topic = dbname; 1: topic = dbname_tablename.
	TopicMode *int `json:"topic_mode,omitempty"`
	// PartitionMode is table (default), column (with PartitionColumns) or primary_key.
	PartitionMode    string     `json:"partition_mode,omitempty"`
	PartitionColumns StringList `json:"partition_columns,omitempty"`
	// ProducerPartitionByFallback (table or primary_key) is used when a table lacks a partition
	// column; default table.
	ProducerPartitionByFallback string `json:"producer_partition_by_fallback,omitempty"`
	// ExcludeColumns are left out of every message (matched case-insensitively by name).
	ExcludeColumns StringList `json:"exclude_columns,omitempty"`
	// FlatFormat puts a row's columns at the top level of the message.
	FlatFormat bool `json:"flat_format"`
	// Compression is none, gzip, snappy, lz4 (default) or zstd.
	Compression string `json:"compression,omitempty"`
	// MaxMessageBytes is the largest message sent, as Kafka measures it against
	// max.message.bytes; absent: the cluster's message.max.bytes (and a topic's own
	// max.message.bytes where it is lower).
	MaxMessageBytes int `json:"max_message_bytes,omitempty"`
	// Delivery is at_least_once (default) or exactly_once: Kafka transactions, each holding
	// whole source transactions and the task's checkpoint, so read_committed consumers see each
	// change once, even across crashes and a frozen worker's return.
	Delivery string `json:"delivery,omitempty"`
	// CheckpointTopic is the compacted topic exactly_once tasks keep their checkpoints in
	// (default dts_checkpoints; created when missing).
	CheckpointTopic string `json:"checkpoint_topic,omitempty"`
	// TransactionalID overrides exactly_once's transactional id (default dts-task-<id>-<hash of
	// the source address>): two producers with one id fence each other.
	TransactionalID string `json:"transactional_id,omitempty"`
	// CommitIntervalMS is how long an exactly_once transaction collects source transactions
	// before it commits (default 100): longer is cheaper, shorter is fresher.
	CommitIntervalMS int `json:"commit_interval_ms,omitempty"`
	// TLS and SASL secure the connections to the brokers.
	TLS  *KafkaTLS  `json:"tls,omitempty"`
	SASL *KafkaSASL `json:"sasl,omitempty"`
	// OversizedRows says what happens to a row whose message is larger than that: "fail"
	// (default: the task stops, Failed, naming the row, and resumes at it once changed) or
	// "skip" (the row is not sent; it is counted and reported).
	OversizedRows string `json:"oversized_rows,omitempty"`
	// Format is the message format: dts (default), canal (Canal's flat JSON message), maxwell
	// or debezium (Debezium's change event envelope), so that consumers written for those
	// tools read the task's messages as they are.
	Format string `json:"format,omitempty"`
	// DebeziumSchema embeds the Kafka Connect schema in Debezium keys and values
	// (JsonConverter's schemas.enable); format debezium only.
	DebeziumSchema bool `json:"debezium_schema,omitempty"`
	// DebeziumTombstones sends a tombstone after each Debezium delete event (Debezium's
	// tombstones.on.delete); absent: true. Format debezium only.
	DebeziumTombstones *bool `json:"debezium_tombstones,omitempty"`
	// DebeziumDecimal is how Debezium messages write DECIMAL values (Debezium's
	// decimal.handling.mode): precise (default: Kafka Connect's Decimal, the unscaled value's
	// bytes), string or double. Format debezium only.
	DebeziumDecimal string `json:"debezium_decimal,omitempty"`
}

// Delivery guarantees.
const (
	AtLeastOnce = "at_least_once"
	ExactlyOnce = "exactly_once"
)

// DefaultCheckpointTopic is where exactly_once tasks keep their checkpoints.
const DefaultCheckpointTopic = "dts_checkpoints"

// Message formats (Kafka.Format).
const (
	FormatDTS      = "dts"
	FormatCanal    = "canal"
	FormatMaxwell  = "maxwell"
	FormatDebezium = "debezium"
)

// Debezium's decimal handling modes (Kafka.DebeziumDecimal).
const (
	DebeziumDecimalPrecise = "precise"
	DebeziumDecimalString  = "string"
	DebeziumDecimalDouble  = "double"
)

// What to do with a row larger than the topic accepts.
const (
	OversizedFail = "fail"
	OversizedSkip = "skip"
)

// Filter selects tables of one database, and optionally rows of them.
type Filter struct {
	// DBName is the database, matched exactly.
	DBName string `json:"dbname"`
	// Match is a table name, or a regular expression between slashes (/orders_\d+/) that must
	// match the whole name. Empty matches every table of the database.
	Match string `json:"match"`
	// Filter is an optional MySQL boolean expression on the row, such as
	// "status = 1 AND type IN (2,3)".
	Filter string `json:"filter,omitempty"`
}

// RateLimit is a token bucket in rows per second.
type RateLimit struct {
	// Rate is the task's rows per second (0: no limit of the task's own, when Tables is set).
	Rate     float64 `json:"rate"`
	Capacity int     `json:"capacity,omitempty"`
	// Tables limits tables beside the task: "db.table", or "db./regex/" selecting tables of db
	// whose whole name matches. The tables a key selects share its bucket; a table several keys
	// select takes the first key in sorted order (worker/emit.go, rateLimit).
	Tables map[string]TableRateLimit `json:"tables,omitempty"`
}

// TableRateLimit is one table's token bucket in rows per second.
type TableRateLimit struct {
	Rate     float64 `json:"rate"`
	Capacity int     `json:"capacity,omitempty"`
}

// TaskSpec is a task as submitted. On alter, Source and Incr may be omitted (unchanged).
type TaskSpec struct {
	Source    *Source    `json:"source,omitempty"`
	Kafka     Kafka      `json:"kafka"`
	Filters   []Filter   `json:"filters"`
	RateLimit *RateLimit `json:"rate_limit,omitempty"`
	// Incr true streams from now; false copies the existing rows first. Default true.
	Incr *bool `json:"incr,omitempty"`
	// Resources overrides what the task's worker reserves on the scheduler; absent: the
	// dispatcher's defaults. An alter without it keeps the task's.
	Resources *Resources `json:"resources,omitempty"`
	// RetentionWarnShare is the share of the source's binlog retention under which the task's
	// retention headroom (how long the binlog it resumes from is kept still) is a warning in its
	// status: 0.25, the default, warns once less than a quarter of the retention is left. A
	// property of the task rather than of the worker process, so that it reaches the worker the
	// way the rest of the spec does (in Nomad and in dts dev alike) and an alter changes it live.
	// An alter without it keeps the task's.
	RetentionWarnShare float64 `json:"retention_warn_share,omitempty"`
}

// DefaultRetentionWarnShare is the retention_warn_share of a task that gives none.
const DefaultRetentionWarnShare = 0.25

// EffectiveRetentionWarnShare is RetentionWarnShare, or the default.
func (s *TaskSpec) EffectiveRetentionWarnShare() float64 {
	if s.RetentionWarnShare > 0 {
		return s.RetentionWarnShare
	}
	return DefaultRetentionWarnShare
}

// Resources is what a worker reserves on its Nomad client. The dispatcher's defaults fit an idle
// or lightly loaded worker (measured: a few MHz and about 25 MiB when idle); a task streaming
// much more, or copying wide tables, asks for more here. Zero fields take the dispatcher's
// default.
type Resources struct {
	// CPU is the worker's CPU share in MHz.
	CPU int `json:"cpu,omitempty" min:"1" zero:"the dispatcher's default"`
	// MemoryMB is the memory the worker reserves, in MiB: what the scheduler counts when it
	// places workers.
	MemoryMB int `json:"memory_mb,omitempty" min:"1" zero:"the dispatcher's default"`
	// MemoryMaxMB is what the worker may use beyond MemoryMB when the client has memory to
	// spare (Nomad's memory_max, with memory oversubscription on), for bursts such as the initial
	// copy of wide rows.
	MemoryMaxMB int `json:"memory_max_mb,omitempty" min:"1" zero:"the dispatcher's default"`
}

// IsIncr reports the effective incr setting.
func (s *TaskSpec) IsIncr() bool { return s.Incr == nil || *s.Incr }

// TopicModeValue returns the topic mode and whether one is set.
func (k *Kafka) TopicModeValue() (int, bool) {
	if k.TopicMode == nil {
		return 0, false
	}
	return *k.TopicMode, true
}

// Clone returns a deep copy.
func (s *TaskSpec) Clone() *TaskSpec {
	b, err := json.Marshal(s)
	if err != nil {
		panic(fmt.Sprintf("api: marshal spec: %v", err))
	}
	var c TaskSpec
	if err := json.Unmarshal(b, &c); err != nil {
		panic(fmt.Sprintf("api: unmarshal spec: %v", err))
	}
	return &c
}

// Equal reports whether two specs say the same thing.
func (s *TaskSpec) Equal(o *TaskSpec) bool {
	a, err1 := json.Marshal(s)
	b, err2 := json.Marshal(o)
	return err1 == nil && err2 == nil && bytes.Equal(a, b)
}

// Redacted returns a copy without its secrets (the source password, the SASL password and the
// Kafka client key) and without the markers GET adds (MarkSecrets): what is stored of a spec.
func (s *TaskSpec) Redacted() *TaskSpec {
	c := s.Clone()
	if c.Source != nil {
		c.Source.Password, c.Source.PasswordSet = "", nil
	}
	if c.Kafka.SASL != nil {
		c.Kafka.SASL.Password, c.Kafka.SASL.PasswordSet = "", nil
	}
	if c.Kafka.TLS != nil {
		c.Kafka.TLS.KeyPEM, c.Kafka.TLS.KeyPEMSet = "", nil
	}
	return c
}

// SubmitRequest is the body of submit and alter.
type SubmitRequest struct {
	Task *TaskSpec `json:"task"`
}

// SubmitResponse is the data of a successful submit.
type SubmitResponse struct {
	// Addr is the HTTP address of the worker running the task, empty if it was not placed in time.
	Addr string `json:"addr"`
	ID   int64  `json:"id"`
}

// StringList is a list of names that also accepts a comma-separated string on input.
type StringList []string

// UnmarshalJSON accepts ["a","b"] or "a,b".
func (l *StringList) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if bytes.Equal(b, []byte("null")) {
		*l = nil
		return nil
	}
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*l = nil
		for _, p := range strings.Split(s, ",") {
			if p = strings.TrimSpace(p); p != "" {
				*l = append(*l, p)
			}
		}
		return nil
	}
	var list []string
	if err := json.Unmarshal(b, &list); err != nil {
		return err
	}
	for i := range list {
		list[i] = strings.TrimSpace(list[i])
	}
	*l = list
	return nil
}
