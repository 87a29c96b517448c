package debezium

import (
	"encoding/base64"
	"encoding/json"
	"math/big"
	"testing"
	"time"

	"github.com/dtsrepl/dts/worker/change"
	"github.com/dtsrepl/dts/worker/encode"
	"github.com/dtsrepl/dts/worker/format/formattest"
)

func newFormat(o Options) (*encode.Encoder, *Format) {
	enc := encode.New(encode.Options{})
	f := New(enc, o)
	f.now = func() time.Time { return formattest.Now }
	return enc, f
}

// TestGolden writes a change of every kind on the type test table. Where the expected shape
// comes from (debezium documentation/modules/ROOT/partials/modules/all-connectors/
// shared-mariadb-mysql.adoc, which mysql.adoc includes, and the connector's code):
//   - keys: "Change event keys": the primary key's columns, {"id":1001}; none for a table
//     without a primary key;
//   - values: "create events": {"before":null,"after":{...},"source":{"version",
//     "connector":"mysql","name","ts_ms","snapshot","db","sequence","ts_us","ts_ns","table",
//     "server_id","gtid","file","pos","row","thread","query"},"transaction":null,"op":"c",
//     "ts_ms","ts_us","ts_ns"}, in the order of TableSchemaBuilder's envelope (before, after,
//     source, transaction, op, ts_ms, ts_us, ts_ns); "update events" carry the whole before
//     image, "delete events" after null and a tombstone (the key, null value) follows
//     (tombstones.on.delete=true); a copied row is op "r" with source.snapshot "true"
//     (SnapshotRecord as the Enum string), streamed ones "false";
//   - types ("Data type mappings", adaptive_time_microseconds, decimal.handling.mode=precise,
//     bigint.unsigned.handling.mode=long, binary.handling.mode=bytes): TINYINT int8, TINYINT
//     UNSIGNED int16, MEDIUMINT int32, BIGINT UNSIGNED the long's 64 bits (the maximum is -1),
//     DECIMAL the unscaled value's two's complement bytes, FLOAT float32, DATETIME(3)
//     io.debezium.time.Timestamp milliseconds, TIMESTAMP ZonedTimestamp "…T…Z" with the
//     column's fraction digits (ZonedTimestamp.getDateTimeFormatter), DATE days, TIME
//     MicroTime microseconds, YEAR int32, BIT(>1) Bits bytes little-endian, ENUM and SET their
//     names, JSON its text, binary and BLOB base64 (JsonConverter's bytes);
//   - DDL: "Schema change topic": key {"databaseName":...}, value source, ts_ms, databaseName,
//     schemaName, ddl, tableChanges (type, id "\"db\".\"table\"", table);
//   - the copy's table boundaries make no message (Debezium has none).
func TestGolden(t *testing.T) {
	enc, f := newFormat(Options{Tombstones: true})
	for _, c := range formattest.Cases() {
		formattest.Golden(t, c.Name, formattest.Messages(t, enc, f.Encode, c.Event))
	}
}

// TestGoldenWithSchema: the same with the Connect schema embedded, as JsonConverter writes it
// with schemas.enable=true (JsonConverter.asJsonSchema: type, fields, optional, name, version,
// doc, parameters, default, field), the schemas of SchemaFactory, TableSchemaBuilder and the
// logical types (Decimal's scale and connect.decimal.precision parameters, Enum's "allowed").
func TestGoldenWithSchema(t *testing.T) {
	enc, f := newFormat(Options{Schema: true, Tombstones: true})
	for _, c := range formattest.Cases() {
		if c.Name == "insert" || c.Name == "ddl-table" || c.Name == "keyless-insert" {
			formattest.Golden(t, "schema-"+c.Name, formattest.Messages(t, enc, f.Encode, c.Event))
		}
	}
}

// TestDecimalModes: decimal.handling.mode string and double.
func TestDecimalModes(t *testing.T) {
	for _, mode := range []string{DecimalString, DecimalDouble} {
		enc, f := newFormat(Options{Decimal: mode, Schema: true})
		formattest.Golden(t, mode+"-insert", formattest.Messages(t, enc, f.Encode, formattest.Cases()[0].Event))
	}
}

func TestNoTombstones(t *testing.T) {
	enc, f := newFormat(Options{})
	got := formattest.Messages(t, enc, f.Encode, formattest.Cases()[2].Event)
	if n := len(splitLines(got)); n != 2 { // one key and one value line
		t.Errorf("delete without tombstones: %s", got)
	}
}

func splitLines(s string) []string {
	var out []string
	start := 0
	for i := 0; i < len(s); i++ {
		if s[i] == '\n' {
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return out
}

// TestUnscaled checks the precise decimal bytes against math/big's two's complement.
func TestUnscaled(t *testing.T) {
	_, f := newFormat(Options{})
	for _, s := range []string{"0", "1", "-1", "127", "128", "-128", "-129", "255", "12.50", "-0.01",
		"-12345678901234.123456", "99999999999999999999999999999999999999", "-99999999999999999999999999999999999999", "999999999999999999", "-999999999999999999",
		"1234567890123456789012345678901234567890.1234567890", "-1234567890123456789012345678901234567890.1234567890"} {
		var q string
		got := f.appendUnscaled(nil, s)
		if err := json.Unmarshal(got, &q); err != nil {
			t.Fatal(err)
		}
		b, _ := base64.StdEncoding.DecodeString(q)
		v := new(big.Int).SetBytes(b)
		if len(b) > 0 && b[0]&0x80 != 0 {
			v.Sub(v, new(big.Int).Lsh(big.NewInt(1), uint(8*len(b))))
		}
		digits := ""
		for _, c := range s {
			if c != '.' {
				digits += string(c)
			}
		}
		want, _ := new(big.Int).SetString(digits, 10)
		if v.Cmp(want) != 0 {
			t.Errorf("%s: bytes %x read back as %s", s, b, v)
		}
		if len(b) > 1 && (b[0] == 0 && b[1]&0x80 == 0 || b[0] == 0xFF && b[1]&0x80 != 0) {
			t.Errorf("%s: bytes %x are not minimal", s, b)
		}
	}
}

func TestTemporal(t *testing.T) {
	for _, in := range []string{"1970-01-01", "2021-04-09", "1969-12-31", "2000-02-29", "1900-03-01", "1000-01-01", "9999-12-31"} {
		d, err := time.Parse(time.DateOnly, in)
		if err != nil {
			t.Fatal(err)
		}
		want := d.Unix() / 86400
		if d.Unix() < 0 && d.Unix()%86400 != 0 {
			want--
		}
		if got, ok := epochDays(in); !ok || got != want {
			t.Errorf("epochDays(%s) = %d, %v; want %d", in, got, ok, want)
		}
	}
	for _, s := range []string{"0000-00-00", "2021-00-01", "2021-01-00", "garbage"} {
		if _, ok := epochDays(s); ok {
			t.Errorf("epochDays(%s) accepted", s)
		}
	}
	if got, _ := epochMicros("2021-04-09 12:03:20.123"); got != 1617969800123000 {
		t.Errorf("epochMicros = %d", got)
	}
	if got, _ := epochMicros("1969-12-31 23:59:59.5"); got != -500000 {
		t.Errorf("epochMicros before the epoch = %d", got)
	}
	for _, tt := range []struct {
		in   string
		want int64
	}{
		{"00:00:00", 0}, {"12:34:56.789", 45296789000}, {"-838:59:58.99", -3020398990000}, {"838:59:59", 3020399000000},
	} {
		if got := timeMicros(tt.in); got != tt.want {
			t.Errorf("timeMicros(%s) = %d, want %d", tt.in, got, tt.want)
		}
	}
}

func TestZeroDates(t *testing.T) {
	tb := &change.Table{Schema: "s", Name: "z", PK: []int{0}, Columns: []change.Column{
		{Name: "id", Type: change.TypeInt, SQLType: "int(11)", NotNull: true},
		{Name: "d", Type: change.TypeDate, SQLType: "date"},
		{Name: "dn", Type: change.TypeDate, SQLType: "date", NotNull: true},
		{Name: "ts", Type: change.TypeTimestamp, SQLType: "timestamp", NotNull: true},
	}}
	enc, f := newFormat(Options{})
	got := formattest.Messages(t, enc, f.Encode, &change.Event{Kind: change.Insert, Table: tb, After: change.Row{int64(1), "0000-00-00", "0000-00-00", "0000-00-00 00:00:00"}, Time: formattest.Time})
	want := `"after":{"id":1,"d":null,"dn":0,"ts":"1970-01-01T00:00:00Z"}`
	if !contains(got, want) {
		t.Errorf("zero dates: %s\nwant %s", got, want)
	}
}

func contains(s, sub string) bool {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return true
		}
	}
	return false
}

func TestEncodeAllocations(t *testing.T) {
	ev := formattest.Cases()[1].Event
	_, f := newFormat(Options{})
	send := func(k, v []byte) error { return nil }
	_ = f.Encode(ev, nil, send)
	if n := testing.AllocsPerRun(100, func() { _ = f.Encode(ev, nil, send) }); n > 0 {
		t.Errorf("%v allocations per update", n)
	}
}

func BenchmarkEncode(b *testing.B) {
	_, f := newFormat(Options{})
	ev := formattest.Cases()[0].Event
	send := func(k, v []byte) error { return nil }
	for b.Loop() {
		_ = f.Encode(ev, nil, send)
	}
}
