package maxwell

import (
	"encoding/binary"
	"math"
	"testing"

	"github.com/dtsrepl/dts/worker/change"
	"github.com/dtsrepl/dts/worker/encode"
	"github.com/dtsrepl/dts/worker/format/formattest"
)

// fixedUUID stands in for the random UUIDs of DDL keys and keyless rows.
func fixedUUID() [16]byte {
	return [16]byte{0x12, 0x3e, 0x45, 0x67, 0xe8, 0x9b, 0x42, 0xd3, 0xa4, 0x56, 0x42, 0x66, 0x14, 0x17, 0x40, 0x00}
}

// TestGolden writes a change of every kind on the type test table. Where the expected shape
// comes from:
//   - rows: docs/docs/dataformat.md's INSERT / UPDATE / DELETE examples
//     ({"database":"test","table":"e","type":"insert","ts":1477053217,"xid":23396,
//     "commit":true,...,"data":{"id":1,"m":4.2341,"c":"2016-10-21 05:33:37.523000",...}}) and
//     RowMap.toJSON with the default options: database, table, type, ts in seconds, xid and
//     commit:true on the transaction's last row ("commit" only there), data, and old with the
//     changed columns' previous values only on an update; position, gtid, server_id and
//     thread_id are off by default (output_binlog_position etc.);
//   - the copy: docs/docs/bootstrapping.md's example: bootstrap-start with "data":{}, a
//     bootstrap-insert per row, bootstrap-complete, none with xid or commit;
//   - DDL: dataformat.md's CREATE TABLE / ALTER TABLE examples and DDLMap.toJSON: type
//     (ResolvedSchemaChange's names: table-alter, database-create...), database, table, ts in
//     milliseconds, sql; the key is DDLMap.pkToJson's bare random UUID;
//   - keys: RowIdentity.toKeyJson in the default "hash" format: {"database":..,"table":..,
//     "pk.<column>":value}, or "_uuid" for a table without a primary key;
//   - values: the ColumnDef classes: integers exact (BigIntColumnDef), FLOAT and DOUBLE and
//     DECIMAL as JSON numbers in Java's forms (FloatColumnDef, DecimalColumnDef), DATETIME and
//     TIMESTAMP with the column's fraction digits ("column-length"), blobs and binary strings in
//     base64 (dataformat.md, "blob"), JSON embedded (JsonColumnDef), ENUM as its name, SET as a
//     JSON array (dataformat.md, "sets"), BIT as a number (BitColumnDef), YEAR as a number.
func TestGolden(t *testing.T) {
	enc := encode.New(encode.Options{})
	f := New(enc)
	f.uuid = fixedUUID
	for _, c := range formattest.Cases() {
		formattest.Golden(t, c.Name, formattest.Messages(t, enc, f.Encode, c.Event))
	}
}

func TestDDLTypes(t *testing.T) {
	tb := &change.Table{Schema: "shop", Name: "t"}
	tests := []struct {
		sql   string
		table *change.Table
		want  string
	}{
		{"CREATE TABLE t (id INT)", tb, "table-create"},
		{"ALTER TABLE t ADD x INT", tb, "table-alter"},
		{"RENAME TABLE t TO u", tb, "table-alter"},
		{"CREATE INDEX ix ON t (a)", tb, "table-alter"},
		{"DROP TABLE t", tb, "table-drop"},
		{"CREATE DATABASE shop", nil, "database-create"},
		{"ALTER DATABASE shop CHARACTER SET utf8mb4", nil, "database-alter"},
		{"DROP DATABASE shop", nil, "database-drop"},
		{"TRUNCATE TABLE t", tb, ""},
	}
	for _, tt := range tests {
		if got := ddlType(&change.Event{Kind: change.DDL, Table: tt.table, SQL: tt.sql}); got != tt.want {
			t.Errorf("%s: %q, want %q", tt.sql, got, tt.want)
		}
	}
}

func TestWKT(t *testing.T) {
	le := binary.LittleEndian
	point := func(b []byte, x, y float64) []byte {
		b = append(b, 1)
		b = le.AppendUint32(b, 1)
		b = le.AppendUint64(b, math.Float64bits(x))
		return le.AppendUint64(b, math.Float64bits(y))
	}
	srid := []byte{0, 0, 0, 0}
	poly := append([]byte{}, srid...)
	poly = append(poly, 1)
	poly = le.AppendUint32(poly, 3)
	poly = le.AppendUint32(poly, 1)
	poly = le.AppendUint32(poly, 4)
	for _, p := range [][2]float64{{0, 0}, {1, 0}, {1, 1.5}, {0, 0}} {
		poly = le.AppendUint64(poly, math.Float64bits(p[0]))
		poly = le.AppendUint64(poly, math.Float64bits(p[1]))
	}
	multi := append([]byte{}, srid...)
	multi = append(multi, 1)
	multi = le.AppendUint32(multi, 4)
	multi = le.AppendUint32(multi, 2)
	multi = point(multi, 1, 2)
	multi = point(multi, 3, 4)
	tests := []struct {
		in   []byte
		want string
	}{
		{point(append([]byte{}, srid...), 1, -2.5), "POINT (1 -2.5)"},
		{poly, "POLYGON ((0 0, 1 0, 1 1.5, 0 0))"},
		{multi, "MULTIPOINT ((1 2), (3 4))"},
	}
	for _, tt := range tests {
		got, err := appendWKT(nil, tt.in)
		if err != nil || string(got) != tt.want {
			t.Errorf("appendWKT = %q, %v; want %q", got, err, tt.want)
		}
	}
	if _, err := appendWKT(nil, []byte{0, 0, 0, 0, 1, 9}); err == nil {
		t.Error("appendWKT accepted a truncated value")
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
