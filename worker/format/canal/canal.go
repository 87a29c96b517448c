// Package canal writes changes as Canal's flat JSON messages: the FlatMessage canal-server sends
// to Kafka with canal.mq.flatMessage = true (alibaba/canal protocol/FlatMessage.java, built by
// connector/core MQMessageUtils.messageConverter, serialized by fastjson with null fields
// written), which Flink's canal-json format, Doris and StarRocks routine loads and Canal's
// client adapters read.
//
// One message per row change, with the row in a one-element data array: canal-server puts all
// rows of one binlog event in a message, and splits them into one message per row group when it
// hashes rows to partitions, which every reader of the format handles. Like canal-server, the
// message has no Kafka key; the partition is dts's (kafka.partition_mode).
package canal

import (
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/dtsrepl/dts/worker/change"
	"github.com/dtsrepl/dts/worker/encode"
	"github.com/dtsrepl/dts/worker/format/internal/ddl"
	"github.com/dtsrepl/dts/worker/format/internal/javatext"
)

// java.sql.Types codes, Canal's sqlType.
const (
	typeBit       = -7
	typeTinyInt   = -6
	typeBigInt    = -5
	typeChar      = 1
	typeDecimal   = 3
	typeInteger   = 4
	typeSmallInt  = 5
	typeReal      = 7
	typeDouble    = 8
	typeVarchar   = 12
	typeDate      = 91
	typeTime      = 92
	typeTimestamp = 93
	typeBlob      = 2004
	typeClob      = 2005
)

// Format is the canal message format. It is not safe for concurrent use.
type Format struct {
	enc *encode.Encoder
	// now stamps ts, when the message was built (Canal: System.currentTimeMillis()).
	now    func() time.Time
	id     int64
	buf    []byte
	tables map[*change.Table]*table
}

// New returns the canal format; enc decides which columns messages leave out.
func New(enc *encode.Encoder) *Format {
	return &Format{enc: enc, now: time.Now, tables: map[*change.Table]*table{}}
}

// table is what every message of one table layout repeats, prepared once.
type table struct {
	cols      []column
	mysqlType []byte // ,"mysqlType":{...}
	pkNames   []byte // ,"pkNames":[...] or ,"pkNames":null
	tail      []byte // ,"table":"..."
}

// column is one included column.
type column struct {
	idx  int
	key  []byte // "name":
	c    *change.Column
	sqlT int // java.sql.Types of the column (LogEventConvert)
	// bigger is the type Canal reports for an unsigned integer whose value does not fit the
	// signed type of its width (it moves up one: TINYINT to SMALLINT ... BIGINT to DECIMAL),
	// and limit the largest value that does; 0 when the column is not an unsigned integer.
	bigger int
	limit  uint64
	// typed and typedBigger are the column's sqlType entries, "name":code, written ahead.
	typed, typedBigger []byte
}

func (f *Format) table(t *change.Table) *table {
	if tb, ok := f.tables[t]; ok {
		return tb
	}
	inc := f.enc.Included(t)
	tb := &table{}
	var mt []byte
	mt = append(mt, `,"mysqlType":{`...)
	for i := range t.Columns {
		if !inc[i] {
			continue
		}
		c := &t.Columns[i]
		col := column{idx: i, c: c, sqlT: sqlType(c)}
		col.key = encode.AppendString(nil, c.Name)
		col.key = append(col.key, ':')
		if c.Type == change.TypeInt && c.Unsigned {
			col.bigger, col.limit = bigger(c.BaseType())
		}
		col.typed = strconv.AppendInt(append([]byte(nil), col.key...), int64(col.sqlT), 10)
		col.typedBigger = strconv.AppendInt(append([]byte(nil), col.key...), int64(col.bigger), 10)
		if len(tb.cols) > 0 {
			mt = append(mt, ',')
		}
		mt = append(mt, col.key...)
		mt = encode.AppendString(mt, c.SQLType)
		tb.cols = append(tb.cols, col)
	}
	tb.mysqlType = append(mt, '}')
	if len(t.PK) == 0 {
		tb.pkNames = []byte(`,"pkNames":null`)
	} else {
		tb.pkNames = append(tb.pkNames, `,"pkNames":[`...)
		for n, i := range t.PK {
			if n > 0 {
				tb.pkNames = append(tb.pkNames, ',')
			}
			tb.pkNames = encode.AppendString(tb.pkNames, t.Columns[i].Name)
		}
		tb.pkNames = append(tb.pkNames, ']')
	}
	tb.tail = encode.AppendString(append(tb.tail, `,"table":`...), t.Name)
	if len(f.tables) >= 4096 {
		clear(f.tables)
	}
	f.tables[t] = tb
	return tb
}

// Encode implements the worker's message format: a FlatMessage per row change and per DDL, none
// for the copy's table boundaries (Canal has no copy; its rows are INSERTs).
func (f *Format) Encode(ev *change.Event, _ []byte, send func(key, value []byte) error) error {
	switch {
	case ev.Kind == change.DDL:
		f.buf = f.ddl(f.buf[:0], ev)
	case ev.Kind.Rows():
		f.buf = f.row(f.buf[:0], ev)
	default:
		return nil
	}
	return send(nil, f.buf)
}

var types = [...]string{change.Insert: "INSERT", change.Update: "UPDATE", change.Delete: "DELETE", change.Snapshot: "INSERT"}

// row writes a DML FlatMessage; its fields in fastjson's (alphabetical) order.
func (f *Format) row(dst []byte, ev *change.Event) []byte {
	tb := f.table(ev.Table)
	image := ev.Image()
	dst = append(dst, `{"data":[{`...)
	for n := range tb.cols {
		col := &tb.cols[n]
		if n > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, col.key...)
		dst = appendValue(dst, col.c, image[col.idx])
	}
	dst = append(dst, `}],"database":`...)
	dst = encode.AppendString(dst, ev.Table.Schema)
	dst = f.header(dst, ev)
	dst = append(dst, `,"isDdl":false`...)
	dst = append(dst, tb.mysqlType...)
	if ev.Kind == change.Update {
		// The columns whose value changed (LogEventConvert's updated flag), with their old value.
		dst = append(dst, `,"old":[{`...)
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
		dst = append(dst, "}]"...)
	} else {
		dst = append(dst, `,"old":null`...)
	}
	dst = append(dst, tb.pkNames...)
	dst = append(dst, `,"sql":"","sqlType":{`...)
	for n := range tb.cols {
		col := &tb.cols[n]
		if n > 0 {
			dst = append(dst, ',')
		}
		typed := col.typed
		if col.bigger != 0 {
			if u, ok := image[col.idx].(uint64); ok && u > col.limit {
				typed = col.typedBigger
			}
		}
		dst = append(dst, typed...)
	}
	dst = append(dst, '}')
	dst = append(dst, tb.tail...)
	dst = f.ts(dst)
	dst = append(dst, `,"type":"`...)
	dst = append(dst, types[ev.Kind]...)
	return append(dst, `"}`...)
}

// header writes es, gtid and id, which follow database.
func (f *Format) header(dst []byte, ev *change.Event) []byte {
	dst = append(dst, `,"es":`...)
	dst = strconv.AppendInt(dst, ev.Time.UnixMilli(), 10)
	dst = append(dst, `,"gtid":`...)
	dst = encode.AppendString(dst, ev.GTID)
	f.id++
	dst = append(dst, `,"id":`...)
	return strconv.AppendInt(dst, f.id, 10)
}

func (f *Format) ts(dst []byte) []byte {
	dst = append(dst, `,"ts":`...)
	return strconv.AppendInt(dst, f.now().UnixMilli(), 10)
}

// ddlTypes are Canal's event types of DDL (DruidDdlParser): statements it does not name, such
// as CREATE DATABASE, are QUERY.
var ddlTypes = map[ddl.Kind]string{
	ddl.CreateTable: "CREATE", ddl.AlterTable: "ALTER", ddl.AlterTableRename: "RENAME", ddl.RenameTable: "RENAME",
	ddl.AlterTableAddIndex: "CINDEX", ddl.CreateIndex: "CINDEX", ddl.AlterTableDropIndex: "DINDEX", ddl.DropIndex: "DINDEX",
	ddl.DropTable: "ERASE", ddl.TruncateTable: "TRUNCATE",
}

func (f *Format) ddl(dst []byte, ev *change.Event) []byte {
	table := ""
	if ev.Table != nil {
		table = ev.Table.Name
	}
	typ, ok := ddlTypes[ddl.Classify(ev.SQL)]
	if !ok {
		typ = "QUERY"
	}
	dst = append(dst, `{"data":null,"database":`...)
	dst = encode.AppendString(dst, ev.Schema)
	dst = f.header(dst, ev)
	dst = append(dst, `,"isDdl":true,"mysqlType":null,"old":null,"pkNames":null,"sql":`...)
	dst = encode.AppendString(dst, ev.SQL)
	dst = append(dst, `,"sqlType":null,"table":`...)
	dst = encode.AppendString(dst, table)
	dst = f.ts(dst)
	dst = append(dst, `,"type":"`...)
	dst = append(dst, typ...)
	return append(dst, `"}`...)
}

// sqlType is the java.sql.Types code Canal gives a column: from the binlog type
// (RowsLogBuffer.mysqlToJavaType) as LogEventConvert adjusts it by the column's type name
// (TEXT types are CLOB, binary ones BLOB).
func sqlType(c *change.Column) int {
	switch c.BaseType() {
	case "tinyint":
		return typeTinyInt
	case "smallint":
		return typeSmallInt
	case "mediumint", "int", "integer":
		return typeInteger
	case "bigint":
		return typeBigInt
	case "decimal", "numeric":
		return typeDecimal
	case "float":
		return typeReal
	case "double", "real":
		return typeDouble
	case "bit", "set":
		return typeBit
	case "enum":
		return typeInteger
	case "date":
		return typeDate
	case "time":
		return typeTime
	case "datetime", "timestamp":
		return typeTimestamp
	case "year", "varchar", "json":
		return typeVarchar
	case "char":
		return typeChar
	case "tinytext", "text", "mediumtext", "longtext":
		return typeClob
	}
	switch c.Type { // a column of unknown name
	case change.TypeInt:
		return typeBigInt
	case change.TypeBinary, change.TypeGeometry:
		return typeBlob
	case change.TypeDecimal:
		return typeDecimal
	case change.TypeFloat:
		return typeDouble
	}
	return typeVarchar
}

// bigger is the type an unsigned integer column of base type base moves up to when a value does
// not fit its signed range (LogEventConvert.parseOneRow), and that range's top.
func bigger(base string) (int, uint64) {
	switch base {
	case "tinyint":
		return typeSmallInt, 1<<7 - 1
	case "smallint":
		return typeInteger, 1<<15 - 1
	case "mediumint":
		return typeInteger, 1<<23 - 1
	case "int", "integer":
		return typeBigInt, 1<<31 - 1
	case "bigint":
		return typeDecimal, 1<<63 - 1
	}
	return 0, 0
}

// appendValue writes a value as Canal's string: numbers in decimal, floating point as Java
// prints it, temporal values as MySQL writes them, bytes as ISO-8859-1 text (one character per
// byte), an ENUM as its member's number and a SET as its bits, NULL as null.
func appendValue(dst []byte, c *change.Column, v any) []byte {
	if v == nil {
		return append(dst, "null"...)
	}
	switch c.Type {
	case change.TypeBinary, change.TypeGeometry:
		if b, ok := v.([]byte); ok {
			return appendLatin1(dst, b)
		}
	case change.TypeEnum:
		if s, ok := v.(string); ok {
			dst = append(dst, '"')
			dst = strconv.AppendInt(dst, int64(enumIndex(c.Members, s)), 10)
			return append(dst, '"')
		}
	case change.TypeSet:
		if s, ok := v.(string); ok {
			dst = append(dst, '"')
			dst = strconv.AppendUint(dst, setBits(c.Members, s), 10)
			return append(dst, '"')
		}
	case change.TypeYear:
		if y, ok := v.(int64); ok && y == 0 {
			return append(dst, `"0000"`...)
		}
	}
	switch x := v.(type) {
	case string:
		return encode.AppendString(dst, x)
	case int64:
		dst = append(dst, '"')
		dst = strconv.AppendInt(dst, x, 10)
		return append(dst, '"')
	case uint64:
		dst = append(dst, '"')
		dst = strconv.AppendUint(dst, x, 10)
		return append(dst, '"')
	case float32:
		dst = append(dst, '"')
		dst = javatext.AppendFloat(dst, x)
		return append(dst, '"')
	case float64:
		dst = append(dst, '"')
		dst = javatext.AppendDouble(dst, x)
		return append(dst, '"')
	case []byte:
		return appendLatin1(dst, x)
	}
	return encode.AppendValue(dst, c, v)
}

// enumIndex is an ENUM value's member number, 1 for the first; 0 for the empty "invalid" value.
func enumIndex(members []string, s string) int {
	for i, m := range members {
		if m == s {
			return i + 1
		}
	}
	if n, err := strconv.Atoi(s); err == nil { // a number past the members, as the reader gives it
		return n
	}
	return 0
}

// setBits is a SET value's bit mask, bit i for member i.
func setBits(members []string, s string) uint64 {
	var bits uint64
	for s != "" {
		name := s
		if i := strings.IndexByte(s, ','); i >= 0 {
			name, s = s[:i], s[i+1:]
		} else {
			s = ""
		}
		for i, m := range members {
			if m == name {
				bits |= 1 << uint(i)
				break
			}
		}
	}
	return bits
}

const hexDigits = "0123456789abcdef"

// appendLatin1 writes bytes as the JSON string of their ISO-8859-1 decoding, Canal's form of
// binary values (new String(bytes, ISO_8859_1)): byte b is character U+00bb.
func appendLatin1(dst []byte, b []byte) []byte {
	dst = append(dst, '"')
	for _, c := range b {
		switch {
		case c == '"' || c == '\\':
			dst = append(dst, '\\', c)
		case c == '\n':
			dst = append(dst, '\\', 'n')
		case c == '\r':
			dst = append(dst, '\\', 'r')
		case c == '\t':
			dst = append(dst, '\\', 't')
		case c < 0x20:
			dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
		case c < utf8.RuneSelf:
			dst = append(dst, c)
		default:
			dst = utf8.AppendRune(dst, rune(c))
		}
	}
	return append(dst, '"')
}
