package worker_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/dtsrepl/dts/api"
	"github.com/dtsrepl/dts/internal/testenv"
)

// The consumers below read messages the way Flink's canal-json, maxwell-json and debezium-json
// formats do (flink-formats/flink-json: CanalJsonDeserializationSchema,
// MaxwellJsonDeserializationSchema, DebeziumJsonDeserializationSchema, on the converters of
// JsonToRowDataConverters), for a Flink table declared as
//
//	id INT, name STRING, price DECIMAL(10,2), qty INT, updated TIMESTAMP(3)
//
// (updated BIGINT for Debezium, whose DATETIME(3) is epoch milliseconds): each message becomes
// changelog rows (+I, -U, +U, -D) or a parse error, which Flink's ignore-parse-errors option
// skips. Fields a format's schema requires are checked with their JSON types.

// flinkRow is one changelog row: its kind and its columns as Flink would hold them, written as
// text ("<null>" for null) so rows compare as strings.
type flinkRow struct {
	kind string
	cols [5]string
}

// flinkColumns are the physical columns of the Flink table.
var flinkColumns = [5]string{"id", "name", "price", "qty", "updated"}

// errParse is a message Flink's deserializer refuses (the job fails, or skips it with
// ignore-parse-errors).
var errParse = errors.New("flink cannot deserialize the message")

func parseErr(format string, args ...any) error {
	return fmt.Errorf("%w: %s", errParse, fmt.Sprintf(format, args...))
}

// decodeNode reads a JSON value with numbers kept exact (Jackson's BigDecimal/BigInteger).
func decodeNode(b []byte) (any, error) {
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return nil, err
	}
	return v, nil
}

// flinkValue converts a JSON node to the Flink type of column i, as JsonToRowDataConverters
// does: INT from a number or a numeric string, STRING from text (a container as its JSON),
// DECIMAL from a number or numeric string, TIMESTAMP(3) from "yyyy-MM-dd HH:mm:ss[.fff]",
// BIGINT from a number or numeric string.
func flinkValue(i int, typ string, node any) (string, error) {
	if node == nil {
		return "<null>", nil
	}
	text := func() string {
		switch x := node.(type) {
		case string:
			return x
		case json.Number:
			return x.String()
		case bool:
			return strconv.FormatBool(x)
		}
		b, _ := json.Marshal(node)
		return string(b)
	}
	switch typ {
	case "INT", "BIGINT":
		bits := 32
		if typ == "BIGINT" {
			bits = 64
		}
		n, err := strconv.ParseInt(strings.TrimSpace(text()), 10, bits)
		if err != nil {
			return "", parseErr("%s %v is not an %s", flinkColumns[i], node, typ)
		}
		return strconv.FormatInt(n, 10), nil
	case "STRING":
		return text(), nil
	case "DECIMAL(10,2)":
		r, ok := new(big.Rat).SetString(text())
		if !ok {
			return "", parseErr("%s %v is not a DECIMAL", flinkColumns[i], node)
		}
		return r.FloatString(2), nil
	case "TIMESTAMP(3)":
		s, ok := node.(string)
		if !ok {
			return "", parseErr("%s %v is not a timestamp string", flinkColumns[i], node)
		}
		ts, err := time.Parse("2006-01-02 15:04:05.999999999", s)
		if err != nil {
			return "", parseErr("%s %q: %v", flinkColumns[i], s, err)
		}
		return ts.Format("2006-01-02 15:04:05.000"), nil
	}
	return "", fmt.Errorf("no Flink type %s", typ)
}

// flinkRowOf converts a JSON object to a row of the table; missing fields are null.
func flinkRowOf(kind string, obj any, types [5]string) (flinkRow, error) {
	m, ok := obj.(map[string]any)
	if !ok {
		return flinkRow{}, parseErr("row %v is not an object", obj)
	}
	r := flinkRow{kind: kind}
	for i, name := range flinkColumns {
		v, err := flinkValue(i, types[i], m[name])
		if err != nil {
			return flinkRow{}, err
		}
		r.cols[i] = v
	}
	return r, nil
}

var canalTypes = [5]string{"INT", "STRING", "DECIMAL(10,2)", "INT", "TIMESTAMP(3)"}

// requireType checks that a message field has the JSON type Flink's row type gives it (its
// metadata columns: database, table STRING; es, ts BIGINT; sqlType MAP<STRING,INT>; pkNames
// ARRAY<STRING>), null allowed where nullable.
func requireType(m map[string]any, field, want string, nullable bool) error {
	v := m[field]
	if v == nil {
		if nullable {
			return nil
		}
		return parseErr("%s is missing or null", field)
	}
	ok := false
	switch want {
	case "string":
		_, ok = v.(string)
	case "long":
		n, isNum := v.(json.Number)
		_, err := strconv.ParseInt(n.String(), 10, 64)
		ok = isNum && err == nil
	case "bool":
		_, ok = v.(bool)
	case "object":
		_, ok = v.(map[string]any)
	case "array":
		_, ok = v.([]any)
	case "map<string,int>":
		mm, isMap := v.(map[string]any)
		ok = isMap
		for _, x := range mm {
			n, isNum := x.(json.Number)
			_, err := strconv.ParseInt(n.String(), 10, 32)
			ok = ok && isNum && err == nil
		}
	case "array<string>":
		a, isArr := v.([]any)
		ok = isArr
		for _, x := range a {
			_, s := x.(string)
			ok = ok && s
		}
	}
	if !ok {
		return parseErr("%s is %T, want %s", field, v, want)
	}
	return nil
}

// canalConsumer is CanalJsonDeserializationSchema.deserialize.
func canalConsumer(_, value []byte) ([]flinkRow, error) {
	if len(value) == 0 {
		return nil, nil
	}
	node, err := decodeNode(value)
	if err != nil {
		return nil, parseErr("%v", err)
	}
	m, ok := node.(map[string]any)
	if !ok {
		return nil, parseErr("not an object")
	}
	for _, f := range []struct {
		name, typ string
		nullable  bool
	}{{"type", "string", false}, {"database", "string", false}, {"table", "string", false}, {"es", "long", false},
		{"ts", "long", false}, {"isDdl", "bool", false}, {"sqlType", "map<string,int>", true}, {"pkNames", "array<string>", true},
		{"data", "array", true}, {"old", "array", true}} {
		if err := requireType(m, f.name, f.typ, f.nullable); err != nil {
			return nil, err
		}
	}
	data, _ := m["data"].([]any)
	var out []flinkRow
	switch typ := m["type"].(string); typ {
	case "INSERT", "DELETE":
		kind := "+I"
		if typ == "DELETE" {
			kind = "-D"
		}
		for _, d := range data {
			r, err := flinkRowOf(kind, d, canalTypes)
			if err != nil {
				return nil, err
			}
			out = append(out, r)
		}
	case "UPDATE":
		old, _ := m["old"].([]any)
		for i, d := range data {
			after, err := flinkRowOf("+U", d, canalTypes)
			if err != nil {
				return nil, err
			}
			if i >= len(old) {
				return nil, parseErr("update without old")
			}
			before, err := flinkRowOf("-U", old[i], canalTypes)
			if err != nil {
				return nil, err
			}
			for f := range before.cols { // null or absent in "old": unchanged
				if before.cols[f] == "<null>" {
					before.cols[f] = after.cols[f]
				}
			}
			out = append(out, before, after)
		}
	case "CREATE": // a DDL: skipped
	default:
		return nil, parseErr("unknown \"type\" value %q", typ)
	}
	return out, nil
}

// maxwellConsumer is MaxwellJsonDeserializationSchema.deserialize; with bootstrapAsInsert it
// also reads bootstrap-insert as an insert, as Maxwell's bootstrapping.md tells consumers to
// (Flink's format refuses it).
func maxwellConsumer(bootstrapAsInsert bool) func(key, value []byte) ([]flinkRow, error) {
	return func(key, value []byte) ([]flinkRow, error) {
		if len(value) == 0 {
			return nil, nil
		}
		node, err := decodeNode(value)
		if err != nil {
			return nil, parseErr("%v", err)
		}
		m, ok := node.(map[string]any)
		if !ok {
			return nil, parseErr("not an object")
		}
		for _, f := range []struct {
			name, typ string
			nullable  bool
		}{{"type", "string", false}, {"database", "string", false}, {"table", "string", false}, {"ts", "long", false},
			{"data", "object", true}, {"old", "object", true}} {
			if err := requireType(m, f.name, f.typ, f.nullable); err != nil {
				return nil, err
			}
		}
		typ := m["type"].(string)
		if bootstrapAsInsert && typ == "bootstrap-insert" {
			typ = "insert"
		}
		switch typ {
		case "insert", "delete":
			kind := "+I"
			if typ == "delete" {
				kind = "-D"
			}
			r, err := flinkRowOf(kind, m["data"], canalTypes)
			if err != nil {
				return nil, err
			}
			return []flinkRow{r}, nil
		case "update":
			after, err := flinkRowOf("+U", m["data"], canalTypes)
			if err != nil {
				return nil, err
			}
			old, _ := m["old"].(map[string]any)
			before, err := flinkRowOf("-U", old, canalTypes)
			if err != nil {
				return nil, err
			}
			for f, name := range flinkColumns { // not in "old": unchanged
				if _, changed := old[name]; !changed {
					before.cols[f] = after.cols[f]
				}
			}
			return []flinkRow{before, after}, nil
		}
		return nil, parseErr("unknown \"type\" value %q", typ)
	}
}

var debeziumTypes = [5]string{"INT", "STRING", "DECIMAL(10,2)", "INT", "BIGINT"}

// debeziumConsumer is DebeziumJsonDeserializationSchema.deserialize (schema-include false):
// tombstones skipped, op c and r inserts, u an update, d a delete; a message without op (the
// schema change record) does not deserialize.
func debeziumConsumer(_, value []byte) ([]flinkRow, error) {
	if len(value) == 0 {
		return nil, nil
	}
	node, err := decodeNode(value)
	if err != nil {
		return nil, parseErr("%v", err)
	}
	m, ok := node.(map[string]any)
	if !ok {
		return nil, parseErr("not an object")
	}
	op, _ := m["op"].(string)
	if op == "" {
		return nil, parseErr("no op")
	}
	for _, f := range []struct {
		name, typ string
		nullable  bool
	}{{"before", "object", true}, {"after", "object", true}, {"source", "object", false}, {"ts_ms", "long", true}} {
		if err := requireType(m, f.name, f.typ, f.nullable); err != nil {
			return nil, err
		}
	}
	source := m["source"].(map[string]any)
	for _, f := range []struct {
		name, typ string
		nullable  bool
	}{{"db", "string", false}, {"table", "string", true}, {"ts_ms", "long", false}} {
		if err := requireType(source, f.name, f.typ, f.nullable); err != nil {
			return nil, err
		}
	}
	switch op {
	case "c", "r":
		r, err := flinkRowOf("+I", m["after"], debeziumTypes)
		return []flinkRow{r}, err
	case "u":
		if m["before"] == nil {
			return nil, parseErr("update without before (REPLICA IDENTITY)")
		}
		before, err := flinkRowOf("-U", m["before"], debeziumTypes)
		if err != nil {
			return nil, err
		}
		after, err := flinkRowOf("+U", m["after"], debeziumTypes)
		return []flinkRow{before, after}, err
	case "d":
		r, err := flinkRowOf("-D", m["before"], debeziumTypes)
		return []flinkRow{r}, err
	}
	return nil, parseErr("unknown op %q", op)
}

// TestFormatConsumers runs a task in each format over a stream with every kind of change (an
// initial copy, insert, update, delete, a DDL and an insert after it), decodes its messages as
// the format's Flink consumer does, and checks the changelog: the messages the consumer refuses
// are exactly the ones its documentation says it skips (with ignore-parse-errors), every -U and
// -D row equals the row the changelog holds for its key, and applying it all gives the table's
// final contents.
func TestFormatConsumers(t *testing.T) {
	t.Parallel()
	db := testenv.StartMariaDB(t)
	kafka := testenv.StartKafka(t, 1)
	db.Exec(t, "CREATE DATABASE shop",
		"CREATE TABLE shop.items (id INT NOT NULL PRIMARY KEY, name VARCHAR(20), price DECIMAL(10,2), qty INT, updated DATETIME(3))",
		"INSERT INTO shop.items VALUES (1, 'apple', 1.50, 10, '2021-04-09 12:00:00.123'), (2, 'pear', 2.00, 5, '2021-04-09 12:00:01')")

	type consumerCase struct {
		name     string
		kafka    api.Kafka
		messages int
		consume  func(key, value []byte) ([]flinkRow, error)
		// refused lists what the consumer refuses, by message number, with why.
		refused map[int]string
		// changelog is the changelog's kinds; copied says the copy's rows reach it.
		changelog string
		copied    bool
	}
	cases := []consumerCase{
		{name: "canal", kafka: api.Kafka{Format: api.FormatCanal}, messages: 7, consume: canalConsumer,
			refused:   map[int]string{5: "the ALTER TABLE (Flink skips only type CREATE)"},
			changelog: "+I +I +I -U +U -D +I", copied: true},
		{name: "maxwell", kafka: api.Kafka{Format: api.FormatMaxwell}, messages: 9, consume: maxwellConsumer(false),
			refused: map[int]string{0: "bootstrap-start", 1: "bootstrap-insert", 2: "bootstrap-insert", 3: "bootstrap-complete",
				7: "table-alter"},
			changelog: "+I -U +U -D +I"},
		{name: "maxwell-bootstrap", kafka: api.Kafka{Format: api.FormatMaxwell}, messages: 9, consume: maxwellConsumer(true),
			refused:   map[int]string{0: "bootstrap-start", 3: "bootstrap-complete", 7: "table-alter"},
			changelog: "+I +I +I -U +U -D +I", copied: true},
		{name: "debezium", kafka: api.Kafka{Format: api.FormatDebezium, DebeziumDecimal: api.DebeziumDecimalString}, messages: 8,
			consume:   debeziumConsumer,
			refused:   map[int]string{6: "the schema change record (no op)"},
			changelog: "+I +I +I -U +U -D +I", copied: true},
	}

	incr := false
	var hs []*harness
	for i, cc := range cases {
		if cc.name == "maxwell-bootstrap" {
			continue // reads the maxwell topic
		}
		h := newHarness(t, db, kafka)
		k := cc.kafka
		k.Topic = cc.name
		h.write(api.TaskSpec{Source: &api.Source{Host: db.Host, Port: db.Port, Username: db.User, Password: db.Password, ServerID: uint32(7001 + i)},
			Kafka: k, Filters: []api.Filter{{DBName: "shop", Match: "items"}}, Incr: &incr})
		h.start()
		hs = append(hs, h)
	}
	for _, h := range hs {
		h.running()
	}
	db.Exec(t,
		"INSERT INTO shop.items VALUES (3, 'plum', 0.99, 7, '2021-04-09 12:00:02.5')",
		"UPDATE shop.items SET name = 'green apple', qty = 11 WHERE id = 1",
		"DELETE FROM shop.items WHERE id = 2",
		"ALTER TABLE shop.items ADD COLUMN note VARCHAR(10)",
		"INSERT INTO shop.items VALUES (4, 'fig', 3.25, NULL, '2021-04-09 12:00:03', 'x')",
	)
	final := map[string][5]string{
		"1": {"1", "green apple", "1.50", "11", "2021-04-09 12:00:00.123"},
		"3": {"3", "plum", "0.99", "7", "2021-04-09 12:00:02.500"},
		"4": {"4", "fig", "3.25", "<null>", "2021-04-09 12:00:03.000"},
	}
	millis := func(s string) string {
		ts, err := time.Parse("2006-01-02 15:04:05.000", s)
		if err != nil {
			t.Fatal(err)
		}
		return strconv.FormatInt(ts.UnixMilli(), 10)
	}

	for _, cc := range cases {
		t.Run(cc.name, func(t *testing.T) {
			topic := strings.TrimSuffix(cc.name, "-bootstrap")
			recs := kafka.WaitRecords(t, topic, cc.messages, 60*time.Second)
			if len(recs) != cc.messages {
				t.Fatalf("%d messages, want %d: %s", len(recs), cc.messages, jsonString(values(t, recsWithValues(recs))))
			}
			state := map[string][5]string{}
			var kinds []string
			for i, r := range recs {
				rows, err := cc.consume(r.Key, r.Value)
				why, refuse := cc.refused[i]
				switch {
				case err != nil && !refuse:
					t.Fatalf("message %d: %v: %s", i, err, r.Value)
				case err == nil && refuse:
					t.Fatalf("message %d (%s) was accepted: %s", i, why, r.Value)
				case err != nil && !errors.Is(err, errParse):
					t.Fatalf("message %d: %v", i, err)
				}
				for _, row := range rows {
					kinds = append(kinds, row.kind)
					id := row.cols[0]
					switch row.kind {
					case "+I", "+U":
						if _, ok := state[id]; ok && row.kind == "+I" {
							t.Errorf("message %d: insert of key %s already in the changelog", i, id)
						}
						state[id] = row.cols
					case "-U", "-D":
						if have, ok := state[id]; !ok && (cc.copied || id != "1" && id != "2") {
							t.Errorf("message %d: %s of key %s, not in the changelog", i, row.kind, id)
						} else if ok && have != row.cols {
							t.Errorf("message %d: %s row %v, the changelog holds %v", i, row.kind, row.cols, have)
						}
						delete(state, id)
					}
				}
			}
			if got := strings.Join(kinds, " "); got != cc.changelog {
				t.Errorf("changelog %s, want %s", got, cc.changelog)
			}
			want := map[string][5]string{}
			for id, row := range final {
				if cc.name == "debezium" {
					row[4] = millis(row[4])
				}
				want[id] = row
			}
			if !reflect.DeepEqual(state, want) {
				t.Errorf("final rows\n got %v\nwant %v", state, want)
			}
		})
	}
}

// recsWithValues drops tombstones, for printing.
func recsWithValues(recs []testenv.Record) []testenv.Record {
	var out []testenv.Record
	for _, r := range recs {
		if len(r.Value) > 0 {
			out = append(out, r)
		}
	}
	return out
}
