package api

import (
	"fmt"
	"net"
	"regexp"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Validate checks the spec's structure for a submit: every required field is present and every
// value is in range. It names the first bad field ("task.kafka.addr: is required"). Filter regular
// expressions and row expressions are compiled by the worker's filter package, which the
// dispatcher also runs.
func (s *TaskSpec) Validate() error {
	if s.Source == nil {
		return FieldError("task.source", "is required")
	}
	return s.validate(false)
}

// ValidateAlter checks an alter body: like Validate, but Source and Incr may be omitted.
func (s *TaskSpec) ValidateAlter() error { return s.validate(true) }

func (s *TaskSpec) validate(alter bool) error {
	if s.Source != nil {
		if err := s.Source.validate("task.source"); err != nil {
			return err
		}
	}
	if err := s.Kafka.validate("task.kafka", alter); err != nil {
		return err
	}
	if len(s.Filters) == 0 {
		return FieldError("task.filters", "at least one filter is required (dbname and match)")
	}
	for i, f := range s.Filters {
		field := fmt.Sprintf("task.filters[%d]", i)
		if strings.TrimSpace(f.DBName) == "" {
			return FieldError(field+".dbname", "is required")
		}
		if strings.ContainsAny(f.DBName, "/*") {
			return FieldError(field+".dbname", "must be an exact database name, not a pattern")
		}
		if err := identifier(field+".dbname", "", f.DBName); err != nil {
			return err
		}
		if f.Match != "" && !strings.HasPrefix(f.Match, "/") {
			if err := identifier(field+".match", "a table name ", f.Match); err != nil {
				return err
			}
		}
	}
	if r := s.Resources; r != nil {
		if err := r.validate("task.resources"); err != nil {
			return err
		}
	}
	if w := s.RetentionWarnShare; w != 0 && !(w > 0 && w < 1) {
		return FieldError("task.retention_warn_share", "must be a share of the binlog retention above 0 and below 1 (0.25: warn once less than a quarter of it is left), got %v", w)
	}
	if r := s.RateLimit; r != nil {
		if r.Rate < 0 || r.Rate == 0 && len(r.Tables) == 0 {
			return FieldError("task.rate_limit.rate", "must be a positive number of rows per second, got %v", r.Rate)
		}
		if r.Capacity < 0 {
			return FieldError("task.rate_limit.capacity", "must not be negative, got %d", r.Capacity)
		}
		for name, tl := range r.Tables {
			field := fmt.Sprintf("task.rate_limit.tables[%q]", name)
			if _, _, err := ParseTablePattern(name); err != nil {
				return FieldError(field, "%v", err)
			}
			if tl.Rate <= 0 {
				return FieldError(field+".rate", "must be a positive number of rows per second, got %v", tl.Rate)
			}
			if tl.Capacity < 0 {
				return FieldError(field+".capacity", "must not be negative, got %d", tl.Capacity)
			}
		}
	}
	return nil
}

// ParseTablePattern splits a per-table setting's key, "db.table" or "db./regex/", into the
// database and the table match (a name, or a regular expression between slashes). The split is
// at the last dot before the table part, so a database name may hold dots; a table whose name
// holds one is matched with the regex form.
func ParseTablePattern(s string) (db, match string, err error) {
	if strings.HasSuffix(s, "/") {
		i := strings.Index(s, "./")
		if i <= 0 || len(s) < i+4 {
			return "", "", fmt.Errorf("%q is not db.table or db./regex/", s)
		}
		db, match = s[:i], s[i+1:]
		if _, err := regexp.Compile(match[1 : len(match)-1]); err != nil {
			return "", "", fmt.Errorf("bad regular expression in %q: %w", s, err)
		}
		return db, match, nil
	}
	i := strings.LastIndexByte(s, '.')
	if i <= 0 || i == len(s)-1 {
		return "", "", fmt.Errorf("%q is not db.table or db./regex/", s)
	}
	return s[:i], s[i+1:], nil
}

// Bounds of Resources: a worker needs a few MHz and some 30 MiB to run at all, and nothing it
// does needs more than a whole large machine.
const (
	MinMemoryMB = 32
	MaxCPU      = 100_000
	MaxMemoryMB = 64 << 10
)

func (r *Resources) validate(field string) error {
	if r.CPU < 0 || r.CPU > MaxCPU {
		return FieldError(field+".cpu", "must be between 1 and %d MHz, got %d", MaxCPU, r.CPU)
	}
	if r.MemoryMB != 0 && (r.MemoryMB < MinMemoryMB || r.MemoryMB > MaxMemoryMB) {
		return FieldError(field+".memory_mb", "must be between %d and %d MiB, got %d", MinMemoryMB, MaxMemoryMB, r.MemoryMB)
	}
	if r.MemoryMaxMB != 0 && (r.MemoryMaxMB < MinMemoryMB || r.MemoryMaxMB > MaxMemoryMB) {
		return FieldError(field+".memory_max_mb", "must be between %d and %d MiB, got %d", MinMemoryMB, MaxMemoryMB, r.MemoryMaxMB)
	}
	if r.MemoryMB != 0 && r.MemoryMaxMB != 0 && r.MemoryMaxMB < r.MemoryMB {
		return FieldError(field+".memory_max_mb", "must not be below memory_mb (%d), got %d", r.MemoryMB, r.MemoryMaxMB)
	}
	return nil
}

func (s *Source) validate(field string) error {
	if strings.TrimSpace(s.Host) == "" {
		return FieldError(field+".host", "is required")
	}
	if strings.ContainsAny(s.Host, " /:") && net.ParseIP(s.Host) == nil {
		return FieldError(field+".host", "%q is not a host name or IP address", s.Host)
	}
	if s.Port < 1 || s.Port > 65535 {
		return FieldError(field+".port", "must be between 1 and 65535, got %d", s.Port)
	}
	if s.Password != "" && s.Username == "" {
		return FieldError(field+".username", "is required when a password is given")
	}
	if s.TLS != nil {
		if err := s.TLS.validate(field + ".tls"); err != nil {
			return err
		}
	}
	return nil
}

func (k *Kafka) validate(field string, alter bool) error {
	if strings.TrimSpace(k.Addr) == "" {
		return FieldError(field+".addr", "is required (comma-separated brokers, host:port)")
	}
	for _, b := range strings.Split(k.Addr, ",") {
		b = strings.TrimSpace(b)
		host, port, err := net.SplitHostPort(b)
		if err != nil || host == "" {
			return FieldError(field+".addr", "%q is not host:port", b)
		}
		if p, err := strconv.Atoi(port); err != nil || p < 1 || p > 65535 {
			return FieldError(field+".addr", "%q: port must be between 1 and 65535", b)
		}
	}
	if mode, ok := k.TopicModeValue(); ok {
		if mode != TopicModeDatabase && mode != TopicModeTable {
			return FieldError(field+".topic_mode", "must be 0 (topic = dbname) or 1 (topic = dbname_tablename), got %d", mode)
		}
		// The router ignores topic in these modes; accepting both would hide that.
		if k.Topic != "" {
			return FieldError(field+".topic", "is ignored when topic_mode is set (0: the topic is the database name, 1: dbname_tablename); remove topic or topic_mode")
		}
	} else if strings.TrimSpace(k.Topic) == "" {
		return FieldError(field+".topic", "is required when topic_mode is not set")
	}
	if k.Topic != "" {
		if err := ValidTopic(k.Topic); err != nil {
			return FieldError(field+".topic", "%v", err)
		}
	}
	switch k.PartitionMode {
	case "", PartitionByTable, PartitionByPrimaryKey:
		if len(k.PartitionColumns) > 0 {
			return FieldError(field+".partition_columns", "is only used with partition_mode \"column\"")
		}
	case PartitionByColumn:
		if len(k.PartitionColumns) == 0 {
			return FieldError(field+".partition_columns", "is required with partition_mode \"column\"")
		}
	default:
		return FieldError(field+".partition_mode", "unknown mode %q: use table, column or primary_key", k.PartitionMode)
	}
	for i, c := range k.PartitionColumns {
		if strings.TrimSpace(c) == "" {
			return FieldError(fmt.Sprintf("%s.partition_columns[%d]", field, i), "is empty")
		}
	}
	switch k.ProducerPartitionByFallback {
	case "", PartitionByTable, PartitionByPrimaryKey:
	default:
		return FieldError(field+".producer_partition_by_fallback", "unknown fallback %q: use table or primary_key", k.ProducerPartitionByFallback)
	}
	for i, c := range k.ExcludeColumns {
		if strings.TrimSpace(c) == "" {
			return FieldError(fmt.Sprintf("%s.exclude_columns[%d]", field, i), "is empty")
		}
	}
	if k.MaxMessageBytes < 0 || k.MaxMessageBytes > 0 && (k.MaxMessageBytes < 1024 || k.MaxMessageBytes > 64<<20) {
		return FieldError(field+".max_message_bytes", "must be between 1024 and %d bytes, got %d", 64<<20, k.MaxMessageBytes)
	}
	if k.TLS != nil {
		if err := k.TLS.validate(field+".tls", alter); err != nil {
			return err
		}
	}
	if k.SASL != nil {
		if err := k.SASL.validate(field+".sasl", alter); err != nil {
			return err
		}
	}
	switch k.Delivery {
	case "", AtLeastOnce, ExactlyOnce:
	default:
		return FieldError(field+".delivery", "unknown guarantee %q: use at_least_once or exactly_once", k.Delivery)
	}
	if k.Delivery != ExactlyOnce && (k.CheckpointTopic != "" || k.TransactionalID != "" || k.CommitIntervalMS != 0) {
		return FieldError(field+".delivery", "must be exactly_once for checkpoint_topic, transactional_id and commit_interval_ms")
	}
	if k.CheckpointTopic != "" {
		if err := ValidTopic(k.CheckpointTopic); err != nil {
			return FieldError(field+".checkpoint_topic", "%v", err)
		}
	}
	if k.CommitIntervalMS < 0 || k.CommitIntervalMS > 60000 {
		return FieldError(field+".commit_interval_ms", "must be between 1 and 60000, got %d", k.CommitIntervalMS)
	}
	if len(k.TransactionalID) > 200 {
		return FieldError(field+".transactional_id", "must be at most 200 characters")
	}
	switch k.OversizedRows {
	case "", OversizedFail, OversizedSkip:
	default:
		return FieldError(field+".oversized_rows", "unknown policy %q: use fail or skip", k.OversizedRows)
	}
	switch k.Compression {
	case "", "none", "gzip", "snappy", "lz4", "zstd":
	default:
		return FieldError(field+".compression", "unknown codec %q: use none, gzip, snappy, lz4 or zstd", k.Compression)
	}
	return k.validateFormat(field)
}

// validateFormat checks kafka.format and the options that belong to one format: given with
// another, they would silently change nothing.
func (k *Kafka) validateFormat(field string) error {
	format := k.Format
	switch format {
	case "":
		format = FormatDTS
	case FormatDTS, FormatCanal, FormatMaxwell, FormatDebezium:
	default:
		return FieldError(field+".format", "unknown format %q: use dts, canal, maxwell or debezium", k.Format)
	}
	if k.FlatFormat && format != FormatDTS {
		return FieldError(field+".flat_format", "applies to format dts only; %s messages have a fixed shape: remove flat_format", format)
	}
	if format != FormatDebezium {
		switch {
		case k.DebeziumSchema:
			return FieldError(field+".debezium_schema", "applies to format debezium only")
		case k.DebeziumTombstones != nil:
			return FieldError(field+".debezium_tombstones", "applies to format debezium only")
		case k.DebeziumDecimal != "":
			return FieldError(field+".debezium_decimal", "applies to format debezium only")
		}
	}
	switch k.DebeziumDecimal {
	case "", DebeziumDecimalPrecise, DebeziumDecimalString, DebeziumDecimalDouble:
	default:
		return FieldError(field+".debezium_decimal", "unknown mode %q: use precise, string or double", k.DebeziumDecimal)
	}
	return nil
}

// MaxIdentifierLength is MySQL's limit on database and table names, in characters.
const MaxIdentifierLength = 64

// identifier checks a database or table name: no server holds a longer one, and control
// characters (NUL, newline) would end up in SQL and log lines.
func identifier(field, what, name string) error {
	if n := utf8.RuneCountInString(name); n > MaxIdentifierLength {
		return FieldError(field, "%smust be at most %d characters (MySQL's limit), got %d", what, MaxIdentifierLength, n)
	}
	for i, r := range []rune(name) {
		if unicode.IsControl(r) {
			return FieldError(field, "must not contain control characters (%U at character %d)", r, i+1)
		}
	}
	return nil
}
