// Package debezium writes changes as Debezium's MySQL connector does through Kafka Connect's
// JsonConverter (debezium mysql.adoc, "Data change events" and "Data type mappings"), which
// Flink's debezium-json format, Kafka Connect sinks and most CDC consumers read: a key with the
// primary key's columns, a value envelope with before, after, source, op and ts_ms, the
// connector's logical types for each column, a tombstone after each delete, and a schema change
// record for each DDL. With Options.Schema the key and value carry their Connect schema
// ({"schema":...,"payload":...}, JsonConverter schemas.enable=true).
package debezium

import (
	"encoding/base64"
	"encoding/binary"
	"math/big"
	"math/bits"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/dtsrepl/dts/worker/change"
	"github.com/dtsrepl/dts/worker/encode"
	"github.com/dtsrepl/dts/worker/format/internal/ddl"
	"github.com/dtsrepl/dts/worker/format/internal/javatext"
)

// Decimal handling modes (Debezium's decimal.handling.mode).
const (
	DecimalPrecise = "precise" // Connect's Decimal logical type: the unscaled value's bytes
	DecimalString  = "string"
	DecimalDouble  = "double"
)

// Options shape the messages, as the connector's settings of the same meaning do.
type Options struct {
	// Name is the logical server name (topic.prefix): source.name and the schema names'
	// first part.
	Name string
	// Schema embeds the Connect schema in keys and values (JsonConverter schemas.enable).
	Schema bool
	// Tombstones sends a tombstone (the key, no value) after each delete (tombstones.on.delete).
	Tombstones bool
	// Decimal is how DECIMAL values are written: DecimalPrecise (default), DecimalString or
	// DecimalDouble.
	Decimal string
}

// Format is the debezium message format. It is not safe for concurrent use.
type Format struct {
	o   Options
	enc *encode.Encoder
	// now stamps ts_ms, when the connector processed the change.
	now    func() time.Time
	kbuf   []byte
	vbuf   []byte
	tables map[*change.Table]*table
	big    big.Int // scratch for decimals of more than 18 digits
	bbuf   []byte

	ddlKeySchema, ddlValueSchema []byte
}

// New returns the debezium format; enc decides which columns messages leave out.
func New(enc *encode.Encoder, o Options) *Format {
	if o.Name == "" {
		o.Name = "dts"
	}
	if o.Decimal == "" {
		o.Decimal = DecimalPrecise
	}
	f := &Format{o: o, enc: enc, now: time.Now, tables: map[*change.Table]*table{}}
	if o.Schema {
		f.ddlKeySchema = schemaChangeKeySchema().append(nil, "")
		f.ddlValueSchema = schemaChangeValueSchema().append(nil, "")
	}
	return f
}

// table is what every message of one table layout repeats, prepared once.
type table struct {
	cols []column
	pk   []column
	// keyHead and valueHead open a key and a value: with schemas, {"schema":...,"payload":.
	keyHead, valueHead []byte
	tableName          []byte // the source's "table" value
}

// kind is how a column's values are written.
type kind uint8

const (
	kInt kind = iota
	kUint64AsLong
	kFloat32
	kFloat64
	kDecimalPrecise
	kDecimalString
	kDecimalDouble
	kString
	kBytes
	kDate
	kTimestampMillis
	kTimestampMicros
	kZonedTimestamp
	kMicroTime
	kBool
	kBits
	kGeometry
	kPoint
)

type column struct {
	idx      int
	key      []byte // "name":
	c        *change.Column
	kind     kind
	optional bool
	bytes    int // a BIT's length in bytes
}

func (f *Format) table(t *change.Table) *table {
	if tb, ok := f.tables[t]; ok {
		return tb
	}
	inc := f.enc.Included(t)
	tb := &table{}
	prefix := f.o.Name + "." + t.Schema + "." + t.Name
	value := schema{typ: "struct"}
	key := schema{typ: "struct", name: prefix + ".Key"}
	for i := range t.Columns {
		col, s := f.column(i, &t.Columns[i])
		if inc[i] {
			tb.cols = append(tb.cols, col)
			value.fields = append(value.fields, field{t.Columns[i].Name, s})
		}
	}
	for _, i := range t.PK {
		col, s := f.column(i, &t.Columns[i])
		tb.pk = append(tb.pk, col)
		key.fields = append(key.fields, field{t.Columns[i].Name, s})
	}
	if f.o.Schema {
		tb.keyHead = key.append(append(tb.keyHead, `{"schema":`...), "")
		tb.keyHead = append(tb.keyHead, `,"payload":`...)
		tb.valueHead = envelopeSchema(prefix, value).append(append(tb.valueHead, `{"schema":`...), "")
		tb.valueHead = append(tb.valueHead, `,"payload":`...)
	}
	tb.tableName = encode.AppendString(nil, t.Name)
	if len(f.tables) >= 4096 {
		clear(f.tables)
	}
	f.tables[t] = tb
	return tb
}

// column decides how column c is written and its Connect schema (BinlogValueConverters and
// JdbcValueConverters, with time.precision.mode=adaptive_time_microseconds,
// bigint.unsigned.handling.mode=long and binary.handling.mode=bytes, the defaults).
func (f *Format) column(i int, c *change.Column) (column, schema) {
	col := column{idx: i, c: c, optional: !c.NotNull, key: append(encode.AppendString(nil, c.Name), ':')}
	s := schema{optional: col.optional}
	logical := func(typ, name string, k kind) {
		s.typ, s.name, s.version, col.kind = typ, name, 1, k
	}
	base := c.BaseType()
	switch c.Type {
	case change.TypeInt:
		col.kind = kInt
		switch base {
		case "tinyint":
			s.typ = "int8"
			if c.Unsigned {
				s.typ = "int16"
			}
		case "smallint":
			s.typ = "int16"
			if c.Unsigned {
				s.typ = "int32"
			}
		case "mediumint":
			s.typ = "int32"
		case "int", "integer":
			s.typ = "int32"
			if c.Unsigned {
				s.typ = "int64"
			}
		default:
			s.typ = "int64"
			if c.Unsigned {
				col.kind = kUint64AsLong
			}
		}
	case change.TypeFloat:
		s.typ, col.kind = "float64", kFloat64
		if base == "float" {
			s.typ, col.kind = "float32", kFloat32
		}
	case change.TypeDecimal:
		switch f.o.Decimal {
		case DecimalString:
			s.typ, col.kind = "string", kDecimalString
		case DecimalDouble:
			s.typ, col.kind = "float64", kDecimalDouble
		default:
			logical("bytes", "org.apache.kafka.connect.data.Decimal", kDecimalPrecise)
			s.params = [][2]string{{"scale", strconv.Itoa(c.Scale)}, {"connect.decimal.precision", strconv.Itoa(c.Precision)}}
		}
	case change.TypeString:
		s.typ, col.kind = "string", kString
	case change.TypeJSON:
		logical("string", "io.debezium.data.Json", kString)
	case change.TypeEnum, change.TypeSet:
		logical("string", "io.debezium.data.Enum", kString)
		if c.Type == change.TypeSet {
			s.name = "io.debezium.data.EnumSet"
		}
		s.params = [][2]string{{"allowed", strings.Join(c.Members, ",")}}
	case change.TypeBinary:
		s.typ, col.kind = "bytes", kBytes
	case change.TypeDate:
		logical("int32", "io.debezium.time.Date", kDate)
	case change.TypeDateTime:
		if c.Decimals <= 3 {
			logical("int64", "io.debezium.time.Timestamp", kTimestampMillis)
		} else {
			logical("int64", "io.debezium.time.MicroTimestamp", kTimestampMicros)
		}
	case change.TypeTimestamp:
		logical("string", "io.debezium.time.ZonedTimestamp", kZonedTimestamp)
	case change.TypeTime:
		logical("int64", "io.debezium.time.MicroTime", kMicroTime)
	case change.TypeYear:
		logical("int32", "io.debezium.time.Year", kInt)
	case change.TypeBit:
		if c.Length <= 1 {
			s.typ, col.kind = "boolean", kBool
		} else {
			logical("bytes", "io.debezium.data.Bits", kBits)
			s.params = [][2]string{{"length", strconv.Itoa(c.Length)}}
			col.bytes = (c.Length + 7) / 8
		}
	case change.TypeGeometry:
		if base == "point" {
			s = schema{typ: "struct", optional: col.optional, name: "io.debezium.data.geometry.Point", version: 1, doc: "Geometry (POINT)", fields: []field{
				{"x", prim("double", false)}, {"y", prim("double", false)}, {"wkb", prim("bytes", true)}, {"srid", prim("int32", true)},
			}}
			col.kind = kPoint
		} else {
			str := prim("string", false)
			s = schema{typ: "struct", optional: true, name: "io.debezium.data.geometry.Geometry", version: 2, doc: "Geometry", fields: []field{
				{"wkb", prim("bytes", false)}, {"srid", prim("int32", true)}, {"extensions", schema{typ: "map", optional: true, keys: &str, vals: &str}},
			}}
			col.kind = kGeometry
		}
	default:
		s.typ, col.kind = "string", kString
	}
	return col, s
}

// Encode implements the worker's message format.
func (f *Format) Encode(ev *change.Event, _ []byte, send func(key, value []byte) error) error {
	if ev.Kind == change.DDL {
		return f.schemaChange(ev, send)
	}
	if !ev.Kind.Rows() {
		return nil
	}
	tb := f.table(ev.Table)
	var key []byte
	if len(tb.pk) > 0 {
		f.kbuf = f.key(f.kbuf[:0], tb, ev.Image())
		key = f.kbuf
	}
	f.vbuf = f.value(f.vbuf[:0], tb, ev)
	if err := send(key, f.vbuf); err != nil {
		return err
	}
	if ev.Kind == change.Delete && f.o.Tombstones && key != nil {
		// EventDispatcher: a tombstone with the delete's key lets log compaction drop the row.
		return send(key, nil)
	}
	return nil
}

func (f *Format) key(dst []byte, tb *table, row change.Row) []byte {
	dst = append(dst, tb.keyHead...)
	dst = append(dst, '{')
	for n := range tb.pk {
		if n > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, tb.pk[n].key...)
		dst = f.appendValue(dst, &tb.pk[n], row[tb.pk[n].idx])
	}
	dst = append(dst, '}')
	if len(tb.keyHead) > 0 {
		dst = append(dst, '}')
	}
	return dst
}

var ops = [...]string{change.Insert: "c", change.Update: "u", change.Delete: "d", change.Snapshot: "r"}

// value writes the change event's envelope, in its schema's field order.
func (f *Format) value(dst []byte, tb *table, ev *change.Event) []byte {
	dst = append(dst, tb.valueHead...)
	dst = append(dst, `{"before":`...)
	dst = f.row(dst, tb, ev.Before)
	dst = append(dst, `,"after":`...)
	dst = f.row(dst, tb, ev.After)
	dst = append(dst, `,"source":`...)
	dst = f.source(dst, ev, tb.tableName)
	dst = append(dst, `,"transaction":null,"op":"`...)
	dst = append(dst, ops[ev.Kind]...)
	dst = append(dst, '"')
	dst = f.processed(dst)
	dst = append(dst, '}')
	if len(tb.valueHead) > 0 {
		dst = append(dst, '}')
	}
	return dst
}

func (f *Format) row(dst []byte, tb *table, row change.Row) []byte {
	if row == nil {
		return append(dst, "null"...)
	}
	dst = append(dst, '{')
	for n := range tb.cols {
		if n > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, tb.cols[n].key...)
		dst = f.appendValue(dst, &tb.cols[n], row[tb.cols[n].idx])
	}
	return append(dst, '}')
}

// source writes the source block (AbstractSourceInfoStructMaker and
// BinlogSourceInfoStructMaker). dts knows neither the source's server id, the row's number in
// its binlog event nor the thread: server_id and row are 0, thread null.
func (f *Format) source(dst []byte, ev *change.Event, tableName []byte) []byte {
	dst = append(dst, `{"version":"dts","connector":"mysql","name":`...)
	dst = encode.AppendString(dst, f.o.Name)
	dst = append(dst, `,"ts_ms":`...)
	dst = strconv.AppendInt(dst, ev.Time.UnixMilli(), 10)
	if ev.Kind == change.Snapshot {
		dst = append(dst, `,"snapshot":"true","db":`...)
	} else {
		dst = append(dst, `,"snapshot":"false","db":`...)
	}
	db := ev.Schema
	if ev.Table != nil {
		db = ev.Table.Schema
	}
	dst = encode.AppendString(dst, db)
	dst = append(dst, `,"sequence":null,"ts_us":`...)
	dst = strconv.AppendInt(dst, ev.Time.UnixMicro(), 10)
	dst = append(dst, `,"ts_ns":`...)
	dst = strconv.AppendInt(dst, ev.Time.UnixNano(), 10)
	dst = append(dst, `,"table":`...)
	if tableName == nil {
		dst = append(dst, "null"...)
	} else {
		dst = append(dst, tableName...)
	}
	dst = append(dst, `,"server_id":0,"gtid":`...)
	if ev.GTID == "" {
		dst = append(dst, "null"...)
	} else {
		dst = encode.AppendString(dst, ev.GTID)
	}
	file, pos := ev.Pos, "0"
	if i := strings.LastIndexByte(ev.Pos, ':'); i >= 0 {
		file, pos = ev.Pos[:i], ev.Pos[i+1:]
	}
	dst = append(dst, `,"file":`...)
	dst = encode.AppendString(dst, file)
	dst = append(dst, `,"pos":`...)
	dst = append(dst, pos...)
	return append(dst, `,"row":0,"thread":null,"query":null}`...)
}

// processed writes ts_ms, ts_us and ts_ns: when the change was processed.
func (f *Format) processed(dst []byte) []byte {
	now := f.now()
	dst = append(dst, `,"ts_ms":`...)
	dst = strconv.AppendInt(dst, now.UnixMilli(), 10)
	dst = append(dst, `,"ts_us":`...)
	dst = strconv.AppendInt(dst, now.UnixMicro(), 10)
	dst = append(dst, `,"ts_ns":`...)
	return strconv.AppendInt(dst, now.UnixNano(), 10)
}

// schemaChange writes the schema change record of a DDL (SchemaChangeEvent as the schema change
// topic carries it): key {"databaseName":...}; value source, ts_ms, databaseName, schemaName,
// ddl and tableChanges. dts does not track table definitions: a table change names its type
// and table and has "table": null. TRUNCATE is no schema change (Debezium sends it, if at all,
// as a truncate event, skipped by default).
func (f *Format) schemaChange(ev *change.Event, send func(key, value []byte) error) error {
	kind := ddl.Classify(ev.SQL)
	if kind == ddl.TruncateTable {
		return nil
	}
	k := f.kbuf[:0]
	if f.o.Schema {
		k = append(append(append(k, `{"schema":`...), f.ddlKeySchema...), `,"payload":`...)
	}
	k = append(k, `{"databaseName":`...)
	k = encode.AppendString(k, ev.Schema)
	k = append(k, '}')
	if f.o.Schema {
		k = append(k, '}')
	}
	f.kbuf = k

	v := f.vbuf[:0]
	if f.o.Schema {
		v = append(append(append(v, `{"schema":`...), f.ddlValueSchema...), `,"payload":`...)
	}
	var tableName []byte
	if ev.Table != nil {
		tableName = encode.AppendString(nil, ev.Table.Name)
	}
	v = append(v, `{"source":`...)
	v = f.source(v, ev, tableName)
	v = append(v, `,"ts_ms":`...)
	v = strconv.AppendInt(v, f.now().UnixMilli(), 10)
	v = append(v, `,"databaseName":`...)
	v = encode.AppendString(v, ev.Schema)
	v = append(v, `,"schemaName":null,"ddl":`...)
	v = encode.AppendString(v, ev.SQL)
	v = append(v, `,"tableChanges":[`...)
	if ev.Table != nil {
		typ := "ALTER"
		switch kind {
		case ddl.CreateTable:
			typ = "CREATE"
		case ddl.DropTable:
			typ = "DROP"
		}
		v = append(v, `{"type":"`...)
		v = append(v, typ...)
		v = append(v, `","id":`...)
		v = encode.AppendString(v, `"`+ev.Table.Schema+`"."`+ev.Table.Name+`"`)
		v = append(v, `,"table":null}`...)
	}
	v = append(v, "]}"...)
	if f.o.Schema {
		v = append(v, '}')
	}
	f.vbuf = v
	return send(f.kbuf, f.vbuf)
}

// appendValue writes a column value as the connector's converters make it and JsonConverter
// writes it: bytes in base64, numbers as numbers (Java's forms for floating point).
func (f *Format) appendValue(dst []byte, col *column, v any) []byte {
	if v == nil {
		return append(dst, "null"...)
	}
	switch col.kind {
	case kUint64AsLong:
		if u, ok := v.(uint64); ok { // bigint.unsigned.handling.mode=long: the signed 64 bits
			return strconv.AppendInt(dst, int64(u), 10)
		}
	case kFloat32:
		switch x := v.(type) {
		case float32:
			return javatext.AppendFloat(dst, x)
		case float64:
			return javatext.AppendFloat(dst, float32(x))
		}
	case kFloat64:
		switch x := v.(type) {
		case float64:
			return javatext.AppendDouble(dst, x)
		case float32:
			return javatext.AppendDouble(dst, float64(x))
		}
	case kDecimalPrecise:
		if s, ok := v.(string); ok {
			return f.appendUnscaled(dst, s)
		}
	case kDecimalDouble:
		if s, ok := v.(string); ok {
			if d, err := strconv.ParseFloat(s, 64); err == nil {
				return javatext.AppendDouble(dst, d)
			}
		}
	case kDate:
		if s, ok := v.(string); ok {
			days, ok := epochDays(s)
			if !ok {
				return zero(dst, col, "0")
			}
			return strconv.AppendInt(dst, days, 10)
		}
	case kTimestampMillis, kTimestampMicros:
		if s, ok := v.(string); ok {
			micros, ok := epochMicros(s)
			if !ok {
				return zero(dst, col, "0")
			}
			if col.kind == kTimestampMillis {
				return strconv.AppendInt(dst, floorDiv(micros, 1000), 10)
			}
			return strconv.AppendInt(dst, micros, 10)
		}
	case kZonedTimestamp:
		if s, ok := v.(string); ok {
			if _, ok := epochMicros(s); !ok || len(s) < 19 {
				return zero(dst, col, `"1970-01-01T00:00:00Z"`)
			}
			dst = append(dst, '"')
			dst = append(dst, s[:10]...)
			dst = append(dst, 'T')
			dst = append(dst, s[11:]...)
			return append(dst, `Z"`...)
		}
	case kMicroTime:
		if s, ok := v.(string); ok {
			return strconv.AppendInt(dst, timeMicros(s), 10)
		}
	case kBool:
		if u, ok := v.(uint64); ok {
			return strconv.AppendBool(dst, u != 0)
		}
	case kBits:
		if u, ok := v.(uint64); ok {
			var b [8]byte
			for i := 0; i < col.bytes && i < 8; i++ { // little-endian (Bits)
				b[i] = byte(u >> (8 * i))
			}
			dst = append(dst, '"')
			dst = base64.StdEncoding.AppendEncode(dst, b[:min(col.bytes, 8)])
			return append(dst, '"')
		}
	case kGeometry, kPoint:
		if b, ok := v.([]byte); ok {
			return appendGeometry(dst, col.kind == kPoint, b)
		}
	case kString:
		if s, ok := v.(string); ok {
			return encode.AppendString(dst, s)
		}
	}
	return encode.AppendValue(dst, col.c, v)
}

// zero writes the value Debezium gives a zero or invalid date ("0000-00-00"): null when the
// column allows it, else the epoch.
func zero(dst []byte, col *column, epoch string) []byte {
	if col.optional {
		return append(dst, "null"...)
	}
	return append(dst, epoch...)
}

// appendUnscaled writes a DECIMAL as Connect's Decimal: the base64 of its unscaled value's
// big-endian two's complement bytes, as few as hold it (BigInteger.toByteArray).
func (f *Format) appendUnscaled(dst []byte, s string) []byte {
	var digits [72]byte
	d := digits[:0]
	neg := false
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '-':
			neg = true
		case c >= '0' && c <= '9':
			d = append(d, c)
		}
	}
	var raw []byte
	if len(d) <= 38 { // fits 127 bits: two's complement in 128
		var hi, lo uint64
		for _, c := range d {
			h1, l1 := bits.Mul64(lo, 10)
			var carry uint64
			lo, carry = bits.Add64(l1, uint64(c-'0'), 0)
			hi = hi*10 + h1 + carry
		}
		if neg {
			var borrow uint64
			lo, borrow = bits.Sub64(0, lo, 0)
			hi, _ = bits.Sub64(0, hi, borrow)
		}
		var b [16]byte
		binary.BigEndian.PutUint64(b[:8], hi)
		binary.BigEndian.PutUint64(b[8:], lo)
		raw = minimal(b[:])
	} else {
		f.big.SetString(string(d), 10)
		if neg {
			f.big.Neg(&f.big)
		}
		n := f.big.BitLen()/8 + 1
		f.bbuf = slices.Grow(f.bbuf[:0], n)[:n]
		if neg { // 2^(8n) + v
			var m big.Int
			m.Lsh(big.NewInt(1), uint(8*n))
			m.Add(&m, &f.big)
			m.FillBytes(f.bbuf)
		} else {
			f.big.FillBytes(f.bbuf)
		}
		raw = minimal(f.bbuf)
	}
	dst = append(dst, '"')
	dst = base64.StdEncoding.AppendEncode(dst, raw)
	return append(dst, '"')
}

// minimal drops the leading bytes of a big-endian two's complement number that only repeat
// its sign.
func minimal(b []byte) []byte {
	for len(b) > 1 && (b[0] == 0 && b[1]&0x80 == 0 || b[0] == 0xFF && b[1]&0x80 != 0) {
		b = b[1:]
	}
	return b
}

// appendGeometry writes MySQL's geometry value (4-byte little-endian SRID, then WKB) as
// Debezium's Geometry struct {wkb, srid, extensions}, or Point {x, y, wkb, srid}.
func appendGeometry(dst []byte, point bool, v []byte) []byte {
	if len(v) < 4 {
		return append(dst, "null"...)
	}
	srid := int32(uint32(v[0]) | uint32(v[1])<<8 | uint32(v[2])<<16 | uint32(v[3])<<24)
	wkb := v[4:]
	dst = append(dst, '{')
	if point {
		x, y, ok := wkbPoint(wkb)
		if !ok {
			return append(dst[:len(dst)-1], "null"...)
		}
		dst = append(dst, `"x":`...)
		dst = javatext.AppendDouble(dst, x)
		dst = append(dst, `,"y":`...)
		dst = javatext.AppendDouble(dst, y)
		dst = append(dst, ',')
	}
	dst = append(dst, `"wkb":"`...)
	dst = base64.StdEncoding.AppendEncode(dst, wkb)
	dst = append(dst, `","srid":`...)
	dst = strconv.AppendInt(dst, int64(srid), 10)
	if !point {
		dst = append(dst, `,"extensions":null`...)
	}
	return append(dst, '}')
}
