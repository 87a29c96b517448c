package binlog

import (
	"bytes"
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unsafe"

	"github.com/go-mysql-org/go-mysql/mysql"
	"github.com/go-mysql-org/go-mysql/replication"
	"golang.org/x/text/encoding"

	"github.com/dtsrepl/dts/worker/change"
	"github.com/dtsrepl/dts/worker/schema"
)

// tableState is a table layout seen in the binlog, with how to normalize its rows.
type tableState struct {
	tme   *replication.TableMapEvent
	table *change.Table
	cols  []colConv
}

// colConv says how one column's decoded values become change.Row values.
type colConv struct {
	typ      change.ColumnType
	unsigned bool
	members  []string          // ENUM and SET members
	padTo    int               // BINARY(n): MySQL pads with zero bytes, the binlog does not
	text     encoding.Encoding // a legacy charset's text is converted to UTF-8
	decimals int
	bits     uint // integer width, to undo sign extension when only the schema knows signedness
}

const binaryCollation = 63

// table returns the layout of a rows event's table, reusing the last one while the table map
// describes the same columns (a new *change.Table only after a schema change).
func (r *Reader) table(ctx context.Context, id uint64, tme *replication.TableMapEvent) (*tableState, error) {
	if ts, ok := r.tables[id]; ok && (ts.tme == tme || sameLayout(ts.tme, tme)) {
		ts.tme = tme
		return ts, nil
	}
	ts, err := r.build(ctx, tme)
	if err != nil {
		return nil, err
	}
	if len(r.tables) > 10000 {
		clear(r.tables)
	}
	r.tables[id] = ts
	return ts, nil
}

func sameLayout(a, b *replication.TableMapEvent) bool {
	if a.ColumnCount != b.ColumnCount || !bytes.Equal(a.Schema, b.Schema) || !bytes.Equal(a.Table, b.Table) ||
		!bytes.Equal(a.ColumnType, b.ColumnType) || !bytes.Equal(a.SignednessBitmap, b.SignednessBitmap) ||
		len(a.ColumnName) != len(b.ColumnName) || len(a.ColumnMeta) != len(b.ColumnMeta) ||
		len(a.EnumStrValue) != len(b.EnumStrValue) || len(a.SetStrValue) != len(b.SetStrValue) ||
		len(a.PrimaryKey) != len(b.PrimaryKey) {
		return false
	}
	for i := range a.ColumnMeta {
		if a.ColumnMeta[i] != b.ColumnMeta[i] {
			return false
		}
	}
	for i := range a.ColumnName {
		if !bytes.Equal(a.ColumnName[i], b.ColumnName[i]) {
			return false
		}
	}
	for i := range a.PrimaryKey {
		if a.PrimaryKey[i] != b.PrimaryKey[i] {
			return false
		}
	}
	return sameValues(a.EnumStrValue, b.EnumStrValue) && sameValues(a.SetStrValue, b.SetStrValue) &&
		sameInts(a.DefaultCharset, b.DefaultCharset) && sameInts(a.ColumnCharset, b.ColumnCharset)
}

func sameValues(a, b [][][]byte) bool {
	for i := range a {
		if len(a[i]) != len(b[i]) {
			return false
		}
		for j := range a[i] {
			if !bytes.Equal(a[i][j], b[i][j]) {
				return false
			}
		}
	}
	return true
}

func sameInts(a, b []uint64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// build turns a table map into a layout. Column names, signedness, charsets, ENUM/SET members
// and the primary key come from the binlog's own row metadata when the server logs it
// (binlog_row_metadata=FULL), so a later ALTER can never shift them. The server's current
// definition fills in only what the binlog cannot say (MariaDB's JSON columns), or everything
// when the server logs no metadata, in which case the layouts must agree or the reader stops.
func (r *Reader) build(ctx context.Context, tme *replication.TableMapEvent) (*tableState, error) {
	db, name := string(tme.Schema), string(tme.Table)
	n := int(tme.ColumnCount)
	names := tme.ColumnNameString()
	full := len(names) == n

	var info *schema.Table
	if r.cfg.Describe != nil {
		var err error
		info, err = r.cfg.Describe.Describe(ctx, db, name)
		if err != nil {
			if !full {
				return nil, fmt.Errorf("table %s.%s: the binlog carries no column names and the table cannot be described: %w", db, name, err)
			}
			r.log.Debug("describe table for binlog layout", "table", db+"."+name, "err", err)
			info = nil
		}
	}
	if !full {
		if info == nil {
			return nil, fmt.Errorf("%w: %s.%s: the binlog carries no column names; set binlog_row_metadata = FULL on the source", ErrUnsupported, db, name)
		}
		if len(info.Columns) != n {
			return nil, fmt.Errorf("%w: %s.%s has %d columns in the binlog but %d now, and the binlog carries no column names to tell them apart; set binlog_row_metadata = FULL on the source (MySQL 8.0.1+, MariaDB 10.5+)", ErrUnsupported, db, name, n, len(info.Columns))
		}
		names = make([]string, n)
		for i := range info.Columns {
			names[i] = info.Columns[i].Name
		}
	}
	// infoCol finds the server's definition of binlog column i by name.
	infoCol := func(i int) *schema.Column {
		if info == nil {
			return nil
		}
		for j := range info.Columns {
			if strings.EqualFold(info.Columns[j].Name, names[i]) {
				return &info.Columns[j]
			}
		}
		return nil
	}

	unsigned := tme.UnsignedMap()
	collations := tme.CollationMap()
	enumSetCollations := tme.EnumSetCollationMap()
	enums := tme.EnumStrValueMap()
	sets := tme.SetStrValueMap()

	t := &change.Table{Schema: db, Name: name, Columns: make([]change.Column, n)}
	ts := &tableState{tme: tme, table: t, cols: make([]colConv, n)}
	for i := 0; i < n; i++ {
		ic := infoCol(i)
		tp, length := realType(tme.ColumnType[i], tme.ColumnMeta[i])
		cv := &ts.cols[i]
		col := &t.Columns[i]
		col.Name = names[i]
		coll, hasColl := collations[i]
		if !hasColl {
			coll, hasColl = enumSetCollations[i]
		}
		isBinary := hasColl && coll == binaryCollation
		if !hasColl && ic != nil {
			isBinary = ic.Type == change.TypeBinary
		}
		switch tp {
		case mysql.MYSQL_TYPE_TINY, mysql.MYSQL_TYPE_SHORT, mysql.MYSQL_TYPE_INT24, mysql.MYSQL_TYPE_LONG, mysql.MYSQL_TYPE_LONGLONG:
			cv.typ = change.TypeInt
			cv.bits = intBits[tp]
			if u, ok := unsigned[i]; ok {
				cv.unsigned = u
			} else if ic != nil {
				cv.unsigned = ic.Unsigned
			}
		case mysql.MYSQL_TYPE_NEWDECIMAL, mysql.MYSQL_TYPE_DECIMAL:
			cv.typ = change.TypeDecimal
		case mysql.MYSQL_TYPE_FLOAT, mysql.MYSQL_TYPE_DOUBLE:
			cv.typ = change.TypeFloat
		case mysql.MYSQL_TYPE_BIT:
			cv.typ = change.TypeBit
		case mysql.MYSQL_TYPE_TIMESTAMP, mysql.MYSQL_TYPE_TIMESTAMP2:
			cv.typ = change.TypeTimestamp
			cv.decimals = fsp(tp, tme.ColumnMeta[i])
		case mysql.MYSQL_TYPE_DATETIME, mysql.MYSQL_TYPE_DATETIME2:
			cv.typ = change.TypeDateTime
			cv.decimals = fsp(tp, tme.ColumnMeta[i])
		case mysql.MYSQL_TYPE_TIME, mysql.MYSQL_TYPE_TIME2:
			cv.typ = change.TypeTime
			cv.decimals = fsp(tp, tme.ColumnMeta[i])
		case mysql.MYSQL_TYPE_DATE, mysql.MYSQL_TYPE_NEWDATE:
			cv.typ = change.TypeDate
		case mysql.MYSQL_TYPE_YEAR:
			cv.typ = change.TypeYear
		case mysql.MYSQL_TYPE_ENUM:
			cv.typ = change.TypeEnum
			cv.members = enums[i]
			if cv.members == nil && ic != nil {
				cv.members = ic.Values
			}
		case mysql.MYSQL_TYPE_SET:
			cv.typ = change.TypeSet
			cv.members = sets[i]
			if cv.members == nil && ic != nil {
				cv.members = ic.Values
			}
		case mysql.MYSQL_TYPE_JSON:
			cv.typ = change.TypeJSON
		case mysql.MYSQL_TYPE_GEOMETRY:
			cv.typ = change.TypeGeometry
		case mysql.MYSQL_TYPE_VECTOR:
			cv.typ = change.TypeBinary
		case mysql.MYSQL_TYPE_STRING:
			cv.typ = change.TypeString
			if isBinary {
				cv.typ = change.TypeBinary
				cv.padTo = length
			}
		case mysql.MYSQL_TYPE_VARCHAR, mysql.MYSQL_TYPE_VAR_STRING, mysql.MYSQL_TYPE_BLOB,
			mysql.MYSQL_TYPE_TINY_BLOB, mysql.MYSQL_TYPE_MEDIUM_BLOB, mysql.MYSQL_TYPE_LONG_BLOB:
			cv.typ = change.TypeString
			if isBinary {
				cv.typ = change.TypeBinary
			}
		default:
			return nil, fmt.Errorf("%w: %s.%s column %s has binlog type %d, which dts cannot decode", ErrUnsupported, db, name, names[i], tp)
		}
		if cv.typ == change.TypeString && ic != nil && ic.Type == change.TypeJSON {
			cv.typ = change.TypeJSON
		}
		if !full && ic != nil && !compatible(cv.typ, ic.Type) {
			return nil, fmt.Errorf("%w: %s.%s column %d (%s) is %s in the binlog but %s now, and the binlog carries no column names; set binlog_row_metadata = FULL on the source", ErrUnsupported, db, name, i+1, names[i], cv.typ, ic.Type)
		}
		col.Type = cv.typ
		col.Unsigned = cv.unsigned
		col.Decimals = cv.decimals
		switch {
		case cv.typ == change.TypeJSON:
			col.CaseInsensitive = false // JSON compares as binary text (MariaDB: utf8mb4_bin)
		case hasColl:
			col.CaseInsensitive = collationCI(coll)
		case ic != nil:
			col.CaseInsensitive = ic.CaseInsensitive
		case cv.typ == change.TypeString || cv.typ == change.TypeEnum || cv.typ == change.TypeSet:
			col.CaseInsensitive = true
		}
		if hasColl && (cv.typ == change.TypeString || cv.typ == change.TypeJSON) {
			cv.text = decoderFor(coll)
		}
		if hasColl && cv.members != nil {
			if dec := decoderFor(coll); dec != nil {
				cv.members = decodeAll(dec, cv.members)
			}
		}
	}
	switch {
	case len(tme.PrimaryKey) > 0:
		t.PK = make([]int, len(tme.PrimaryKey))
		for i, k := range tme.PrimaryKey {
			t.PK[i] = int(k)
		}
	case info != nil:
		for _, k := range info.PK {
			if idx := t.ColumnIndex(info.Columns[k].Name); idx >= 0 {
				t.PK = append(t.PK, idx)
			} else {
				t.PK = nil
				break
			}
		}
	}
	return ts, nil
}

// realType undoes MySQL's packing of ENUM, SET and CHAR lengths into MYSQL_TYPE_STRING's
// metadata, returning the real type and the declared length in bytes.
func realType(tp byte, meta uint16) (byte, int) {
	if tp != mysql.MYSQL_TYPE_STRING || meta < 256 {
		return tp, int(meta)
	}
	b0, b1 := byte(meta>>8), byte(meta&0xFF)
	if b0&0x30 != 0x30 {
		return b0 | 0x30, int(uint16(b1) | uint16((b0&0x30)^0x30)<<4)
	}
	return b0, int(b1)
}

func fsp(tp byte, meta uint16) int {
	switch tp {
	case mysql.MYSQL_TYPE_TIMESTAMP2, mysql.MYSQL_TYPE_DATETIME2, mysql.MYSQL_TYPE_TIME2:
		return int(meta)
	}
	return 0
}

func compatible(a, b change.ColumnType) bool {
	if a == b {
		return true
	}
	text := func(t change.ColumnType) bool {
		return t == change.TypeString || t == change.TypeJSON || t == change.TypeBinary
	}
	return text(a) && text(b)
}

// formatTime writes "2006-01-02 15:04:05" with dec fraction digits, without fmt.
func formatTime(t time.Time, dec int) string {
	var b [26]byte
	year, month, day := t.Date()
	hour, minute, sec := t.Clock()
	put := func(i, v, n int) {
		for j := i + n - 1; j >= i; j-- {
			b[j] = byte('0' + v%10)
			v /= 10
		}
	}
	put(0, year, 4)
	b[4] = '-'
	put(5, int(month), 2)
	b[7] = '-'
	put(8, day, 2)
	b[10] = ' '
	put(11, hour, 2)
	b[13] = ':'
	put(14, minute, 2)
	b[16] = ':'
	put(17, sec, 2)
	n := 19
	if dec > 0 {
		b[19] = '.'
		put(20, t.Nanosecond()/1000, 6)
		n = 20 + dec
	}
	return string(b[:n])
}

func decodeAll(enc encoding.Encoding, in []string) []string {
	out := make([]string, len(in))
	for i, s := range in {
		if u, err := enc.NewDecoder().String(s); err == nil {
			out[i] = u
		} else {
			out[i] = s
		}
	}
	return out
}

// normalize turns go-mysql's decoded values into change.Row values, in place.
func (ts *tableState) normalize(row []any) error {
	if len(row) != len(ts.cols) {
		return fmt.Errorf("%s.%s: row has %d values for %d columns", ts.table.Schema, ts.table.Name, len(row), len(ts.cols))
	}
	for i, v := range row {
		if v == nil {
			continue
		}
		c := &ts.cols[i]
		nv, ok := c.convert(v)
		if !ok {
			return fmt.Errorf("%s.%s column %s: unexpected %T value for a %s column", ts.table.Schema, ts.table.Name, ts.table.Columns[i].Name, v, c.typ)
		}
		row[i] = nv
	}
	return nil
}

func (c *colConv) convert(v any) (any, bool) {
	switch c.typ {
	case change.TypeInt:
		return intValue(v, c.unsigned, c.bits)
	case change.TypeFloat, change.TypeDecimal:
		return v, true
	case change.TypeYear:
		switch x := v.(type) {
		case int:
			return int64(x), true
		case int64:
			return x, true
		}
		return nil, false
	case change.TypeBit:
		switch x := v.(type) {
		case int64:
			return uint64(x), true
		case uint64:
			return x, true
		}
		return nil, false
	case change.TypeDate:
		return v, true
	case change.TypeDateTime, change.TypeTimestamp:
		switch x := v.(type) {
		case time.Time:
			return formatTime(x.UTC(), c.decimals), true
		case string: // zero and partial dates ("0000-00-00 00:00:00")
			return change.Frac(x, c.decimals), true
		}
		return nil, false
	case change.TypeTime:
		s, ok := v.(string)
		if !ok {
			return nil, false
		}
		return change.Frac(s, c.decimals), true
	case change.TypeEnum:
		idx, ok := v.(int64)
		if !ok {
			return nil, false
		}
		switch {
		case idx == 0:
			return "", true // MySQL's "invalid value" member
		case int(idx) <= len(c.members):
			return c.members[idx-1], true
		}
		return strconv.FormatInt(idx, 10), true
	case change.TypeSet:
		bits, ok := v.(int64)
		if !ok {
			return nil, false
		}
		if c.members == nil {
			return strconv.FormatInt(bits, 10), true
		}
		var b strings.Builder
		for i, m := range c.members {
			if bits&(1<<uint(i)) != 0 {
				if b.Len() > 0 {
					b.WriteByte(',')
				}
				b.WriteString(m)
			}
		}
		return b.String(), true
	case change.TypeString, change.TypeJSON:
		var s string
		switch x := v.(type) {
		case string:
			s = x
		case []byte:
			s = unsafe.String(unsafe.SliceData(x), len(x))
		default:
			return nil, false
		}
		if c.text != nil {
			if u, err := c.text.NewDecoder().String(s); err == nil {
				s = u
			}
		}
		return s, true
	case change.TypeBinary, change.TypeGeometry:
		var b []byte
		switch x := v.(type) {
		case []byte:
			b = x
		case string:
			b = unsafe.Slice(unsafe.StringData(x), len(x))
		default:
			return nil, false
		}
		if c.padTo > len(b) {
			p := make([]byte, c.padTo)
			copy(p, b)
			b = p
		}
		return b, true
	}
	return nil, false
}

var intBits = map[byte]uint{
	mysql.MYSQL_TYPE_TINY: 8, mysql.MYSQL_TYPE_SHORT: 16, mysql.MYSQL_TYPE_INT24: 24,
	mysql.MYSQL_TYPE_LONG: 32, mysql.MYSQL_TYPE_LONGLONG: 64,
}

func intValue(v any, unsigned bool, bits uint) (any, bool) {
	var s int64
	switch x := v.(type) {
	case int8:
		s = int64(x)
	case int16:
		s = int64(x)
	case int32:
		s = int64(x)
	case int64:
		s = x
	case uint8:
		return uint64(x), true
	case uint16:
		return uint64(x), true
	case uint32:
		return uint64(x), true
	case uint64:
		return x, true
	default:
		return nil, false
	}
	if !unsigned {
		return s, true
	}
	u := uint64(s)
	if bits > 0 && bits < 64 {
		u &= 1<<bits - 1
	}
	return u, true
}
