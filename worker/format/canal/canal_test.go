package canal

import (
	"testing"
	"time"

	"github.com/dtsrepl/dts/worker/change"
	"github.com/dtsrepl/dts/worker/encode"
	"github.com/dtsrepl/dts/worker/format/formattest"
)

// TestGolden writes a change of every kind on the type test table. Where the expected shape
// comes from:
//   - the fields, their order and their nulls: FlatMessage.java (id, database, table, pkNames,
//     isDdl, type, es, ts, sql, sqlType, mysqlType, data, old, gtid) as canal-server's Kafka
//     producer serializes it (CanalKafkaProducer: JSON.toJSONBytes with WriteNulls; fastjson
//     orders fields by name, as every published example shows, e.g. the update of Flink's
//     canal-json documentation: {"data":[{"id":"111",...}],"database":"inventory",
//     "es":1589373560000,"id":9,"isDdl":false,"mysqlType":{"id":"INTEGER",...},
//     "old":[{"weight":"5.15"}],"pkNames":["id"],"sql":"","sqlType":{"id":4,...},
//     "table":"products","ts":1589373560798,"type":"UPDATE"});
//   - data and old: MQMessageUtils.messageConverter: data holds the after image (the before
//     image of a DELETE), old the updated columns' previous values, null unless UPDATE;
//   - values: LogEventConvert.parseOneRow and RowsLogBuffer.fetchValue: integers in decimal
//     (unsigned ones corrected, their sqlType moved up a size when the value passes the signed
//     range: tu 255 is SMALLINT 5, bu is DECIMAL 3), FLOAT/DOUBLE as Java's toString
//     ("2.2250738585072014E-308"), DECIMAL plain, temporal values with the column's fraction
//     digits, YEAR as text (sqlType VARCHAR 12), binary values as ISO-8859-1 text (sqlType BLOB
//     2004), TEXT as CLOB 2005, ENUM as its index (INTEGER 4), SET and BIT as numbers (BIT -7);
//   - DDL: isDdl true, data, old, mysqlType, sqlType and pkNames null, sql the statement, type
//     from DruidDdlParser (ALTER; CREATE DATABASE is QUERY with table "", as Tencent Cloud's
//     canal-compatible examples of canal-server's output show);
//   - the copy: Canal has no initial copy of its own; copied rows are INSERTs (the issue's
//     choice, what canal's full-sync adapters emit), the copy's table boundaries make no message;
//   - the key: canal-server's ProducerRecord has none.
func TestGolden(t *testing.T) {
	enc := encode.New(encode.Options{})
	f := New(enc)
	f.now = func() time.Time { return formattest.Now }
	for _, c := range formattest.Cases() {
		formattest.Golden(t, c.Name, formattest.Messages(t, enc, f.Encode, c.Event))
	}
}

func TestExcludedColumns(t *testing.T) {
	enc := encode.New(encode.Options{Exclude: []string{"TXT", "bl"}})
	f := New(enc)
	f.now = func() time.Time { return formattest.Now }
	ev := formattest.Cases()[1].Event // the update
	got := formattest.Messages(t, enc, f.Encode, ev)
	for _, col := range []string{`"txt"`, `"bl"`} {
		if contains(got, col) {
			t.Errorf("excluded column %s in %s", col, got)
		}
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

func TestSQLTypeMovesUpWithTheValue(t *testing.T) {
	tb := &change.Table{Schema: "s", Name: "t", Columns: []change.Column{
		{Name: "u", Type: change.TypeInt, Unsigned: true, SQLType: "int(10) unsigned"},
	}}
	enc := encode.New(encode.Options{})
	f := New(enc)
	f.now = func() time.Time { return formattest.Now }
	small := formattest.Messages(t, enc, f.Encode, &change.Event{Kind: change.Insert, Table: tb, After: change.Row{uint64(5)}, Time: formattest.Time})
	large := formattest.Messages(t, enc, f.Encode, &change.Event{Kind: change.Insert, Table: tb, After: change.Row{uint64(1 << 31)}, Time: formattest.Time})
	if !contains(small, `"sqlType":{"u":4}`) || !contains(large, `"sqlType":{"u":-5}`) {
		t.Errorf("small: %s\nlarge: %s", small, large)
	}
}

func TestEncodeAllocations(t *testing.T) {
	enc := encode.New(encode.Options{})
	f := New(enc)
	ev := formattest.Cases()[1].Event
	send := func(k, v []byte) error { return nil }
	_ = f.Encode(ev, nil, send)
	if n := testing.AllocsPerRun(100, func() { _ = f.Encode(ev, nil, send) }); n > 0 {
		t.Errorf("%v allocations per update", n)
	}
}

func BenchmarkEncode(b *testing.B) {
	enc := encode.New(encode.Options{})
	f := New(enc)
	ev := formattest.Cases()[0].Event
	send := func(k, v []byte) error { return nil }
	for b.Loop() {
		_ = f.Encode(ev, nil, send)
	}
}
