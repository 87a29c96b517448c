package binlog

import (
	"slices"
	"strconv"
	"strings"

	"github.com/go-mysql-org/go-mysql/mysql"

	"github.com/dtsrepl/dts/worker/change"
	"github.com/dtsrepl/dts/worker/schema"
)

// declared is what a table map says of one column's declared type, beyond its value class.
type declared struct {
	tp       byte   // the real type (realType)
	meta     uint16 // the table map's metadata of the column
	length   int    // a CHAR's or BINARY's length in bytes (realType)
	unsigned bool   // of any numeric column
	coll     uint64 // the column's collation, when hasColl
	hasColl  bool
	geometry uint64 // the geometry subtype, when hasGeom (MySQL 8 full metadata)
	hasGeom  bool
	members  []string // ENUM or SET members, decoded to UTF-8
	notNull  bool
}

// declare fills col's declared type (SQLType, Length, Precision, Scale, Members, NotNull) from
// the table map, the way the initial copy fills them from information_schema, so that a row's
// message is the same whichever way it was read. The binlog does not carry all of COLUMN_TYPE
// (an integer's display width, a FLOAT's (M,D), ZEROFILL, without full metadata a text's
// length in characters): when the server's current definition ic has the same shape as the
// binlog's column, its COLUMN_TYPE is taken; after a schema change in the backlog the binlog's
// own facts win.
func declare(col *change.Column, d declared, ic *schema.Column) {
	col.NotNull = d.notNull
	col.Members = d.members
	base := ""
	suffix := ""
	switch d.tp {
	case mysql.MYSQL_TYPE_TINY:
		base = "tinyint"
	case mysql.MYSQL_TYPE_SHORT:
		base = "smallint"
	case mysql.MYSQL_TYPE_INT24:
		base = "mediumint"
	case mysql.MYSQL_TYPE_LONG:
		base = "int"
	case mysql.MYSQL_TYPE_LONGLONG:
		base = "bigint"
	case mysql.MYSQL_TYPE_NEWDECIMAL, mysql.MYSQL_TYPE_DECIMAL:
		base = "decimal"
		col.Precision, col.Scale = int(d.meta>>8), int(d.meta&0xFF)
		suffix = "(" + strconv.Itoa(col.Precision) + "," + strconv.Itoa(col.Scale) + ")"
	case mysql.MYSQL_TYPE_FLOAT:
		base = "float"
	case mysql.MYSQL_TYPE_DOUBLE:
		base = "double"
	case mysql.MYSQL_TYPE_BIT:
		base = "bit"
		col.Length = int(d.meta>>8)*8 + int(d.meta&0xFF)
		suffix = "(" + strconv.Itoa(col.Length) + ")"
	case mysql.MYSQL_TYPE_TIMESTAMP, mysql.MYSQL_TYPE_TIMESTAMP2:
		base, suffix = "timestamp", fspSuffix(col.Decimals)
	case mysql.MYSQL_TYPE_DATETIME, mysql.MYSQL_TYPE_DATETIME2:
		base, suffix = "datetime", fspSuffix(col.Decimals)
	case mysql.MYSQL_TYPE_TIME, mysql.MYSQL_TYPE_TIME2:
		base, suffix = "time", fspSuffix(col.Decimals)
	case mysql.MYSQL_TYPE_DATE, mysql.MYSQL_TYPE_NEWDATE:
		base = "date"
	case mysql.MYSQL_TYPE_YEAR:
		base = "year"
	case mysql.MYSQL_TYPE_ENUM, mysql.MYSQL_TYPE_SET:
		base = "enum"
		if d.tp == mysql.MYSQL_TYPE_SET {
			base = "set"
		}
		suffix = memberList(d.members)
	case mysql.MYSQL_TYPE_JSON:
		base = "json"
	case mysql.MYSQL_TYPE_GEOMETRY:
		base = "geometry"
		if d.hasGeom && d.geometry < uint64(len(geometryTypes)) {
			base = geometryTypes[d.geometry]
		}
	case mysql.MYSQL_TYPE_VECTOR:
		base = "vector"
	case mysql.MYSQL_TYPE_STRING:
		base = "char"
		if col.Type == change.TypeBinary {
			base = "binary"
		}
		col.Length = chars(d, d.length)
		suffix = "(" + strconv.Itoa(col.Length) + ")"
	case mysql.MYSQL_TYPE_VARCHAR, mysql.MYSQL_TYPE_VAR_STRING:
		base = "varchar"
		if col.Type == change.TypeBinary {
			base = "varbinary"
		}
		col.Length = chars(d, int(d.meta))
		suffix = "(" + strconv.Itoa(col.Length) + ")"
	case mysql.MYSQL_TYPE_BLOB, mysql.MYSQL_TYPE_TINY_BLOB, mysql.MYSQL_TYPE_MEDIUM_BLOB, mysql.MYSQL_TYPE_LONG_BLOB:
		sizes := [...]string{"tiny", "", "medium", "long"}
		size := ""
		if d.meta >= 1 && d.meta <= 4 {
			size = sizes[d.meta-1]
		}
		base = size + "text"
		if col.Type == change.TypeBinary {
			base = size + "blob"
		}
	}
	if d.unsigned && numeric(d.tp) {
		suffix += " unsigned"
	}
	col.SQLType = base + suffix
	if ic != nil && sameShape(col, base, d, ic) {
		col.SQLType = ic.SQLType
		col.Length = ic.Length
	}
}

var geometryTypes = [...]string{"geometry", "point", "linestring", "polygon", "multipoint", "multilinestring", "multipolygon", "geometrycollection"}

func fspSuffix(fsp int) string {
	if fsp == 0 {
		return ""
	}
	return "(" + strconv.Itoa(fsp) + ")"
}

// memberList writes ENUM or SET members as COLUMN_TYPE lists them: quoted, in parentheses,
// a quote within a member doubled.
func memberList(members []string) string {
	var b strings.Builder
	b.WriteByte('(')
	for i, m := range members {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteByte('\'')
		b.WriteString(strings.ReplaceAll(m, "'", "''"))
		b.WriteByte('\'')
	}
	b.WriteByte(')')
	return b.String()
}

// chars is a text column's declared length in characters, from its length in bytes: the
// binlog gives bytes, which a multi-byte charset multiplies. Unknown charset: bytes.
func chars(d declared, bytes int) int {
	if !d.hasColl {
		return bytes
	}
	if n := maxBytes(d.coll); n > 1 {
		return bytes / n
	}
	return bytes
}

func numeric(tp byte) bool {
	switch tp {
	case mysql.MYSQL_TYPE_TINY, mysql.MYSQL_TYPE_SHORT, mysql.MYSQL_TYPE_INT24, mysql.MYSQL_TYPE_LONG, mysql.MYSQL_TYPE_LONGLONG,
		mysql.MYSQL_TYPE_NEWDECIMAL, mysql.MYSQL_TYPE_DECIMAL, mysql.MYSQL_TYPE_FLOAT, mysql.MYSQL_TYPE_DOUBLE:
		return true
	}
	return false
}

// sameShape reports whether the server's definition ic describes the binlog's column col (of
// base type base): the same type, signedness, length, precision, fraction digits and members.
// What the binlog cannot know (display widths, a FLOAT's (M,D), ZEROFILL) is not compared.
func sameShape(col *change.Column, base string, d declared, ic *schema.Column) bool {
	if ic.Type != col.Type || ic.Decimals != col.Decimals {
		return false
	}
	icBase := ic.BaseType()
	switch {
	case icBase == "numeric":
		icBase = "decimal"
	case icBase == "integer":
		icBase = "int"
	case icBase == "real":
		icBase = "double"
	}
	switch {
	case base == "geometry" && !d.hasGeom:
		// a subtype (point, polygon...) the table map does not name: the type compared it
	case icBase != base:
		return false
	}
	if numeric(d.tp) && strings.Contains(strings.ToLower(ic.SQLType), "unsigned") != d.unsigned {
		return false
	}
	switch base {
	case "decimal":
		return ic.Precision == col.Precision && ic.Scale == col.Scale
	case "bit":
		return ic.Length == col.Length
	case "char", "varchar", "binary", "varbinary":
		return !d.hasColl && col.Type != change.TypeBinary || ic.Length == col.Length
	case "enum", "set":
		return slices.Equal(ic.Members, col.Members)
	}
	return true
}
