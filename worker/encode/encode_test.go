package encode

import (
	"bytes"
	"encoding/json"
	"math"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/dtsrepl/dts/worker/change"
)

// orders is a table with one column of most type classes and a primary key on id.
func orders() *change.Table {
	return &change.Table{
		Schema: "shop",
		Name:   "orders",
		Columns: []change.Column{
			{Name: "id", Type: change.TypeInt, Unsigned: true},
			{Name: "status", Type: change.TypeString, CaseInsensitive: true},
			{Name: "amount", Type: change.TypeDecimal},
			{Name: "created", Type: change.TypeDateTime, Decimals: 3},
			{Name: "attrs", Type: change.TypeJSON},
			{Name: "Secret", Type: change.TypeBinary},
		},
		PK: []int{0},
	}
}

var ts = time.Date(2024, 5, 6, 7, 8, 9, 123_000_000, time.UTC) // 1714979289.123

func TestValue(t *testing.T) {
	tbl := orders()
	row1 := change.Row{uint64(7), "paid", "12.50", "2024-05-06 07:08:09.000", `{"a":1}`, []byte("pw")}
	row2 := change.Row{uint64(7), "sent", "12.50", "2024-05-06 07:08:10.000", `{"a":1}`, []byte("pw2")}
	nulls := change.Row{uint64(8), nil, nil, nil, nil, nil}
	noCols := &change.Table{Schema: "shop", Name: "empty"}
	tests := []struct {
		name string
		opts Options
		ev   change.Event
		want string
	}{
		{
			name: "insert with gtid, pos, xid and commit",
			ev:   change.Event{Kind: change.Insert, Table: tbl, After: row1, Time: ts, GTID: "0-1-5", Pos: "mysql-bin.000003:4567", XID: 99, Commit: true},
			want: `{"database":"shop","table":"orders","type":"insert","ts":1714979289,"gtid":"0-1-5","pos":"mysql-bin.000003:4567","xid":99,"commit":true,` +
				`"data":{"id":7,"status":"paid","amount":"12.50","created":"2024-05-06 07:08:09.000","attrs":{"a":1},"Secret":"cHc="}}`,
		},
		{
			name: "gtid and pos omitted when empty, no xid or commit before the last row",
			ev:   change.Event{Kind: change.Insert, Table: tbl, After: row1, Time: ts, XID: 99},
			want: `{"database":"shop","table":"orders","type":"insert","ts":1714979289,` +
				`"data":{"id":7,"status":"paid","amount":"12.50","created":"2024-05-06 07:08:09.000","attrs":{"a":1},"Secret":"cHc="}}`,
		},
		{
			name: "commit without xid (non-transactional)",
			ev:   change.Event{Kind: change.Insert, Table: tbl, After: nulls, Time: ts, Pos: "f:4", Commit: true},
			want: `{"database":"shop","table":"orders","type":"insert","ts":1714979289,"pos":"f:4","commit":true,` +
				`"data":{"id":8,"status":null,"amount":null,"created":null,"attrs":null,"Secret":null}}`,
		},
		{
			name: "update: old holds only the changed columns' previous values",
			ev:   change.Event{Kind: change.Update, Table: tbl, Before: row1, After: row2, Time: ts, GTID: "u:1"},
			want: `{"database":"shop","table":"orders","type":"update","ts":1714979289,"gtid":"u:1",` +
				`"data":{"id":7,"status":"sent","amount":"12.50","created":"2024-05-06 07:08:10.000","attrs":{"a":1},"Secret":"cHcy"},` +
				`"old":{"status":"paid","created":"2024-05-06 07:08:09.000","Secret":"cHc="}}`,
		},
		{
			name: "update to and from NULL",
			ev:   change.Event{Kind: change.Update, Table: tbl, Before: nulls, After: change.Row{uint64(8), "new", nil, nil, nil, []byte{}}, Time: ts},
			want: `{"database":"shop","table":"orders","type":"update","ts":1714979289,` +
				`"data":{"id":8,"status":"new","amount":null,"created":null,"attrs":null,"Secret":""},` +
				`"old":{"status":null,"Secret":null}}`,
		},
		{
			name: "update changing nothing has an empty old",
			ev:   change.Event{Kind: change.Update, Table: tbl, Before: row1, After: row1, Time: ts},
			want: `{"database":"shop","table":"orders","type":"update","ts":1714979289,` +
				`"data":{"id":7,"status":"paid","amount":"12.50","created":"2024-05-06 07:08:09.000","attrs":{"a":1},"Secret":"cHc="},"old":{}}`,
		},
		{
			name: "delete writes the deleted row",
			ev:   change.Event{Kind: change.Delete, Table: tbl, Before: row1, Time: ts, Commit: true, XID: 3},
			want: `{"database":"shop","table":"orders","type":"delete","ts":1714979289,"xid":3,"commit":true,` +
				`"data":{"id":7,"status":"paid","amount":"12.50","created":"2024-05-06 07:08:09.000","attrs":{"a":1},"Secret":"cHc="}}`,
		},
		{
			name: "snapshot",
			ev:   change.Event{Kind: change.Snapshot, Table: tbl, After: row1, Time: ts},
			want: `{"database":"shop","table":"orders","type":"snapshot","ts":1714979289,` +
				`"data":{"id":7,"status":"paid","amount":"12.50","created":"2024-05-06 07:08:09.000","attrs":{"a":1},"Secret":"cHc="}}`,
		},
		{
			name: "exclude_columns: case-insensitive, trimmed, left out of data and old",
			opts: Options{Exclude: []string{" secret ", "STATUS", "no_such_column"}},
			ev:   change.Event{Kind: change.Update, Table: tbl, Before: row1, After: row2, Time: ts},
			want: `{"database":"shop","table":"orders","type":"update","ts":1714979289,` +
				`"data":{"id":7,"amount":"12.50","created":"2024-05-06 07:08:10.000","attrs":{"a":1}},` +
				`"old":{"created":"2024-05-06 07:08:09.000"}}`,
		},
		{
			name: "exclude_columns: every column",
			opts: Options{Exclude: []string{"id", "status", "amount", "created", "attrs", "secret"}},
			ev:   change.Event{Kind: change.Update, Table: tbl, Before: row1, After: row2, Time: ts},
			want: `{"database":"shop","table":"orders","type":"update","ts":1714979289,"data":{},"old":{}}`,
		},
		{
			name: "names and values needing escapes",
			ev: change.Event{Kind: change.Insert, Time: ts, Table: &change.Table{Schema: `we"ird`, Name: "t\\1",
				Columns: []change.Column{{Name: "a\"b", Type: change.TypeString}}}, After: change.Row{"line1\nline2 <&>"}},
			want: `{"database":"we\"ird","table":"t\\1","type":"insert","ts":1714979289,"data":{"a\"b":"line1\nline2 <&>"}}`,
		},
		{
			name: "table without columns",
			ev:   change.Event{Kind: change.Insert, Table: noCols, After: change.Row{}, Time: ts},
			want: `{"database":"shop","table":"empty","type":"insert","ts":1714979289,"data":{}}`,
		},
		{
			name: "flat insert",
			opts: Options{Flat: true},
			ev:   change.Event{Kind: change.Insert, Table: tbl, After: row1, Time: ts, GTID: "0-1-5", Pos: "f:4", XID: 9, Commit: true},
			want: `{"id":7,"status":"paid","amount":"12.50","created":"2024-05-06 07:08:09.000","attrs":{"a":1},"Secret":"cHc=",` +
				`"__db":"shop","__table":"orders","__op":"c","__ts_ms":1714979289123,"__deleted":false}`,
		},
		{
			name: "flat update writes the new row",
			opts: Options{Flat: true},
			ev:   change.Event{Kind: change.Update, Table: tbl, Before: row1, After: row2, Time: ts},
			want: `{"id":7,"status":"sent","amount":"12.50","created":"2024-05-06 07:08:10.000","attrs":{"a":1},"Secret":"cHcy",` +
				`"__db":"shop","__table":"orders","__op":"u","__ts_ms":1714979289123,"__deleted":false}`,
		},
		{
			name: "flat delete writes the deleted row",
			opts: Options{Flat: true},
			ev:   change.Event{Kind: change.Delete, Table: tbl, Before: row1, Time: ts},
			want: `{"id":7,"status":"paid","amount":"12.50","created":"2024-05-06 07:08:09.000","attrs":{"a":1},"Secret":"cHc=",` +
				`"__db":"shop","__table":"orders","__op":"d","__ts_ms":1714979289123,"__deleted":true}`,
		},
		{
			name: "flat snapshot with excluded columns",
			opts: Options{Flat: true, Exclude: []string{"SECRET", "attrs"}},
			ev:   change.Event{Kind: change.Snapshot, Table: tbl, After: row1, Time: ts},
			want: `{"id":7,"status":"paid","amount":"12.50","created":"2024-05-06 07:08:09.000",` +
				`"__db":"shop","__table":"orders","__op":"r","__ts_ms":1714979289123,"__deleted":false}`,
		},
		{
			name: "flat table without columns",
			opts: Options{Flat: true},
			ev:   change.Event{Kind: change.Insert, Table: noCols, After: change.Row{}, Time: ts},
			want: `{"__db":"shop","__table":"empty","__op":"c","__ts_ms":1714979289123,"__deleted":false}`,
		},
		{
			name: "flat with every column excluded",
			opts: Options{Flat: true, Exclude: []string{"id", "status", "amount", "created", "attrs", "secret"}},
			ev:   change.Event{Kind: change.Insert, Table: tbl, After: row1, Time: ts},
			want: `{"__db":"shop","__table":"orders","__op":"c","__ts_ms":1714979289123,"__deleted":false}`,
		},
		{
			name: "flat with the first columns excluded",
			opts: Options{Flat: true, Exclude: []string{"id", "status", "amount", "created", "attrs"}},
			ev:   change.Event{Kind: change.Insert, Table: tbl, After: row1, Time: ts},
			want: `{"Secret":"cHc=","__db":"shop","__table":"orders","__op":"c","__ts_ms":1714979289123,"__deleted":false}`,
		},
		{
			name: "ddl on a table",
			ev: change.Event{Kind: change.DDL, Schema: "shop", Table: &change.Table{Schema: "shop", Name: "orders"},
				SQL: "ALTER TABLE orders ADD note TEXT COMMENT 'a \"b\"'", Time: ts, GTID: "0-1-6", Pos: "f:99"},
			want: `{"database":"shop","table":"orders","type":"ddl","ts":1714979289,"gtid":"0-1-6","pos":"f:99","sql":"ALTER TABLE orders ADD note TEXT COMMENT 'a \"b\"'"}`,
		},
		{
			name: "ddl on a database has no table",
			ev:   change.Event{Kind: change.DDL, Schema: "shop", SQL: "CREATE DATABASE shop", Time: ts},
			want: `{"database":"shop","type":"ddl","ts":1714979289,"sql":"CREATE DATABASE shop"}`,
		},
		{
			name: "flat ddl",
			opts: Options{Flat: true},
			ev: change.Event{Kind: change.DDL, Schema: "shop", Table: &change.Table{Schema: "shop", Name: "orders"},
				SQL: "TRUNCATE orders", Time: ts, GTID: "0-1-6"},
			want: `{"__db":"shop","__table":"orders","__op":"ddl","__ts_ms":1714979289123,"__sql":"TRUNCATE orders"}`,
		},
		{
			name: "flat ddl on a database",
			opts: Options{Flat: true},
			ev:   change.Event{Kind: change.DDL, Schema: "shop", SQL: "DROP DATABASE shop", Time: ts},
			want: `{"__db":"shop","__table":"","__op":"ddl","__ts_ms":1714979289123,"__sql":"DROP DATABASE shop"}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := New(tt.opts)
			prefix := []byte("prefix")
			got := e.Value(prefix, &tt.ev)
			if !bytes.HasPrefix(got, prefix) {
				t.Fatalf("Value did not append to dst: %q", got)
			}
			got = got[len(prefix):]
			if !json.Valid(got) {
				t.Errorf("Value wrote invalid JSON: %s", got)
			}
			if string(got) != tt.want {
				t.Errorf("Value:\n got %s\nwant %s", got, tt.want)
			}
			// The encoder caches per-table decisions: a second message must be the same.
			if again := e.Value(nil, &tt.ev); string(again) != string(got) {
				t.Errorf("second Value differs:\n got %s\nwant %s", again, got)
			}
		})
	}
}

func TestKey(t *testing.T) {
	tbl := orders()
	composite := &change.Table{Schema: "shop", Name: "lines",
		Columns: []change.Column{{Name: "qty", Type: change.TypeInt}, {Name: "sku", Type: change.TypeString}, {Name: "order_id", Type: change.TypeInt}},
		PK:      []int{2, 1}}
	noPK := &change.Table{Schema: "shop", Name: "log", Columns: []change.Column{{Name: "msg", Type: change.TypeString}}}
	row := change.Row{uint64(7), "paid", "12.50", nil, nil, nil}
	tests := []struct {
		name   string
		opts   Options
		ev     change.Event
		want   string
		wantOK bool
	}{
		{
			name: "insert", ev: change.Event{Kind: change.Insert, Table: tbl, After: row},
			want: `{"database":"shop","table":"orders","pk":{"id":7}}`, wantOK: true,
		},
		{
			name: "snapshot has the same key as insert", ev: change.Event{Kind: change.Snapshot, Table: tbl, After: row},
			want: `{"database":"shop","table":"orders","pk":{"id":7}}`, wantOK: true,
		},
		{
			name: "update keys by the new row", ev: change.Event{Kind: change.Update, Table: tbl, Before: change.Row{uint64(6), "", "", nil, nil, nil}, After: row},
			want: `{"database":"shop","table":"orders","pk":{"id":7}}`, wantOK: true,
		},
		{
			name: "delete keys by the deleted row", ev: change.Event{Kind: change.Delete, Table: tbl, Before: row},
			want: `{"database":"shop","table":"orders","pk":{"id":7}}`, wantOK: true,
		},
		{
			name: "uint64 max is exact", ev: change.Event{Kind: change.Insert, Table: tbl, After: change.Row{uint64(math.MaxUint64), nil, nil, nil, nil, nil}},
			want: `{"database":"shop","table":"orders","pk":{"id":18446744073709551615}}`, wantOK: true,
		},
		{
			name: "composite key in key order", ev: change.Event{Kind: change.Insert, Table: composite, After: change.Row{int64(2), "A\"1", int64(-5)}},
			want: `{"database":"shop","table":"lines","pk":{"order_id":-5,"sku":"A\"1"}}`, wantOK: true,
		},
		{
			name: "no primary key, no key", ev: change.Event{Kind: change.Insert, Table: noPK, After: change.Row{"x"}},
		},
		{
			name: "ddl on a table", ev: change.Event{Kind: change.DDL, Schema: "shop", Table: &change.Table{Schema: "shop", Name: "orders"}, SQL: "ALTER TABLE orders ADD x INT"},
			want: `{"database":"shop","table":"orders"}`, wantOK: true,
		},
		{
			name: "ddl on a database, no key", ev: change.Event{Kind: change.DDL, Schema: "shop", SQL: "CREATE DATABASE shop"},
		},
		{
			name: "flat format does not change the key", opts: Options{Flat: true}, ev: change.Event{Kind: change.Insert, Table: tbl, After: row},
			want: `{"database":"shop","table":"orders","pk":{"id":7}}`, wantOK: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := New(tt.opts)
			prefix := []byte("p")
			got, ok := e.Key(prefix, &tt.ev)
			if ok != tt.wantOK {
				t.Fatalf("Key ok = %v, want %v (key %q)", ok, tt.wantOK, got)
			}
			if !bytes.HasPrefix(got, prefix) {
				t.Fatalf("Key did not append to dst: %q", got)
			}
			got = got[len(prefix):]
			if !ok {
				if len(got) != 0 {
					t.Errorf("Key wrote %q with ok = false", got)
				}
				return
			}
			if !json.Valid(got) {
				t.Errorf("Key wrote invalid JSON: %s", got)
			}
			if string(got) != tt.want {
				t.Errorf("Key:\n got %s\nwant %s", got, tt.want)
			}
		})
	}
}

type textValue struct{ S string }

func TestAppendValue(t *testing.T) {
	col := func(tp change.ColumnType) *change.Column { return &change.Column{Name: "c", Type: tp} }
	tests := []struct {
		name string
		col  *change.Column
		v    any
		want string
	}{
		{"null", col(change.TypeInt), nil, `null`},
		{"null json", col(change.TypeJSON), nil, `null`},
		{"int64", col(change.TypeInt), int64(-42), `-42`},
		{"int64 min", col(change.TypeInt), int64(math.MinInt64), `-9223372036854775808`},
		{"int64 max", col(change.TypeInt), int64(math.MaxInt64), `9223372036854775807`},
		{"uint64 max exact", &change.Column{Type: change.TypeInt, Unsigned: true}, uint64(math.MaxUint64), `18446744073709551615`},
		{"bit", col(change.TypeBit), uint64(5), `5`},
		{"year", col(change.TypeYear), int64(2024), `2024`},
		{"int", col(change.TypeInt), 7, `7`},
		{"decimal as string", col(change.TypeDecimal), "-12345678901234567890.0123456789", `"-12345678901234567890.0123456789"`},
		{"datetime", col(change.TypeDateTime), "2024-05-06 07:08:09.120", `"2024-05-06 07:08:09.120"`},
		{"timestamp", col(change.TypeTimestamp), "1970-01-01 00:00:01", `"1970-01-01 00:00:01"`},
		{"date", col(change.TypeDate), "2024-02-29", `"2024-02-29"`},
		{"negative time", col(change.TypeTime), "-838:59:59", `"-838:59:59"`},
		{"enum", col(change.TypeEnum), "it's", `"it's"`},
		{"set", col(change.TypeSet), "a,b", `"a,b"`},
		{"string", col(change.TypeString), "a\"b\\c\n", `"a\"b\\c\n"`},
		{"string that looks like json stays a string", col(change.TypeString), `{"a":1}`, `"{\"a\":1}"`},
		{"bytes base64", col(change.TypeBinary), []byte{0, 1, 2, 0xfe, 0xff}, `"AAEC/v8="`},
		{"empty bytes", col(change.TypeBinary), []byte{}, `""`},
		{"geometry", col(change.TypeGeometry), []byte("\x00\x00\x00\x00\x01"), `"AAAAAAE="`},
		{"json object embedded", col(change.TypeJSON), `{"a": [1, 2.5, "x"], "b": null}`, `{"a": [1, 2.5, "x"], "b": null}`},
		{"json array embedded", col(change.TypeJSON), `[1,2]`, `[1,2]`},
		{"json scalar embedded", col(change.TypeJSON), `"text"`, `"text"`},
		{"json number embedded", col(change.TypeJSON), `12.5`, `12.5`},
		{"json null literal embedded", col(change.TypeJSON), `null`, `null`},
		{"invalid json as a string", col(change.TypeJSON), `{"a":`, `"{\"a\":"`},
		{"empty json as a string", col(change.TypeJSON), ``, `""`},
		{"float64", col(change.TypeFloat), 1.5, `1.5`},
		{"float64 integral", col(change.TypeFloat), float64(3), `3`},
		{"float64 small", col(change.TypeFloat), 1e-7, `1e-7`},
		{"float64 large", col(change.TypeFloat), 1e21, `1e+21`},
		{"float64 negative zero", col(change.TypeFloat), math.Copysign(0, -1), `-0`},
		{"float32 shortest 32-bit form", col(change.TypeFloat), float32(1.1), `1.1`},
		{"float32 0.1", col(change.TypeFloat), float32(0.1), `0.1`},
		{"float32 max", col(change.TypeFloat), float32(math.MaxFloat32), `3.4028235e+38`},
		{"float32 small", col(change.TypeFloat), float32(1e-7), `1e-7`},
		{"NaN", col(change.TypeFloat), math.NaN(), `null`},
		{"+Inf", col(change.TypeFloat), math.Inf(1), `null`},
		{"-Inf", col(change.TypeFloat), math.Inf(-1), `null`},
		{"float32 NaN", col(change.TypeFloat), float32(math.NaN()), `null`},
		{"float32 Inf", col(change.TypeFloat), float32(math.Inf(1)), `null`},
		{"bool", col(change.TypeInt), true, `true`},
		{"other types through encoding/json", col(change.TypeString), textValue{S: "x"}, `{"S":"x"}`},
		{"int32 through encoding/json", col(change.TypeInt), int32(-3), `-3`},
		{"unencodable value is null", col(change.TypeString), make(chan int), `null`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := AppendValue([]byte("x:"), tt.col, tt.v)
			if string(got) != "x:"+tt.want {
				t.Errorf("AppendValue(%T %v) = %s, want x:%s", tt.v, tt.v, got, tt.want)
			}
			if !json.Valid(got[2:]) {
				t.Errorf("AppendValue(%T %v) wrote invalid JSON %s", tt.v, tt.v, got[2:])
			}
		})
	}
}

// TestAppendFloatMatchesEncodingJSON checks float formatting against encoding/json, for both widths.
func TestAppendFloatMatchesEncodingJSON(t *testing.T) {
	tests := []struct {
		f float64
	}{
		{0}, {1}, {-1}, {0.1}, {1.1}, {3.14159}, {123456789}, {1e20}, {1e21}, {-1e21}, {9.999999e20},
		{1e-6}, {9.99e-7}, {1e-7}, {-1e-7}, {1e-300}, {5e-324}, {math.MaxFloat64}, {math.SmallestNonzeroFloat64},
		{math.MaxFloat32}, {math.SmallestNonzeroFloat32}, {16777217}, {0.000001234}, {123.456e10}, {1e-10}, {2.5e-8},
	}
	for _, tt := range tests {
		want64, err := json.Marshal(tt.f)
		if err != nil {
			t.Fatal(err)
		}
		if got := AppendValue(nil, &change.Column{Type: change.TypeFloat}, tt.f); string(got) != string(want64) {
			t.Errorf("float64 %v: got %s, want %s", tt.f, got, want64)
		}
		f32 := float32(tt.f)
		if math.IsInf(float64(f32), 0) {
			continue
		}
		want32, err := json.Marshal(f32)
		if err != nil {
			t.Fatal(err)
		}
		if got := AppendValue(nil, &change.Column{Type: change.TypeFloat}, f32); string(got) != string(want32) {
			t.Errorf("float32 %v: got %s, want %s", f32, got, want32)
		}
	}
}

// marshalNoHTML is encoding/json's encoding of s without its HTML escaping of <, > and &.
func marshalNoHTML(t testing.TB, s string) string {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(s); err != nil {
		t.Fatal(err)
	}
	return strings.TrimSuffix(b.String(), "\n")
}

func TestAppendString(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want string
	}{
		{"empty", "", `""`},
		{"ascii", "hello world", `"hello world"`},
		{"quote and backslash", `say "hi" \o/`, `"say \"hi\" \\o/"`},
		{"newline, carriage return, tab", "a\nb\rc\td", `"a\nb\rc\td"`},
		{"backspace", "a\bb", `"a\bb"`},
		{"form feed", "a\fb", `"a\fb"`},
		{"NUL", "a\x00b", `"a\u0000b"`},
		{"other control characters", "\x01\x1f\x0b", `"\u0001\u001f\u000b"`},
		{"DEL is not escaped", "\x7f", "\"\x7f\""},
		{"html characters are not escaped", "<a href='x'>&amp;</a>", `"<a href='x'>&amp;</a>"`},
		{"slash is not escaped", "a/b", `"a/b"`},
		{"latin", "café", `"café"`},
		{"cjk", "日本語", `"日本語"`},
		{"emoji", "🙂 ok", `"🙂 ok"`},
		{"line and paragraph separators", "a\u2028b\u2029c", `"a\u2028b\u2029c"`},
		{"other U+20xx pass through", "\u2027\u202a\u2020", "\"\u2027\u202a\u2020\""},
		{"U+FFFD itself passes through", "\uFFFD", "\"\uFFFD\""},
		{"invalid byte", "a\xffb", `"a\ufffdb"`},
		{"truncated sequence", "\xe6\x97", `"\ufffd\ufffd"`},
		{"truncated sequence then ascii", "\xe6\x97x", `"\ufffd\ufffdx"`},
		{"utf-16 surrogate encoded in utf-8", "\xed\xa0\x80", `"\ufffd\ufffd\ufffd"`},
		{"overlong encoding", "\xc0\xaf", `"\ufffd\ufffd"`},
		{"lone continuation byte", "\x80", `"\ufffd"`},
		{"mixed", "\"\xff\u2028\n<", `"\"\ufffd\u2028\n<"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := AppendString([]byte("x"), tt.in)
			if string(got[1:]) != tt.want {
				t.Errorf("AppendString(%q) = %s, want %s", tt.in, got[1:], tt.want)
			}
			if got[0] != 'x' {
				t.Errorf("AppendString did not append to dst")
			}
			// Exactly what encoding/json writes, HTML escaping aside.
			if want := marshalNoHTML(t, tt.in); string(got[1:]) != want {
				t.Errorf("AppendString(%q) = %s, encoding/json writes %s", tt.in, got[1:], want)
			}
		})
	}
}

// Every byte value at every position of the eight-byte fast path and around it is written as
// encoding/json writes it.
func TestAppendStringEveryByte(t *testing.T) {
	for b := 0; b < 256; b++ {
		for pos := 0; pos < 19; pos++ {
			in := []byte(strings.Repeat("a", 19))
			in[pos] = byte(b)
			got := AppendString(nil, string(in))
			if want := marshalNoHTML(t, string(in)); string(got) != want {
				t.Fatalf("AppendString(%q) = %s, encoding/json writes %s", in, got, want)
			}
		}
	}
}

// replaceInvalid replaces each byte of an invalid UTF-8 sequence with U+FFFD, as encoding/json does.
func replaceInvalid(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b.WriteRune(utf8.RuneError)
		} else {
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return b.String()
}

func FuzzAppendString(f *testing.F) {
	for _, s := range []string{"", "abc", "a\"b\\c", "\n\r\t\b\f\x00\x1f\x7f", "<>&", "é日🙂", "\u2028\u2029", "\xff", "\xe6\x97", "\xed\xa0\x80", "\uFFFD"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := AppendString(nil, s)
		if !json.Valid(got) {
			t.Fatalf("AppendString(%q) = %s: invalid JSON", s, got)
		}
		if !utf8.Valid(got) {
			t.Fatalf("AppendString(%q) = %q: invalid UTF-8", s, got)
		}
		var back string
		if err := json.Unmarshal(got, &back); err != nil {
			t.Fatalf("AppendString(%q) = %s: %v", s, got, err)
		}
		want := s
		if !utf8.ValidString(s) {
			want = replaceInvalid(s)
		}
		if back != want {
			t.Fatalf("AppendString(%q) decodes to %q, want %q", s, back, want)
		}
		// encoding/json's output decodes to the same string.
		std, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		var stdBack string
		if err := json.Unmarshal(std, &stdBack); err != nil {
			t.Fatal(err)
		}
		if back != stdBack {
			t.Fatalf("AppendString(%q) decodes to %q, encoding/json's to %q", s, back, stdBack)
		}
	})
}

func TestEqual(t *testing.T) {
	tests := []struct {
		name string
		a, b any
		want bool
	}{
		{"nil nil", nil, nil, true},
		{"nil vs value", nil, int64(0), false},
		{"value vs nil", int64(0), nil, false},
		{"empty string vs nil", "", nil, false},
		{"int64 equal", int64(5), int64(5), true},
		{"int64 differ", int64(5), int64(6), false},
		{"int64 vs uint64", int64(5), uint64(5), false},
		{"uint64 equal", uint64(math.MaxUint64), uint64(math.MaxUint64), true},
		{"uint64 differ", uint64(1), uint64(2), false},
		{"string equal", "a", "a", true},
		{"string case differs", "a", "A", false},
		{"string vs bytes", "a", []byte("a"), false},
		{"bytes equal", []byte{1, 2}, []byte{1, 2}, true},
		{"bytes differ", []byte{1, 2}, []byte{1, 3}, false},
		{"bytes empty vs nil slice", []byte{}, []byte(nil), true},
		{"bytes vs nil", []byte{}, nil, false},
		{"float64 equal", 1.5, 1.5, true},
		{"float64 differ", 1.5, 1.25, false},
		{"float64 NaN", math.NaN(), math.NaN(), false},
		{"float32 equal", float32(1.1), float32(1.1), true},
		{"float32 vs float64", float32(1.5), 1.5, false},
		{"unknown types are never equal", true, true, false},
	}
	for _, tt := range tests {
		if got := Equal(tt.a, tt.b); got != tt.want {
			t.Errorf("%s: Equal(%#v, %#v) = %v, want %v", tt.name, tt.a, tt.b, got, tt.want)
		}
	}
}

// TestExcludeIsPerTable checks the per-table mask cache keys by *change.Table: a new table value
// (after a schema change) gets a new mask.
func TestExcludeIsPerTable(t *testing.T) {
	e := New(Options{Exclude: []string{"b"}})
	t1 := &change.Table{Schema: "d", Name: "t", Columns: []change.Column{{Name: "a", Type: change.TypeInt}, {Name: "b", Type: change.TypeInt}}}
	t2 := &change.Table{Schema: "d", Name: "t", Columns: []change.Column{{Name: "b", Type: change.TypeInt}, {Name: "a", Type: change.TypeInt}, {Name: "c", Type: change.TypeInt}}}
	tests := []struct {
		tbl  *change.Table
		row  change.Row
		want string
	}{
		{t1, change.Row{int64(1), int64(2)}, `{"database":"d","table":"t","type":"insert","ts":0,"data":{"a":1}}`},
		{t2, change.Row{int64(2), int64(1), int64(3)}, `{"database":"d","table":"t","type":"insert","ts":0,"data":{"a":1,"c":3}}`},
		{t1, change.Row{int64(4), int64(5)}, `{"database":"d","table":"t","type":"insert","ts":0,"data":{"a":4}}`},
	}
	for i, tt := range tests {
		got := e.Value(nil, &change.Event{Kind: change.Insert, Table: tt.tbl, After: tt.row, Time: time.Unix(0, 0)})
		if string(got) != tt.want {
			t.Errorf("message %d:\n got %s\nwant %s", i, got, tt.want)
		}
	}
}

func benchTable() (*change.Table, change.Row) {
	tbl := &change.Table{
		Schema: "shop",
		Name:   "orders",
		Columns: []change.Column{
			{Name: "id", Type: change.TypeInt, Unsigned: true},
			{Name: "customer_id", Type: change.TypeInt},
			{Name: "status", Type: change.TypeEnum},
			{Name: "amount", Type: change.TypeDecimal},
			{Name: "currency", Type: change.TypeString},
			{Name: "note", Type: change.TypeString},
			{Name: "weight", Type: change.TypeFloat},
			{Name: "created_at", Type: change.TypeDateTime, Decimals: 6},
			{Name: "attrs", Type: change.TypeJSON},
			{Name: "token", Type: change.TypeBinary},
		},
		PK: []int{0},
	}
	row := change.Row{
		uint64(123456789), int64(42), "paid", "1299.95", "EUR", "leave at the \"back\" door",
		2.75, "2024-05-06 07:08:09.123456", `{"gift":true,"tags":["a","b"]}`, []byte("0123456789abcdef"),
	}
	return tbl, row
}

func BenchmarkValue(b *testing.B) {
	tbl, row := benchTable()
	e := New(Options{})
	ev := &change.Event{Kind: change.Insert, Table: tbl, After: row, Time: ts, GTID: "3E11FA47-71CA-11E1-9E33-C80AA9429562:23", Pos: "mysql-bin.000003:4567", XID: 99, Commit: true}
	var buf []byte
	b.ReportAllocs()
	for b.Loop() {
		buf = e.Value(buf[:0], ev)
	}
	b.SetBytes(int64(len(buf)))
}

func BenchmarkKey(b *testing.B) {
	tbl, row := benchTable()
	e := New(Options{})
	ev := &change.Event{Kind: change.Insert, Table: tbl, After: row, Time: ts}
	var buf []byte
	b.ReportAllocs()
	for b.Loop() {
		buf, _ = e.Key(buf[:0], ev)
	}
	b.SetBytes(int64(len(buf)))
}
