// Package maxwell writes changes as Maxwell's daemon does to Kafka with its default output
// options (zendesk/maxwell docs/docs/dataformat.md; RowMap.toJSON, DDLMap.toJSON and
// RowIdentity.toKeyJson), which Flink's maxwell-json format reads: one JSON object per row
// change, "data" the row and "old" the changed columns' previous values, xid and commit marking
// transactions, bootstrap-start / bootstrap-insert / bootstrap-complete for a copied table, and
// table-create, table-alter, database-create... for DDL.
package maxwell

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"strconv"
	"strings"

	"github.com/dtsrepl/dts/worker/change"
	"github.com/dtsrepl/dts/worker/encode"
	"github.com/dtsrepl/dts/worker/format/internal/ddl"
	"github.com/dtsrepl/dts/worker/format/internal/javatext"
)

// Format is the maxwell message format. It is not safe for concurrent use.
type Format struct {
	enc *encode.Encoder
	// uuid makes the random keys Maxwell gives DDL and rows of tables without a primary key.
	uuid   func() [16]byte
	kbuf   []byte
	vbuf   []byte
	tables map[*change.Table]*table
}

// New returns the maxwell format; enc decides which columns messages leave out.
func New(enc *encode.Encoder) *Format {
	return &Format{enc: enc, uuid: randomUUID, tables: map[*change.Table]*table{}}
}

// table is what every message of one table layout repeats, prepared once.
type table struct {
	head []byte // {"database":"...","table":"..."
	cols []column
	pk   []column // the primary key's columns, named "pk.<lower-case name>":
}

type column struct {
	idx int
	key []byte // "name":
	c   *change.Column
}

func (f *Format) table(t *change.Table) *table {
	if tb, ok := f.tables[t]; ok {
		return tb
	}
	inc := f.enc.Included(t)
	tb := &table{}
	tb.head = append(tb.head, `{"database":`...)
	tb.head = encode.AppendString(tb.head, t.Schema)
	tb.head = append(tb.head, `,"table":`...)
	tb.head = encode.AppendString(tb.head, t.Name)
	for i := range t.Columns {
		if inc[i] {
			tb.cols = append(tb.cols, column{idx: i, c: &t.Columns[i], key: append(encode.AppendString(nil, t.Columns[i].Name), ':')})
		}
	}
	for _, i := range t.PK {
		tb.pk = append(tb.pk, column{idx: i, c: &t.Columns[i], key: append(encode.AppendString(nil, "pk."+strings.ToLower(t.Columns[i].Name)), ':')})
	}
	if len(f.tables) >= 4096 {
		clear(f.tables)
	}
	f.tables[t] = tb
	return tb
}

var rowTypes = [...]string{
	change.Insert: "insert", change.Update: "update", change.Delete: "delete",
	change.Snapshot: "bootstrap-insert", change.CopyBegin: "bootstrap-start", change.CopyEnd: "bootstrap-complete",
}

// Encode implements the worker's message format.
func (f *Format) Encode(ev *change.Event, _ []byte, send func(key, value []byte) error) error {
	if ev.Kind == change.DDL {
		typ := ddlType(ev)
		if typ == "" {
			return nil
		}
		// DDLMap.pkToJson: a random UUID, not JSON.
		f.kbuf = f.appendUUID(f.kbuf[:0], false)
		f.vbuf = ddlValue(f.vbuf[:0], ev, typ)
		return send(f.kbuf, f.vbuf)
	}
	if int(ev.Kind) >= len(rowTypes) || rowTypes[ev.Kind] == "" {
		return nil
	}
	tb := f.table(ev.Table)
	f.kbuf = f.key(f.kbuf[:0], tb, ev)
	f.vbuf = f.value(f.vbuf[:0], tb, ev)
	return send(f.kbuf, f.vbuf)
}

// key writes RowIdentity's "hash" key: database, table and the primary key's values as
// "pk.<column>" (null in a bootstrap-start or -complete, which has no row), or a random
// "_uuid" for a table without a primary key.
func (f *Format) key(dst []byte, tb *table, ev *change.Event) []byte {
	dst = append(dst, tb.head...)
	if len(tb.pk) == 0 {
		dst = append(dst, `,"_uuid":`...)
		dst = f.appendUUID(dst, true)
		return append(dst, '}')
	}
	row := ev.Image()
	for n := range tb.pk {
		col := &tb.pk[n]
		dst = append(dst, ',')
		dst = append(dst, col.key...)
		var v any
		if row != nil {
			v = row[col.idx]
		}
		dst = appendValue(dst, col.c, v)
	}
	return append(dst, '}')
}

// value writes RowMap.toJSON with Maxwell's default output options (commit info on; binlog
// position, GTID, server and thread ids off; nulls written).
func (f *Format) value(dst []byte, tb *table, ev *change.Event) []byte {
	dst = append(dst, tb.head...)
	dst = append(dst, `,"type":"`...)
	dst = append(dst, rowTypes[ev.Kind]...)
	dst = append(dst, `","ts":`...)
	dst = strconv.AppendInt(dst, ev.Time.Unix(), 10)
	if ev.Commit && (ev.Kind == change.Insert || ev.Kind == change.Update || ev.Kind == change.Delete) {
		if ev.XID != 0 {
			dst = append(dst, `,"xid":`...)
			dst = strconv.AppendUint(dst, ev.XID, 10)
		}
		dst = append(dst, `,"commit":true`...)
	}
	dst = append(dst, `,"data":{`...)
	if row := ev.Image(); row != nil {
		for n := range tb.cols {
			col := &tb.cols[n]
			if n > 0 {
				dst = append(dst, ',')
			}
			dst = append(dst, col.key...)
			dst = appendValue(dst, col.c, row[col.idx])
		}
	}
	dst = append(dst, '}')
	if ev.Kind == change.Update {
		start := len(dst)
		dst = append(dst, `,"old":{`...)
		first := true
		for n := range tb.cols {
			col := &tb.cols[n]
			if encode.Equal(ev.Before[col.idx], ev.After[col.idx]) {
				continue
			}
			if !first {
				dst = append(dst, ',')
			}
			first = false
			dst = append(dst, col.key...)
			dst = appendValue(dst, col.c, ev.Before[col.idx])
		}
		if first { // nothing changed: no "old"
			dst = dst[:start]
		} else {
			dst = append(dst, '}')
		}
	}
	return append(dst, '}')
}

// ddlType is Maxwell's type of a schema change (ResolvedSchemaChange's subtypes), "" for a
// statement Maxwell sends nothing for (TRUNCATE changes no schema).
func ddlType(ev *change.Event) string {
	switch ddl.Classify(ev.SQL) {
	case ddl.CreateTable:
		return "table-create"
	case ddl.AlterTable, ddl.AlterTableRename, ddl.AlterTableAddIndex, ddl.AlterTableDropIndex, ddl.RenameTable, ddl.CreateIndex, ddl.DropIndex:
		return "table-alter"
	case ddl.DropTable:
		return "table-drop"
	case ddl.CreateDatabase:
		return "database-create"
	case ddl.AlterDatabase:
		return "database-alter"
	case ddl.DropDatabase:
		return "database-drop"
	case ddl.TruncateTable:
		return ""
	}
	if ev.Table != nil {
		return "table-alter"
	}
	return "database-alter"
}

// ddlValue writes DDLMap.toJSON: the change's type, database and table, ts in milliseconds and
// the statement. Maxwell also writes the table's definition before and after ("old", "def"),
// which dts does not track: they are left out.
func ddlValue(dst []byte, ev *change.Event, typ string) []byte {
	dst = append(dst, `{"type":"`...)
	dst = append(dst, typ...)
	dst = append(dst, `","database":`...)
	dst = encode.AppendString(dst, ev.Schema)
	if ev.Table != nil && strings.HasPrefix(typ, "table-") {
		dst = append(dst, `,"table":`...)
		dst = encode.AppendString(dst, ev.Table.Name)
	}
	dst = append(dst, `,"ts":`...)
	dst = strconv.AppendInt(dst, ev.Time.UnixMilli(), 10)
	dst = append(dst, `,"sql":`...)
	dst = encode.AppendString(dst, ev.SQL)
	return append(dst, '}')
}

// appendUUID writes a random UUID, as a JSON string when quoted.
func (f *Format) appendUUID(dst []byte, quoted bool) []byte {
	u := f.uuid()
	var s [36]byte
	hex.Encode(s[0:8], u[0:4])
	s[8] = '-'
	hex.Encode(s[9:13], u[4:6])
	s[13] = '-'
	hex.Encode(s[14:18], u[6:8])
	s[18] = '-'
	hex.Encode(s[19:23], u[8:10])
	s[23] = '-'
	hex.Encode(s[24:], u[10:])
	if !quoted {
		return append(dst, s[:]...)
	}
	dst = append(dst, '"')
	dst = append(dst, s[:]...)
	return append(dst, '"')
}

// randomUUID is a version 4 UUID, as Java's UUID.randomUUID.
func randomUUID() [16]byte {
	var u [16]byte
	_, _ = rand.Read(u[:])
	u[6] = u[6]&0x0f | 0x40
	u[8] = u[8]&0x3f | 0x80
	return u
}

// appendValue writes a column value as Maxwell's ColumnDef.asJSON does: integers, FLOAT, DOUBLE
// and DECIMAL as numbers (Java's forms), temporal values as strings with the column's fraction
// digits, bytes in base64, JSON columns as JSON, a SET as an array of its members, BIT as a
// number, YEAR as a number, geometry as WKT, NULL as null.
func appendValue(dst []byte, c *change.Column, v any) []byte {
	switch x := v.(type) {
	case nil:
		return append(dst, "null"...)
	case float32:
		return javatext.AppendFloat(dst, x)
	case float64:
		return javatext.AppendDouble(dst, x)
	case string:
		switch c.Type {
		case change.TypeDecimal:
			return javatext.AppendBigDecimal(dst, x)
		case change.TypeSet:
			dst = append(dst, '[')
			for first := true; x != ""; first = false {
				m := x
				if i := strings.IndexByte(x, ','); i >= 0 {
					m, x = x[:i], x[i+1:]
				} else {
					x = ""
				}
				if !first {
					dst = append(dst, ',')
				}
				dst = encode.AppendString(dst, m)
			}
			return append(dst, ']')
		}
	case []byte:
		if c.Type == change.TypeGeometry {
			if out, err := appendWKT(append(dst, '"'), x); err == nil {
				return append(out, '"')
			}
		}
		dst = append(dst, '"')
		dst = base64.StdEncoding.AppendEncode(dst, x)
		return append(dst, '"')
	}
	return encode.AppendValue(dst, c, v)
}
