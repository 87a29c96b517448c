package api

import (
	"errors"
	"strings"
	"testing"
)

// seedBody is the seed document's submit body.
const seedBody = `{"task":{"source":{"host":"127.0.0.1","port":5306,"username":"xes_replicator","password":"IYQBXGil84d44ee92cLjLHankV2rVyCg+"},"kafka":{"addr":"127.0.0.1:9092","topic":"replicator_test","flat_format":false},"filters":[{"dbname":"oa_data_service","match":"/xes_class_students_\\d+/","filter":""},{"dbname":"oa_data_service","match":"check_delay","filter":""}],"incr":true}}`

func TestDecodeSubmit(t *testing.T) {
	replace := func(old, new string) string {
		t.Helper()
		if !strings.Contains(seedBody, old) {
			t.Fatalf("%q is not in the seed body", old)
		}
		return strings.Replace(seedBody, old, new, 1)
	}
	tests := []struct {
		name, body, wantErr string // wantErr "" for valid
	}{
		{"the seed's body", seedBody, ""},
		{"server_id at its top", replace(`"port":5306`, `"port":5306,"server_id":4294967295`), ""},
		{"server_id 0 is the default", replace(`"port":5306`, `"port":5306,"server_id":0`), ""},
		{"null optional fields", replace(`"incr":true`, `"incr":null,"rate_limit":null`), ""},
		{"partition_columns as a string", replace(`"flat_format":false`, `"flat_format":false,"partition_mode":"column","partition_columns":"a, b"`), ""},
		{"debezium format with its options", replace(`"flat_format":false`, `"flat_format":false,"format":"debezium","debezium_schema":true,"debezium_tombstones":false,"debezium_decimal":"string"`), ""},
		{"debezium_tombstones as a string", replace(`"flat_format":false`, `"flat_format":false,"format":"debezium","debezium_tombstones":"no"`), "task.kafka.debezium_tombstones: must be true or false, got a JSON string"},

		{"empty", "", "body: is empty"},
		{"spaces", "  \n", "body: is empty"},
		{"not json", "task=1", "body: is not valid JSON"},
		{"truncated", seedBody[:len(seedBody)-2], "body: is not valid JSON"},
		{"trailing data", seedBody + "{}", "body: has data after the JSON object"},
		{"trailing garbage", seedBody + "x", "body: has data after the JSON object"},
		{"an array", `[1,2]`, "body: must be an object, got a JSON array"},
		{"a string", `"task"`, "body: must be an object, got a JSON string"},
		{"invalid UTF-8", replace(`"replicator_test"`, "\"replicator\xff\""), "body: is not valid UTF-8"},
		{"no task", `{}`, "task: is required"},
		{"null task", `{"task":null}`, "task: is required"},

		{"duplicate top-level key", `{"task":{},"task":{}}`, "task: duplicate key"},
		{"duplicate nested key", replace(`"addr":"127.0.0.1:9092"`, `"addr":"127.0.0.1:9092","addr":"10.0.0.1:9092"`), "task.kafka.addr: duplicate key"},
		{"duplicate key in a filter", replace(`"match":"check_delay"`, `"match":"check_delay","match":"x"`), "task.filters[1].match: duplicate key"},
		{"case-folded top-level key", strings.Replace(seedBody, `{"task"`, `{"Task"`, 1), `Task: unknown field (did you mean "task"?)`},
		{"case-folded nested key", replace(`"kafka":`, `"Kafka":`), `task.Kafka: unknown field (did you mean "kafka"?)`},
		{"upper-case key", replace(`"host":`, `"HOST":`), `task.source.HOST: unknown field (did you mean "host"?)`},
		{"unknown nested field", replace(`"port":5306`, `"port":5306,"ssl":true`), "task.source.ssl: unknown field"},
		{"unknown top-level field", `{"task":{},"bogus":1}`, "bogus: unknown field"},
		{"unknown field in a filter", replace(`"match":"check_delay"`, `"match":"check_delay","tables":"x"`), "task.filters[1].tables: unknown field"},

		{"port as a string", replace(`"port":5306`, `"port":"5306"`), "task.source.port: must be an integer, got a JSON string"},
		{"port as a fraction", replace(`"port":5306`, `"port":5306.5`), "task.source.port: must be an integer, got 5306.5"},
		{"port beyond int64", replace(`"port":5306`, `"port":99999999999999999999`), "task.source.port: must be between"},
		{"server_id negative", replace(`"port":5306`, `"port":5306,"server_id":-1`), "task.source.server_id: must be between 1 and 4294967295 (0 or absent: 1000000000 + the task id), got -1"},
		{"server_id too large", replace(`"port":5306`, `"port":5306,"server_id":4294967296`), "task.source.server_id: must be between 1 and 4294967295 (0 or absent: 1000000000 + the task id), got 4294967296"},
		{"incr as a string", replace(`"incr":true`, `"incr":"yes"`), "task.incr: must be true or false, got a JSON string"},
		{"filters as an object", replace(`"filters":[`, `"filters":{"x":[`) + "}", "task.filters: must be a list, got a JSON object"},
		{"a filter as a string", replace(`{"dbname":"oa_data_service","match":"check_delay","filter":""}`, `"x"`), "task.filters[1]: must be an object, got a JSON string"},
		{"dbname as a number", replace(`"dbname":"oa_data_service","match":"check_delay"`, `"dbname":1,"match":"check_delay"`), "task.filters[1].dbname: must be a string, got a JSON number"},
		{"exclude_columns element", replace(`"flat_format":false`, `"flat_format":false,"exclude_columns":["a",1]`), "task.kafka.exclude_columns[1]: must be a string, got a JSON number"},
		{"rate as a string", replace(`"incr":true`, `"incr":true,"rate_limit":{"rate":"10"}`), "task.rate_limit.rate: must be a number, got a JSON string"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spec, err := DecodeSubmit(strings.NewReader(tt.body))
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("DecodeSubmit: %v", err)
				}
				if spec == nil || spec.Source == nil || spec.Source.Host != "127.0.0.1" {
					t.Fatalf("decoded %+v", spec)
				}
				return
			}
			if err == nil {
				t.Fatalf("DecodeSubmit accepted it, want %q", tt.wantErr)
			}
			if !strings.HasPrefix(err.Error(), tt.wantErr) {
				t.Errorf("error\n got %q\nwant %q...", err, tt.wantErr)
			}
			var ae *Error
			if !errors.As(err, &ae) || ae.Code != CodeBadRequest {
				t.Errorf("error %#v is not a -400 *Error", err)
			}
		})
	}
}

func TestDecodeSubmitValues(t *testing.T) {
	spec, err := DecodeSubmit(strings.NewReader(strings.Replace(seedBody, `"port":5306`, `"port":5306,"server_id":4000000000`, 1)))
	if err != nil {
		t.Fatal(err)
	}
	if spec.Source.Port != 5306 || spec.Source.ServerID != 4000000000 || spec.Source.Password != "IYQBXGil84d44ee92cLjLHankV2rVyCg+" ||
		spec.Kafka.Topic != "replicator_test" || len(spec.Filters) != 2 || spec.Filters[0].Match != `/xes_class_students_\d+/` || !spec.IsIncr() {
		t.Errorf("decoded %+v %+v", *spec.Source, *spec)
	}
}

func TestDecodeTaskFile(t *testing.T) {
	bare := strings.TrimSuffix(strings.TrimPrefix(seedBody, `{"task":`), "}")
	for _, tt := range []struct {
		name, body, wantErr string
	}{
		{"a submit body", seedBody, ""},
		{"a bare task", bare, ""},
		{"a bare task names its fields under task", strings.Replace(bare, `"port":5306`, `"port":5306,"ssl":1`, 1), "task.source.ssl: unknown field"},
		{"a bare task with a duplicate key", strings.Replace(bare, `"incr":true`, `"incr":true,"incr":false`, 1), "task.incr: duplicate key"},
		{"case-folded task key", strings.Replace(seedBody, `{"task"`, `{"TASK"`, 1), `task.TASK: unknown field`},
	} {
		spec, err := DecodeTaskFile(strings.NewReader(tt.body))
		switch {
		case tt.wantErr == "" && err != nil:
			t.Errorf("%s: %v", tt.name, err)
		case tt.wantErr == "" && (spec == nil || spec.Kafka.Topic != "replicator_test"):
			t.Errorf("%s: decoded %+v", tt.name, spec)
		case tt.wantErr != "" && (err == nil || !strings.HasPrefix(err.Error(), tt.wantErr)):
			t.Errorf("%s: error %v, want %q", tt.name, err, tt.wantErr)
		}
	}
}

func TestParseTaskID(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int64
	}{
		{"1", 1}, {"42", 42}, {"9223372036854775807", 9223372036854775807},
		{"", 0}, {"0", 0}, {"+1", 0}, {"-1", 0}, {"01", 0}, {" 1", 0}, {"1 ", 0}, {"1e3", 0}, {"0x1", 0},
		{"1.0", 0}, {"9223372036854775808", 0}, {"99999999999999999999", 0}, {"١", 0},
	} {
		got, err := ParseTaskID(tc.in)
		if tc.want == 0 {
			if err == nil || !strings.Contains(err.Error(), "is not a task id") {
				t.Errorf("ParseTaskID(%q) = %d, %v; want an error", tc.in, got, err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("ParseTaskID(%q) = %d, %v; want %d", tc.in, got, err, tc.want)
		}
	}
}
