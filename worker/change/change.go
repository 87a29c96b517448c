// Package change holds the worker's model of a row change: the table it belongs to, with
// column names and types, and the row values in a normalized form. The binlog reader and the
// snapshot copier produce it; filters, routing and encoding consume it.
package change

import (
	"strings"
	"time"
)

// Kind is what happened to a row.
type Kind uint8

// Kinds of change.
const (
	Insert Kind = iota + 1
	Update
	Delete
	Snapshot // a row copied by the initial snapshot
	DDL      // a schema change; Event.SQL holds the statement
	// CopyBegin and CopyEnd frame the rows the initial copy reads of one table (Event.Table),
	// for formats that mark them (Maxwell's bootstrap-start and bootstrap-complete). They carry
	// no row.
	CopyBegin
	CopyEnd
)

// Rows reports whether changes of kind k carry a row.
func (k Kind) Rows() bool { return k >= Insert && k <= Snapshot }

// String is the "type" of the message.
func (k Kind) String() string {
	switch k {
	case Insert:
		return "insert"
	case Update:
		return "update"
	case Delete:
		return "delete"
	case Snapshot:
		return "snapshot"
	case DDL:
		return "ddl"
	case CopyBegin:
		return "copy-begin"
	case CopyEnd:
		return "copy-end"
	}
	return "unknown"
}

// ColumnType is the class of a column's values, which decides how they are normalized, compared
// and encoded.
type ColumnType uint8

// Column type classes. The comment says which Go type a non-NULL value has in a Row.
const (
	TypeInt       ColumnType = iota + 1 // int64, or uint64 when Unsigned
	TypeFloat                           // float32 (FLOAT) or float64 (DOUBLE)
	TypeDecimal                         // string, exact ("12.50")
	TypeString                          // string (CHAR, VARCHAR, TEXT)
	TypeBinary                          // []byte (BINARY, VARBINARY, BLOB)
	TypeJSON                            // string holding JSON text
	TypeDate                            // string "2006-01-02"
	TypeDateTime                        // string "2006-01-02 15:04:05[.ffffff]"
	TypeTimestamp                       // string "2006-01-02 15:04:05[.ffffff]" in UTC
	TypeTime                            // string "15:04:05[.ffffff]", may be negative or > 24h
	TypeYear                            // int64
	TypeEnum                            // string (the member's name)
	TypeSet                             // string (members joined by commas)
	TypeBit                             // uint64
	TypeGeometry                        // []byte (SRID + WKB)
)

// String names the class, for messages.
func (t ColumnType) String() string {
	switch t {
	case TypeInt:
		return "int"
	case TypeFloat:
		return "float"
	case TypeDecimal:
		return "decimal"
	case TypeString:
		return "string"
	case TypeBinary:
		return "binary"
	case TypeJSON:
		return "json"
	case TypeDate:
		return "date"
	case TypeDateTime:
		return "datetime"
	case TypeTimestamp:
		return "timestamp"
	case TypeTime:
		return "time"
	case TypeYear:
		return "year"
	case TypeEnum:
		return "enum"
	case TypeSet:
		return "set"
	case TypeBit:
		return "bit"
	case TypeGeometry:
		return "geometry"
	}
	return "unknown"
}

// Column describes one column of a table.
type Column struct {
	Name     string
	Type     ColumnType
	Unsigned bool
	// CaseInsensitive is set for text columns with a case-insensitive collation; filters compare
	// their values the way MySQL would.
	CaseInsensitive bool
	// Decimals is the fractional-seconds precision of a temporal column (0-6); values carry
	// exactly this many fraction digits whichever way they were read.
	Decimals int

	// The declared type, for message formats that describe columns (Canal's mysqlType, Debezium's
	// schema). The binlog reader and the initial copy fill them alike, so a row's message does
	// not depend on how it was read.

	// SQLType is the type as the server writes it in information_schema's COLUMN_TYPE and SHOW
	// CREATE TABLE, lower case: "int(11)", "int(10) unsigned", "varchar(20)", "decimal(10,2)",
	// "datetime(3)", "enum('a','b')". Empty when unknown (a table built by hand).
	SQLType string
	// Length is the declared length: characters of a CHAR or VARCHAR, bytes of a BINARY or
	// VARBINARY, bits of a BIT; 0 for other types.
	Length int
	// Precision and Scale are a DECIMAL's digits in all and after the point.
	Precision, Scale int
	// Members are the names of an ENUM's or SET's members, in order.
	Members []string
	// NotNull is set for a column declared NOT NULL.
	NotNull bool
}

// BaseType is SQLType's type name without length, attributes or members: "int", "varchar",
// "decimal", "enum".
func (c *Column) BaseType() string {
	s := c.SQLType
	if i := strings.IndexAny(s, "( "); i >= 0 {
		s = s[:i]
	}
	return s
}

// Table is a table's identity and column layout at the time of a change. A Table value is never
// modified once built: a schema change produces a new *Table, so caches keyed by the pointer stay
// correct.
type Table struct {
	Schema  string
	Name    string
	Columns []Column
	// PK lists the primary key's column indexes in key order; empty when the table has none.
	PK []int
}

// String is "db.table", for messages.
func (t *Table) String() string { return t.Schema + "." + t.Name }

// ColumnIndex returns the index of the named column (case-insensitive, as in MySQL), or -1.
func (t *Table) ColumnIndex(name string) int {
	for i := range t.Columns {
		if strings.EqualFold(t.Columns[i].Name, name) {
			return i
		}
	}
	return -1
}

// Row holds one value per column of its Table, in column order; nil is SQL NULL.
type Row []any

// Event is one change: a row (Insert, Update, Delete, Snapshot) or a DDL statement.
type Event struct {
	Kind  Kind
	Table *Table // nil for a DDL without a table (CREATE DATABASE)
	// Before is the old row of an Update or the deleted row of a Delete.
	Before Row
	// After is the new row of an Insert, Update or Snapshot.
	After Row

	// Schema and SQL describe a DDL.
	Schema string
	SQL    string

	// Time is when the source executed the transaction (second precision).
	Time time.Time
	// GTID identifies the transaction where the source has GTIDs on ("0-1-123", "uuid:123").
	GTID string
	// Pos is the binlog file and offset of the event, "mysql-bin.000003:4567".
	Pos string
	// XID is the transaction's commit id (0 for non-transactional and DDL events).
	XID uint64
	// Commit is set on the last row of a transaction.
	Commit bool
}

// Subject names what the change is about, for messages: "db.table", or "database db" for a
// DDL without a table.
func (e *Event) Subject() string {
	if e.Table == nil {
		return "database " + e.Schema
	}
	return e.Table.String()
}

// Image returns the row that represents the change's current state: After for inserts,
// updates and snapshots, Before for deletes.
func (e *Event) Image() Row {
	if e.Kind == Delete {
		return e.Before
	}
	return e.After
}

// Frac writes a temporal value with exactly dec fraction digits, the normalized form of
// TypeDateTime, TypeTimestamp and TypeTime values, however the source formatted them.
func Frac(s string, dec int) string {
	dot := strings.LastIndexByte(s, '.')
	switch {
	case dec == 0 && dot < 0:
		return s
	case dec == 0:
		return s[:dot]
	case dot < 0:
		return s + "." + zeros(dec)
	}
	have := len(s) - dot - 1
	if have >= dec {
		return s[:dot+1+dec]
	}
	return s + zeros(dec-have)
}

// zeros returns n zero digits, without allocating for any precision MySQL has (6 at most).
func zeros(n int) string {
	const z = "000000000"
	if n <= len(z) {
		return z[:n]
	}
	return strings.Repeat("0", n)
}
