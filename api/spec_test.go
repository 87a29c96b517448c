package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/dtsrepl/dts/internal/testenv"
)

func intp(v int) *int    { return &v }
func boolp(v bool) *bool { return &v }

// validSpec is a complete, valid submit body.
func validSpec() *TaskSpec {
	return &TaskSpec{
		Source: &Source{Host: "db1.example.com", Port: 3306, Username: "repl", Password: "secret"},
		Kafka:  Kafka{Addr: "k1:9092,k2:9092", Topic: "cdc"},
		Filters: []Filter{
			{DBName: "shop", Match: "orders"},
			{DBName: "crm", Match: `/contacts_\d+/`, Filter: "status = 1"},
		},
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name    string
		change  func(s *TaskSpec)
		wantErr string // "" for valid
	}{
		{"valid", func(s *TaskSpec) {}, ""},
		{"valid without credentials", func(s *TaskSpec) { s.Source.Username, s.Source.Password = "", "" }, ""},
		{"valid with a username only", func(s *TaskSpec) { s.Source.Password = "" }, ""},
		{"valid IPv4 host", func(s *TaskSpec) { s.Source.Host = "10.0.0.5" }, ""},
		{"valid IPv6 host", func(s *TaskSpec) { s.Source.Host = "fd00::5" }, ""},
		{"valid IPv6 broker", func(s *TaskSpec) { s.Kafka.Addr = "[fd00::1]:9092" }, ""},
		{"valid brokers with spaces", func(s *TaskSpec) { s.Kafka.Addr = " k1:9092 , k2:9093 " }, ""},
		{"valid topic_mode 0 without topic", func(s *TaskSpec) { s.Kafka.Topic, s.Kafka.TopicMode = "", intp(0) }, ""},
		{"valid topic with one leading underscore", func(s *TaskSpec) { s.Kafka.Topic = "_cdc" }, ""},
		{"valid topic_mode 1 without topic", func(s *TaskSpec) { s.Kafka.Topic, s.Kafka.TopicMode = "", intp(1) }, ""},
		{"valid partition by column", func(s *TaskSpec) {
			s.Kafka.PartitionMode, s.Kafka.PartitionColumns = "column", StringList{"customer_id"}
			s.Kafka.ProducerPartitionByFallback = "primary_key"
		}, ""},
		{"valid partition by primary key", func(s *TaskSpec) { s.Kafka.PartitionMode = "primary_key" }, ""},
		{"valid partition by table", func(s *TaskSpec) { s.Kafka.PartitionMode = "table" }, ""},
		{"valid compressions", func(s *TaskSpec) { s.Kafka.Compression = "zstd" }, ""},
		{"valid exclude columns", func(s *TaskSpec) { s.Kafka.ExcludeColumns = StringList{"password", "ssn"} }, ""},
		{"valid rate limit", func(s *TaskSpec) { s.RateLimit = &RateLimit{Rate: 0.5, Capacity: 10} }, ""},
		{"valid filter without match", func(s *TaskSpec) { s.Filters = []Filter{{DBName: "shop"}} }, ""},
		{"valid incr false", func(s *TaskSpec) { s.Incr = boolp(false) }, ""},

		{"no source", func(s *TaskSpec) { s.Source = nil }, "task.source: is required"},
		{"no host", func(s *TaskSpec) { s.Source.Host = " " }, "task.source.host: is required"},
		{"host with a port", func(s *TaskSpec) { s.Source.Host = "db1:3306" }, `task.source.host: "db1:3306" is not a host name or IP address`},
		{"host with a space", func(s *TaskSpec) { s.Source.Host = "db 1" }, `task.source.host: "db 1" is not a host name or IP address`},
		{"host URL", func(s *TaskSpec) { s.Source.Host = "mysql://db1" }, `task.source.host: "mysql://db1" is not a host name or IP address`},
		{"port 0", func(s *TaskSpec) { s.Source.Port = 0 }, "task.source.port: must be between 1 and 65535, got 0"},
		{"port too large", func(s *TaskSpec) { s.Source.Port = 65536 }, "task.source.port: must be between 1 and 65535, got 65536"},
		{"password without username", func(s *TaskSpec) { s.Source.Username = "" }, "task.source.username: is required when a password is given"},
		{"no brokers", func(s *TaskSpec) { s.Kafka.Addr = "" }, "task.kafka.addr: is required (comma-separated brokers, host:port)"},
		{"broker without port", func(s *TaskSpec) { s.Kafka.Addr = "k1" }, `task.kafka.addr: "k1" is not host:port`},
		{"broker without host", func(s *TaskSpec) { s.Kafka.Addr = ":9092" }, `task.kafka.addr: ":9092" is not host:port`},
		{"trailing comma", func(s *TaskSpec) { s.Kafka.Addr = "k1:9092," }, `task.kafka.addr: "" is not host:port`},
		{"broker port 0", func(s *TaskSpec) { s.Kafka.Addr = "k1:0" }, `task.kafka.addr: "k1:0": port must be between 1 and 65535`},
		{"broker port name", func(s *TaskSpec) { s.Kafka.Addr = "k1:kafka" }, `task.kafka.addr: "k1:kafka": port must be between 1 and 65535`},
		{"no topic and no topic_mode", func(s *TaskSpec) { s.Kafka.Topic = "" }, "task.kafka.topic: is required when topic_mode is not set"},
		{"bad topic_mode", func(s *TaskSpec) { s.Kafka.TopicMode = intp(2) }, "task.kafka.topic_mode: must be 0 (topic = dbname) or 1 (topic = dbname_tablename), got 2"},
		{"negative topic_mode", func(s *TaskSpec) { s.Kafka.TopicMode = intp(-1) }, "task.kafka.topic_mode: must be 0 (topic = dbname) or 1 (topic = dbname_tablename), got -1"},
		{"illegal topic", func(s *TaskSpec) { s.Kafka.Topic = "cdc/orders" }, `task.kafka.topic: topic "cdc/orders" has '/': only letters, digits, '.', '_' and '-' are allowed`},
		{"topic with topic_mode", func(s *TaskSpec) { s.Kafka.TopicMode = intp(1) }, `task.kafka.topic: is ignored when topic_mode is set (0: the topic is the database name, 1: dbname_tablename); remove topic or topic_mode`},
		{"topic with topic_mode 0", func(s *TaskSpec) { s.Kafka.TopicMode = intp(0) }, `task.kafka.topic: is ignored when topic_mode is set (0: the topic is the database name, 1: dbname_tablename); remove topic or topic_mode`},
		{"internal topic", func(s *TaskSpec) { s.Kafka.Topic = "__consumer_offsets" }, `task.kafka.topic: "__consumer_offsets" starts with "__", which Kafka reserves for its internal topics`},
		{"transaction topic", func(s *TaskSpec) { s.Kafka.Topic = "__transaction_state" }, `task.kafka.topic: "__transaction_state" starts with "__", which Kafka reserves for its internal topics`},
		{"other __ topic", func(s *TaskSpec) { s.Kafka.Topic = "__x" }, `task.kafka.topic: "__x" starts with "__", which Kafka reserves for its internal topics`},
		{"dbname of 64 characters", func(s *TaskSpec) { s.Filters[0].DBName = strings.Repeat("é", 64) }, ""},
		{"dbname of 65 characters", func(s *TaskSpec) { s.Filters[0].DBName = strings.Repeat("d", 65) }, "task.filters[0].dbname: must be at most 64 characters (MySQL's limit), got 65"},
		{"dbname with NUL", func(s *TaskSpec) { s.Filters[0].DBName = "shop\x00x" }, `task.filters[0].dbname: must not contain control characters (U+0000 at character 5)`},
		{"dbname with a newline", func(s *TaskSpec) { s.Filters[1].DBName = "crm\n" }, `task.filters[1].dbname: must not contain control characters (U+000A at character 4)`},
		{"dbname with DEL", func(s *TaskSpec) { s.Filters[1].DBName = "c\x7frm" }, `task.filters[1].dbname: must not contain control characters (U+007F at character 2)`},
		{"table of 64 characters", func(s *TaskSpec) { s.Filters[0].Match = strings.Repeat("t", 64) }, ""},
		{"table of 65 characters", func(s *TaskSpec) { s.Filters[0].Match = strings.Repeat("t", 65) }, "task.filters[0].match: a table name must be at most 64 characters (MySQL's limit), got 65"},
		{"table with NUL", func(s *TaskSpec) { s.Filters[0].Match = "orders\x00" }, `task.filters[0].match: must not contain control characters (U+0000 at character 7)`},
		{"table with a tab", func(s *TaskSpec) { s.Filters[0].Match = "ord\ters" }, `task.filters[0].match: must not contain control characters (U+0009 at character 4)`},
		{"long regex is not a table name", func(s *TaskSpec) { s.Filters[1].Match = "/" + strings.Repeat("a", 80) + "/" }, ""},
		{"unknown partition mode", func(s *TaskSpec) { s.Kafka.PartitionMode = "hash" }, `task.kafka.partition_mode: unknown mode "hash": use table, column or primary_key`},
		{"column mode without columns", func(s *TaskSpec) { s.Kafka.PartitionMode = "column" }, `task.kafka.partition_columns: is required with partition_mode "column"`},
		{"columns without column mode", func(s *TaskSpec) { s.Kafka.PartitionColumns = StringList{"a"} }, `task.kafka.partition_columns: is only used with partition_mode "column"`},
		{"columns with primary_key mode", func(s *TaskSpec) { s.Kafka.PartitionMode, s.Kafka.PartitionColumns = "primary_key", StringList{"a"} }, `task.kafka.partition_columns: is only used with partition_mode "column"`},
		{"empty partition column", func(s *TaskSpec) { s.Kafka.PartitionMode, s.Kafka.PartitionColumns = "column", StringList{"a", " "} }, "task.kafka.partition_columns[1]: is empty"},
		{"unknown fallback", func(s *TaskSpec) { s.Kafka.ProducerPartitionByFallback = "column" }, `task.kafka.producer_partition_by_fallback: unknown fallback "column": use table or primary_key`},
		{"empty exclude column", func(s *TaskSpec) { s.Kafka.ExcludeColumns = StringList{""} }, "task.kafka.exclude_columns[0]: is empty"},
		{"unknown compression", func(s *TaskSpec) { s.Kafka.Compression = "brotli" }, `task.kafka.compression: unknown codec "brotli": use none, gzip, snappy, lz4 or zstd`},
		{"format dts", func(s *TaskSpec) { s.Kafka.Format = "dts" }, ""},
		{"format dts flat", func(s *TaskSpec) { s.Kafka.Format, s.Kafka.FlatFormat = "dts", true }, ""},
		{"format canal", func(s *TaskSpec) { s.Kafka.Format = "canal" }, ""},
		{"format maxwell", func(s *TaskSpec) { s.Kafka.Format = "maxwell" }, ""},
		{"format debezium", func(s *TaskSpec) { s.Kafka.Format = "debezium" }, ""},
		{"format debezium with its options", func(s *TaskSpec) {
			s.Kafka.Format, s.Kafka.DebeziumSchema, s.Kafka.DebeziumTombstones, s.Kafka.DebeziumDecimal = "debezium", true, boolp(false), "string"
		}, ""},
		{"debezium decimal double", func(s *TaskSpec) { s.Kafka.Format, s.Kafka.DebeziumDecimal = "debezium", "double" }, ""},
		{"debezium decimal precise", func(s *TaskSpec) { s.Kafka.Format, s.Kafka.DebeziumDecimal = "debezium", "precise" }, ""},
		{"unknown format", func(s *TaskSpec) { s.Kafka.Format = "avro" }, `task.kafka.format: unknown format "avro": use dts, canal, maxwell or debezium`},
		{"format in upper case", func(s *TaskSpec) { s.Kafka.Format = "Canal" }, `task.kafka.format: unknown format "Canal": use dts, canal, maxwell or debezium`},
		{"flat_format with canal", func(s *TaskSpec) { s.Kafka.Format, s.Kafka.FlatFormat = "canal", true }, "task.kafka.flat_format: applies to format dts only; canal messages have a fixed shape: remove flat_format"},
		{"flat_format with debezium", func(s *TaskSpec) { s.Kafka.Format, s.Kafka.FlatFormat = "debezium", true }, "task.kafka.flat_format: applies to format dts only; debezium messages have a fixed shape: remove flat_format"},
		{"flat_format with maxwell", func(s *TaskSpec) { s.Kafka.Format, s.Kafka.FlatFormat = "maxwell", true }, "task.kafka.flat_format: applies to format dts only; maxwell messages have a fixed shape: remove flat_format"},
		{"debezium_schema without debezium", func(s *TaskSpec) { s.Kafka.DebeziumSchema = true }, "task.kafka.debezium_schema: applies to format debezium only"},
		{"debezium_tombstones with canal", func(s *TaskSpec) { s.Kafka.Format, s.Kafka.DebeziumTombstones = "canal", boolp(true) }, "task.kafka.debezium_tombstones: applies to format debezium only"},
		{"debezium_decimal with maxwell", func(s *TaskSpec) { s.Kafka.Format, s.Kafka.DebeziumDecimal = "maxwell", "string" }, "task.kafka.debezium_decimal: applies to format debezium only"},
		{"unknown debezium_decimal", func(s *TaskSpec) { s.Kafka.Format, s.Kafka.DebeziumDecimal = "debezium", "bigdecimal" }, `task.kafka.debezium_decimal: unknown mode "bigdecimal": use precise, string or double`},
		{"no filters", func(s *TaskSpec) { s.Filters = nil }, "task.filters: at least one filter is required (dbname and match)"},
		{"empty filters", func(s *TaskSpec) { s.Filters = []Filter{} }, "task.filters: at least one filter is required (dbname and match)"},
		{"filter without dbname", func(s *TaskSpec) { s.Filters[1].DBName = "" }, "task.filters[1].dbname: is required"},
		{"filter with a blank dbname", func(s *TaskSpec) { s.Filters[0].DBName = "  " }, "task.filters[0].dbname: is required"},
		{"dbname pattern", func(s *TaskSpec) { s.Filters[0].DBName = "shop*" }, "task.filters[0].dbname: must be an exact database name, not a pattern"},
		{"dbname regexp", func(s *TaskSpec) { s.Filters[1].DBName = "/crm.*/" }, "task.filters[1].dbname: must be an exact database name, not a pattern"},
		{"zero rate", func(s *TaskSpec) { s.RateLimit = &RateLimit{} }, "task.rate_limit.rate: must be a positive number of rows per second, got 0"},
		{"negative rate", func(s *TaskSpec) { s.RateLimit = &RateLimit{Rate: -1} }, "task.rate_limit.rate: must be a positive number of rows per second, got -1"},
		{"negative capacity", func(s *TaskSpec) { s.RateLimit = &RateLimit{Rate: 1, Capacity: -1} }, "task.rate_limit.capacity: must not be negative, got -1"},
		{"retention_warn_share", func(s *TaskSpec) { s.RetentionWarnShare = 0.5 }, ""},
		{"retention_warn_share small", func(s *TaskSpec) { s.RetentionWarnShare = 0.001 }, ""},
		{"negative retention_warn_share", func(s *TaskSpec) { s.RetentionWarnShare = -0.1 }, "task.retention_warn_share: must be a share of the binlog retention above 0 and below 1 (0.25: warn once less than a quarter of it is left), got -0.1"},
		{"whole retention_warn_share", func(s *TaskSpec) { s.RetentionWarnShare = 1 }, "task.retention_warn_share: must be a share of the binlog retention above 0 and below 1 (0.25: warn once less than a quarter of it is left), got 1"},
		{"retention_warn_share as a percentage", func(s *TaskSpec) { s.RetentionWarnShare = 25 }, "task.retention_warn_share: must be a share of the binlog retention above 0 and below 1 (0.25: warn once less than a quarter of it is left), got 25"},
		{"first bad field is named", func(s *TaskSpec) { s.Source.Port = 0; s.Kafka.Addr = "" }, "task.source.port: must be between 1 and 65535, got 0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := validSpec()
			tt.change(s)
			err := s.Validate()
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate succeeded, want %q", tt.wantErr)
			}
			if err.Error() != tt.wantErr {
				t.Errorf("Validate error\n got %q\nwant %q", err, tt.wantErr)
			}
			var ae *Error
			if !errors.As(err, &ae) || ae.Code != CodeBadRequest {
				t.Errorf("Validate error %#v is not a -400 *Error", err)
			}
		})
	}
}

func TestValidateAlter(t *testing.T) {
	tests := []struct {
		name    string
		change  func(s *TaskSpec)
		wantErr string
	}{
		{"source and incr may be omitted", func(s *TaskSpec) { s.Source, s.Incr = nil, nil }, ""},
		{"full spec", func(s *TaskSpec) {}, ""},
		{"a given source is checked", func(s *TaskSpec) { s.Source.Port = 0 }, "task.source.port: must be between 1 and 65535, got 0"},
		{"kafka is checked", func(s *TaskSpec) { s.Source = nil; s.Kafka.Addr = "" }, "task.kafka.addr: is required (comma-separated brokers, host:port)"},
		{"filters are checked", func(s *TaskSpec) { s.Source = nil; s.Filters = nil }, "task.filters: at least one filter is required (dbname and match)"},
		{"rate limit is checked", func(s *TaskSpec) { s.Source = nil; s.RateLimit = &RateLimit{Rate: 0} }, "task.rate_limit.rate: must be a positive number of rows per second, got 0"},
	}
	for _, tt := range tests {
		s := validSpec()
		tt.change(s)
		err := s.ValidateAlter()
		got := ""
		if err != nil {
			got = err.Error()
		}
		if got != tt.wantErr {
			t.Errorf("%s: ValidateAlter error %q, want %q", tt.name, got, tt.wantErr)
		}
	}
}

// TestValidateKafkaSecrets: a submit gives every Kafka secret its settings need; an alter may
// leave them out (the stored ones are kept, see Alter), but what it gives is checked.
func TestValidateKafkaSecrets(t *testing.T) {
	ca := testenv.NewCA(t, "ca")
	client := ca.Issue(t, "dts")
	other := ca.Issue(t, "other")
	tests := []struct {
		name              string
		tls               *KafkaTLS
		sasl              *KafkaSASL
		submitErr, altErr string
	}{
		{"certificate and key", &KafkaTLS{Enabled: true, CAPEM: ca.PEM, CertPEM: client.CertPEM, KeyPEM: client.KeyPEM}, nil, "", ""},
		{"certificate without its key", &KafkaTLS{Enabled: true, CertPEM: client.CertPEM}, nil, "task.kafka.tls.key_pem: is required with cert_pem", ""},
		{"a key that is not the certificate's", &KafkaTLS{Enabled: true, CertPEM: client.CertPEM, KeyPEM: other.KeyPEM}, nil, "task.kafka.tls.cert_pem", "task.kafka.tls.cert_pem"},
		{"a certificate that does not parse", &KafkaTLS{Enabled: true, CertPEM: "not a certificate"}, nil, "task.kafka.tls.key_pem", "task.kafka.tls.cert_pem"},
		{"key without certificate", &KafkaTLS{Enabled: true, KeyPEM: client.KeyPEM}, nil, "task.kafka.tls.cert_pem: is required with key_pem", "task.kafka.tls.cert_pem: is required with key_pem"},
		{"SASL with its password", nil, &KafkaSASL{Mechanism: SASLScramSHA256, Username: "u", Password: "p"}, "", ""},
		{"SASL without a password", nil, &KafkaSASL{Mechanism: SASLScramSHA256, Username: "u"}, "task.kafka.sasl.password: is required", ""},
		{"SASL password without a user", nil, &KafkaSASL{Mechanism: SASLScramSHA256, Password: "p"}, "task.kafka.sasl.username", "task.kafka.sasl.username"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, alter := range []bool{false, true} {
				s := validSpec()
				s.Kafka.TLS, s.Kafka.SASL = tt.tls, tt.sasl
				err, want := s.Validate(), tt.submitErr
				if alter {
					err, want = s.ValidateAlter(), tt.altErr
				}
				if want == "" && err != nil || want != "" && (err == nil || !strings.HasPrefix(err.Error(), want)) {
					t.Errorf("alter %v: %v, want %q", alter, err, want)
				}
			}
		})
	}
}

func TestValidTopic(t *testing.T) {
	tests := []struct {
		name    string
		wantErr string
	}{
		{"cdc", ""},
		{"shop_orders", ""},
		{"shop.orders-v2", ""},
		{"A-Z_a-z.0-9", ""},
		{"...", ""},
		{strings.Repeat("a", MaxTopicLength), ""},
		{"", `"" is not a valid topic name`},
		{".", `"." is not a valid topic name`},
		{"..", `".." is not a valid topic name`},
		{strings.Repeat("a", MaxTopicLength+1), "topic name is longer than 249 characters"},
		{"a b", `topic "a b" has ' ': only letters, digits, '.', '_' and '-' are allowed`},
		{"a/b", `topic "a/b" has '/': only letters, digits, '.', '_' and '-' are allowed`},
		{"café", `topic "café" has 'é': only letters, digits, '.', '_' and '-' are allowed`},
		{"a:b", `topic "a:b" has ':': only letters, digits, '.', '_' and '-' are allowed`},
	}
	for _, tt := range tests {
		err := ValidTopic(tt.name)
		got := ""
		if err != nil {
			got = err.Error()
		}
		if got != tt.wantErr {
			t.Errorf("ValidTopic(%q) = %q, want %q", tt.name, got, tt.wantErr)
		}
	}
}

func TestStringListUnmarshal(t *testing.T) {
	tests := []struct {
		in      string
		want    StringList
		wantErr bool
	}{
		{`["a","b"]`, StringList{"a", "b"}, false},
		{`"a, b"`, StringList{"a", "b"}, false},
		{`"a,b"`, StringList{"a", "b"}, false},
		{`" a ,, b ,"`, StringList{"a", "b"}, false},
		{`"single"`, StringList{"single"}, false},
		{`""`, nil, false},
		{`" , "`, nil, false},
		{`null`, nil, false},
		{`[]`, StringList{}, false},
		{`["a"]`, StringList{"a"}, false},
		{`"a\u002c b"`, StringList{"a", "b"}, false},
		{`123`, nil, true},
		{`["a", 1]`, nil, true},
		{`{"a":1}`, nil, true},
		{`true`, nil, true},
	}
	for _, tt := range tests {
		var got StringList
		err := json.Unmarshal([]byte(tt.in), &got)
		if (err != nil) != tt.wantErr {
			t.Errorf("Unmarshal(%s): error %v, want error: %v", tt.in, err, tt.wantErr)
			continue
		}
		if !tt.wantErr && !reflect.DeepEqual(got, tt.want) {
			t.Errorf("Unmarshal(%s) = %#v, want %#v", tt.in, got, tt.want)
		}
	}
}

// TestStringListInSpec: both forms are accepted inside a task body and the list is written back
// as an array.
func TestStringListInSpec(t *testing.T) {
	tests := []struct {
		body string
		want StringList
	}{
		{`{"kafka":{"addr":"k:9092","partition_columns":"a, b"},"filters":[]}`, StringList{"a", "b"}},
		{`{"kafka":{"addr":"k:9092","partition_columns":["a","b"]},"filters":[]}`, StringList{"a", "b"}},
		{`{"kafka":{"addr":"k:9092"},"filters":[]}`, nil},
	}
	for _, tt := range tests {
		var s TaskSpec
		if err := json.Unmarshal([]byte(tt.body), &s); err != nil {
			t.Fatalf("Unmarshal(%s): %v", tt.body, err)
		}
		if !reflect.DeepEqual(s.Kafka.PartitionColumns, tt.want) {
			t.Errorf("Unmarshal(%s): partition_columns %#v, want %#v", tt.body, s.Kafka.PartitionColumns, tt.want)
		}
		b, err := json.Marshal(s.Kafka)
		if err != nil {
			t.Fatal(err)
		}
		if tt.want != nil && !strings.Contains(string(b), `"partition_columns":["a","b"]`) {
			t.Errorf("Marshal wrote %s, want partition_columns as an array", b)
		}
		if tt.want == nil && strings.Contains(string(b), "partition_columns") {
			t.Errorf("Marshal wrote %s, want no partition_columns", b)
		}
	}
}

func TestTaskSpecEqual(t *testing.T) {
	tests := []struct {
		name   string
		change func(s *TaskSpec)
		want   bool
	}{
		{"identical", func(s *TaskSpec) {}, true},
		{"another topic", func(s *TaskSpec) { s.Kafka.Topic = "other" }, false},
		{"topic_mode 0 vs absent", func(s *TaskSpec) { s.Kafka.TopicMode = intp(0) }, false},
		{"another filter", func(s *TaskSpec) { s.Filters[0].Match = "lines" }, false},
		{"filters reordered", func(s *TaskSpec) { s.Filters[0], s.Filters[1] = s.Filters[1], s.Filters[0] }, false},
		{"row filter", func(s *TaskSpec) { s.Filters[0].Filter = "a = 1" }, false},
		{"rate limit added", func(s *TaskSpec) { s.RateLimit = &RateLimit{Rate: 10} }, false},
		{"incr set", func(s *TaskSpec) { s.Incr = boolp(false) }, false},
		{"password", func(s *TaskSpec) { s.Source.Password = "other" }, false},
		{"source removed", func(s *TaskSpec) { s.Source = nil }, false},
		{"flat format", func(s *TaskSpec) { s.Kafka.FlatFormat = true }, false},
		{"exclude columns", func(s *TaskSpec) { s.Kafka.ExcludeColumns = StringList{"x"} }, false},
	}
	for _, tt := range tests {
		a, b := validSpec(), validSpec()
		tt.change(b)
		if got := a.Equal(b); got != tt.want {
			t.Errorf("%s: Equal = %v, want %v", tt.name, got, tt.want)
		}
		if got := b.Equal(a); got != tt.want {
			t.Errorf("%s: Equal reversed = %v, want %v", tt.name, got, tt.want)
		}
	}
	// Both list forms of a body are the same spec.
	var x, y TaskSpec
	if err := json.Unmarshal([]byte(`{"kafka":{"addr":"k:1","exclude_columns":"a, b"},"filters":[{"dbname":"d","match":""}]}`), &x); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(`{"kafka":{"addr":"k:1","exclude_columns":["a","b"]},"filters":[{"dbname":"d","match":""}]}`), &y); err != nil {
		t.Fatal(err)
	}
	if !x.Equal(&y) {
		t.Errorf("a comma-separated list and an array of the same names are not Equal")
	}
}

func TestTaskSpecClone(t *testing.T) {
	specs := []struct {
		name string
		spec *TaskSpec
	}{
		{"full", func() *TaskSpec {
			s := validSpec()
			s.Kafka.TopicMode = intp(1)
			s.Kafka.PartitionMode, s.Kafka.PartitionColumns = "column", StringList{"a", "b"}
			s.Kafka.ExcludeColumns = StringList{"pw"}
			s.RateLimit = &RateLimit{Rate: 100, Capacity: 5}
			s.Incr = boolp(false)
			return s
		}()},
		{"minimal", &TaskSpec{Kafka: Kafka{Addr: "k:1", Topic: "t"}, Filters: []Filter{{DBName: "d"}}}},
	}
	for _, tt := range specs {
		c := tt.spec.Clone()
		if !reflect.DeepEqual(c, tt.spec) {
			t.Errorf("%s: Clone() = %+v, want %+v", tt.name, c, tt.spec)
		}
		if !c.Equal(tt.spec) {
			t.Errorf("%s: clone not Equal", tt.name)
		}
		// Nothing is shared.
		if c.Source != nil {
			c.Source.Host = "changed"
		}
		if c.Kafka.TopicMode != nil {
			*c.Kafka.TopicMode = 0
		}
		if c.Incr != nil {
			*c.Incr = true
		}
		if c.RateLimit != nil {
			c.RateLimit.Rate = 1
		}
		if len(c.Kafka.PartitionColumns) > 0 {
			c.Kafka.PartitionColumns[0] = "changed"
		}
		c.Filters[0].DBName = "changed"
		if c.Equal(tt.spec) {
			t.Errorf("%s: changing the clone changed the original", tt.name)
		}
		if tt.spec.Filters[0].DBName == "changed" || tt.spec.Source != nil && tt.spec.Source.Host == "changed" ||
			tt.spec.Kafka.TopicMode != nil && *tt.spec.Kafka.TopicMode != 1 || tt.spec.Incr != nil && *tt.spec.Incr ||
			tt.spec.RateLimit != nil && tt.spec.RateLimit.Rate != 100 || len(tt.spec.Kafka.PartitionColumns) > 0 && tt.spec.Kafka.PartitionColumns[0] != "a" {
			t.Errorf("%s: the clone shares memory with the original: %+v", tt.name, tt.spec)
		}
	}
}

func TestTaskSpecRedacted(t *testing.T) {
	tests := []struct {
		name   string
		source *Source
		want   *Source
	}{
		{"password removed, the rest kept", &Source{Host: "h", Port: 1, Username: "u", Password: "p", ServerID: 7}, &Source{Host: "h", Port: 1, Username: "u", ServerID: 7}},
		{"no password", &Source{Host: "h", Port: 1}, &Source{Host: "h", Port: 1}},
		{"no source", nil, nil},
	}
	for _, tt := range tests {
		s := validSpec()
		s.Source = tt.source
		r := s.Redacted()
		if !reflect.DeepEqual(r.Source, tt.want) {
			t.Errorf("%s: Redacted().Source = %+v, want %+v", tt.name, r.Source, tt.want)
		}
		if tt.source != nil && tt.source.Password != "" && s.Source.Password == "" {
			t.Errorf("%s: Redacted changed the original", tt.name)
		}
		b, _ := json.Marshal(r)
		if strings.Contains(string(b), "password") {
			t.Errorf("%s: redacted spec marshals a password: %s", tt.name, b)
		}
		r.Source = s.Source
		if !r.Equal(s) {
			t.Errorf("%s: Redacted changed more than the password", tt.name)
		}
	}
}

func TestIsIncrAndTopicMode(t *testing.T) {
	tests := []struct {
		incr      *bool
		wantIncr  bool
		mode      *int
		wantMode  int
		wantIsSet bool
	}{
		{nil, true, nil, 0, false},
		{boolp(true), true, intp(0), 0, true},
		{boolp(false), false, intp(1), 1, true},
	}
	for _, tt := range tests {
		s := &TaskSpec{Incr: tt.incr, Kafka: Kafka{TopicMode: tt.mode}}
		if got := s.IsIncr(); got != tt.wantIncr {
			t.Errorf("IsIncr(%v) = %v, want %v", tt.incr, got, tt.wantIncr)
		}
		m, ok := s.Kafka.TopicModeValue()
		if m != tt.wantMode || ok != tt.wantIsSet {
			t.Errorf("TopicModeValue(%v) = %d, %v; want %d, %v", tt.mode, m, ok, tt.wantMode, tt.wantIsSet)
		}
	}
}

func TestSourceAddr(t *testing.T) {
	tests := []struct {
		s    Source
		want string
	}{
		{Source{Host: "db1", Port: 3306}, "db1:3306"},
		{Source{Host: "10.0.0.1", Port: 3307}, "10.0.0.1:3307"},
		{Source{Host: "fd00::1", Port: 3306}, "[fd00::1]:3306"},
	}
	for _, tt := range tests {
		if got := tt.s.Addr(); got != tt.want {
			t.Errorf("Addr() = %q, want %q", got, tt.want)
		}
	}
}

func TestErrors(t *testing.T) {
	tests := []struct {
		name       string
		err        error
		wantCode   int
		wantStatus int
	}{
		{"nil", nil, CodeOK, http.StatusOK},
		{"field error", FieldError("task.kafka.addr", "is required"), CodeBadRequest, http.StatusBadRequest},
		{"wrapped api error", fmt.Errorf("alter: %w", Errorf(CodeConflict, "busy")), CodeConflict, http.StatusConflict},
		{"not found", Errorf(CodeNotFound, "task %d not found", 3), CodeNotFound, http.StatusNotFound},
		{"unauthorized", Errorf(CodeUnauthorized, "no"), CodeUnauthorized, http.StatusUnauthorized},
		{"unavailable", Errorf(CodeUnavailable, "later"), CodeUnavailable, http.StatusServiceUnavailable},
		{"internal", Errorf(CodeInternal, "oops"), CodeInternal, http.StatusInternalServerError},
		{"plain error", errors.New("boom"), CodeInternal, http.StatusInternalServerError},
		{"unknown code", Errorf(-418, "teapot"), -418, http.StatusInternalServerError},
	}
	for _, tt := range tests {
		code := CodeOf(tt.err)
		if code != tt.wantCode {
			t.Errorf("%s: CodeOf = %d, want %d", tt.name, code, tt.wantCode)
		}
		if got := HTTPStatus(code); got != tt.wantStatus {
			t.Errorf("%s: HTTPStatus(%d) = %d, want %d", tt.name, code, got, tt.wantStatus)
		}
	}
	if got := FieldError("task.kafka.addr", "%q is not host:port", "x").Error(); got != `task.kafka.addr: "x" is not host:port` {
		t.Errorf("FieldError message %q", got)
	}
	if got := Errorf(CodeNotFound, "task %d not found", 3); got.Error() != "task 3 not found" || got.HTTPStatus() != http.StatusNotFound {
		t.Errorf("Errorf = %q, status %d", got.Error(), got.HTTPStatus())
	}
}

func TestFormatTime(t *testing.T) {
	shanghai := time.FixedZone("CST", 8*3600)
	tests := []struct {
		t    time.Time
		loc  *time.Location
		want string
	}{
		{time.Time{}, time.UTC, ""},
		{time.Date(2024, 5, 6, 7, 8, 9, 500, time.UTC), time.UTC, "2024-05-06 07:08:09"},
		{time.Date(2024, 5, 6, 20, 0, 0, 0, time.UTC), shanghai, "2024-05-07 04:00:00"},
	}
	for _, tt := range tests {
		if got := FormatTime(tt.t, tt.loc); got != tt.want {
			t.Errorf("FormatTime(%v, %v) = %q, want %q", tt.t, tt.loc, got, tt.want)
		}
	}
}
