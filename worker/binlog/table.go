package binlog

import (
	"bytes"
	"context"
	"fmt"
	"strings"

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
	cols  []change.Normalizer
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
// (binlog_row_metadata=FULL), so a later ALTER can never shift them. MariaDB's JSON columns,
// which the table map shows as LONGTEXT, come from the JSON column history at the reader's
// position (see JSONColumns), never from today's definition. The server's current definition
// fills in only details the binlog cannot say (a display width, Dolt's binary columns), and
// only where it has the binlog's shape, or everything when the server logs no metadata, in
// which case the layouts must agree or the reader stops.
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

	mariadb := r.cfg.Server != nil && r.cfg.Server.Flavor == mysql.MariaDBFlavor
	jsonCols, err := r.jsonOf(ctx, db, name)
	if err != nil {
		return nil, err
	}

	unsigned := tme.UnsignedMap()
	collations := tme.CollationMap()
	enumSetCollations := tme.EnumSetCollationMap()
	enums := tme.EnumStrValueMap()
	sets := tme.SetStrValueMap()
	geometries := tme.GeometryTypeMap()

	t := &change.Table{Schema: db, Name: name, Columns: make([]change.Column, n)}
	ts := &tableState{tme: tme, table: t, cols: make([]change.Normalizer, n)}
	for i := 0; i < n; i++ {
		ic := infoCol(i)
		tp, length := realType(tme.ColumnType[i], tme.ColumnMeta[i])
		cv := &ts.cols[i]
		// Row values may share memory with the event they were decoded from (no copy per value):
		// go-mysql copies every packet it reads into a buffer of its own (packet.Conn.ReadPacket
		// appends it to a nil slice) and never writes to that buffer again, so what aliases it
		// stays valid for as long as it is referenced. Bump go-mysql only after checking this.
		cv.Alias = true
		col := &t.Columns[i]
		col.Name = names[i]
		coll, hasColl := collations[i]
		if !hasColl {
			coll, hasColl = enumSetCollations[i]
		}
		isBinary := hasColl && coll == binaryCollation
		if ic != nil && ic.Type == change.TypeBinary && (!hasColl || !mariadb) {
			// MySQL and MariaDB log the binary collation for binary columns; Dolt logs the
			// table's default charset for every column, so the definition has to say. MariaDB's
			// binlog is exact: today's definition must not retype rows written before a change.
			isBinary = true
		}
		switch tp {
		case mysql.MYSQL_TYPE_TINY, mysql.MYSQL_TYPE_SHORT, mysql.MYSQL_TYPE_INT24, mysql.MYSQL_TYPE_LONG, mysql.MYSQL_TYPE_LONGLONG:
			cv.Type = change.TypeInt
			cv.Bits = intBits[tp]
			if u, ok := unsigned[i]; ok {
				cv.Unsigned = u
			} else if ic != nil {
				cv.Unsigned = ic.Unsigned
			}
		case mysql.MYSQL_TYPE_NEWDECIMAL, mysql.MYSQL_TYPE_DECIMAL:
			cv.Type = change.TypeDecimal
		case mysql.MYSQL_TYPE_FLOAT, mysql.MYSQL_TYPE_DOUBLE:
			cv.Type = change.TypeFloat
		case mysql.MYSQL_TYPE_BIT:
			cv.Type = change.TypeBit
		case mysql.MYSQL_TYPE_TIMESTAMP, mysql.MYSQL_TYPE_TIMESTAMP2:
			cv.Type = change.TypeTimestamp
			cv.Decimals = fsp(tp, tme.ColumnMeta[i])
		case mysql.MYSQL_TYPE_DATETIME, mysql.MYSQL_TYPE_DATETIME2:
			cv.Type = change.TypeDateTime
			cv.Decimals = fsp(tp, tme.ColumnMeta[i])
		case mysql.MYSQL_TYPE_TIME, mysql.MYSQL_TYPE_TIME2:
			cv.Type = change.TypeTime
			cv.Decimals = fsp(tp, tme.ColumnMeta[i])
		case mysql.MYSQL_TYPE_DATE, mysql.MYSQL_TYPE_NEWDATE:
			cv.Type = change.TypeDate
		case mysql.MYSQL_TYPE_YEAR:
			cv.Type = change.TypeYear
		case mysql.MYSQL_TYPE_ENUM:
			cv.Type = change.TypeEnum
			cv.Members = enums[i]
			if cv.Members == nil && ic != nil {
				cv.Members = ic.Members
			}
		case mysql.MYSQL_TYPE_SET:
			cv.Type = change.TypeSet
			cv.Members = sets[i]
			if cv.Members == nil && ic != nil {
				cv.Members = ic.Members
			}
		case mysql.MYSQL_TYPE_JSON:
			cv.Type = change.TypeJSON
		case mysql.MYSQL_TYPE_GEOMETRY:
			cv.Type = change.TypeGeometry
		case mysql.MYSQL_TYPE_VECTOR:
			cv.Type = change.TypeBinary
		case mysql.MYSQL_TYPE_STRING:
			cv.Type = change.TypeString
			if isBinary {
				cv.Type = change.TypeBinary
				cv.PadTo = length
			}
		case mysql.MYSQL_TYPE_VARCHAR, mysql.MYSQL_TYPE_VAR_STRING, mysql.MYSQL_TYPE_BLOB,
			mysql.MYSQL_TYPE_TINY_BLOB, mysql.MYSQL_TYPE_MEDIUM_BLOB, mysql.MYSQL_TYPE_LONG_BLOB:
			cv.Type = change.TypeString
			if isBinary {
				cv.Type = change.TypeBinary
			}
		default:
			return nil, fmt.Errorf("%w: %s.%s column %s has binlog type %d, which dts cannot decode", ErrUnsupported, db, name, names[i], tp)
		}
		if cv.Type == change.TypeString && jsonCols.has(names[i]) {
			cv.Type = change.TypeJSON
		}
		if !full && ic != nil && !compatible(cv.Type, ic.Type) {
			return nil, fmt.Errorf("%w: %s.%s column %d (%s) is %s in the binlog but %s now, and the binlog carries no column names; set binlog_row_metadata = FULL on the source", ErrUnsupported, db, name, i+1, names[i], cv.Type, ic.Type)
		}
		col.Type = cv.Type
		col.Unsigned = cv.Unsigned
		col.Decimals = cv.Decimals
		switch {
		case cv.Type == change.TypeJSON:
			col.CaseInsensitive = false // JSON compares as binary text (MariaDB: utf8mb4_bin)
		case hasColl:
			col.CaseInsensitive = collationCI(coll)
		case ic != nil:
			col.CaseInsensitive = ic.CaseInsensitive
		case cv.Type == change.TypeString || cv.Type == change.TypeEnum || cv.Type == change.TypeSet:
			col.CaseInsensitive = true
		}
		if hasColl && (cv.Type == change.TypeString || cv.Type == change.TypeJSON) {
			cv.Text = decoderFor(coll)
		}
		if hasColl && cv.Members != nil {
			if dec := decoderFor(coll); dec != nil {
				cv.Members = decodeAll(dec, cv.Members)
			}
		}
		geom, hasGeom := geometries[i]
		_, nullable := tme.Nullable(i)
		numUnsigned, ok := unsigned[i]
		if !ok && ic != nil {
			numUnsigned = strings.Contains(strings.ToLower(ic.SQLType), "unsigned")
		}
		declare(col, declared{tp: tp, meta: tme.ColumnMeta[i], length: length, unsigned: numUnsigned, coll: coll, hasColl: hasColl,
			geometry: geom, hasGeom: hasGeom, members: cv.Members, notNull: !nullable}, ic)
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
		nv, err := ts.cols[i].Normalize(v)
		if err != nil {
			return fmt.Errorf("%s.%s column %s: %w", ts.table.Schema, ts.table.Name, ts.table.Columns[i].Name, err)
		}
		row[i] = nv
	}
	return nil
}

var intBits = map[byte]uint{
	mysql.MYSQL_TYPE_TINY: 8, mysql.MYSQL_TYPE_SHORT: 16, mysql.MYSQL_TYPE_INT24: 24,
	mysql.MYSQL_TYPE_LONG: 32, mysql.MYSQL_TYPE_LONGLONG: 64,
}
