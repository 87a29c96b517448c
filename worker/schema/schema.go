// Package schema reads table definitions from a MySQL or MariaDB server's information_schema
// and turns them into the worker's change.Table. The snapshot copier describes every table it
// copies this way; the binlog reader uses it for what the binlog's row metadata does not carry
// (MariaDB's JSON columns) and when the server logs no column names at all.
package schema

import (
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/go-mysql-org/go-mysql/mysql"

	"github.com/dtsrepl/dts/worker/change"
)

// Querier runs a statement; *client.Conn from go-mysql satisfies it.
type Querier interface {
	Execute(command string, args ...any) (*mysql.Result, error)
}

// ErrNoTable means the table does not exist (any more).
var ErrNoTable = errors.New("table does not exist")

// Column is a column as information_schema describes it: the worker's view of it, with
// SQLType, Length, Precision, Scale, Members and NotNull filled from COLUMN_TYPE and its
// neighbours.
type Column struct {
	change.Column
	// DataType is information_schema's DATA_TYPE, lower case ("int", "varchar", ...).
	DataType string
}

// Table is a table as information_schema describes it.
type Table struct {
	Schema  string
	Name    string
	Columns []Column
	// PK lists the primary key's column indexes in key order.
	PK []int
	// ChunkKey is the key the snapshot pages by: the primary key, else the first unique key whose
	// columns are all NOT NULL, else empty.
	ChunkKey []int
	// RowsEstimate is information_schema's TABLE_ROWS: an estimate for InnoDB.
	RowsEstimate uint64
}

// Change returns the worker's view of the table.
func (t *Table) Change() *change.Table {
	ct := &change.Table{Schema: t.Schema, Name: t.Name, Columns: make([]change.Column, len(t.Columns)), PK: t.PK}
	for i, c := range t.Columns {
		ct.Columns[i] = c.Column
	}
	return ct
}

// Describe reads one table's definition.
func Describe(q Querier, db, table string) (*Table, error) {
	r, err := q.Execute(`SELECT COLUMN_NAME, DATA_TYPE, COLUMN_TYPE, IFNULL(COLLATION_NAME, ''),
		IFNULL(DATETIME_PRECISION, 0), IFNULL(CHARACTER_MAXIMUM_LENGTH, 0), IS_NULLABLE,
		IFNULL(NUMERIC_PRECISION, 0), IFNULL(NUMERIC_SCALE, 0)
		FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION`, db, table)
	if err != nil {
		return nil, fmt.Errorf("describe %s.%s: %w", db, table, err)
	}
	if r.RowNumber() == 0 {
		return nil, fmt.Errorf("describe %s.%s: %w", db, table, ErrNoTable)
	}
	t := &Table{Schema: db, Name: table}
	for i := range r.RowNumber() {
		name, _ := r.GetString(i, 0)
		dataType, _ := r.GetString(i, 1)
		colType, _ := r.GetString(i, 2)
		collation, _ := r.GetString(i, 3)
		fsp, _ := r.GetInt(i, 4)
		chars, _ := r.GetInt(i, 5)
		nullable, _ := r.GetString(i, 6)
		precision, _ := r.GetInt(i, 7)
		scale, _ := r.GetInt(i, 8)
		c := Column{DataType: strings.ToLower(dataType)}
		c.Name = name
		c.Type = TypeOf(c.DataType, collation)
		c.Unsigned = strings.Contains(strings.ToLower(colType), "unsigned")
		c.CaseInsensitive = CaseInsensitive(collation)
		c.SQLType = colType
		c.NotNull = nullable != "YES"
		if isTemporal(c.Type) {
			c.Decimals = int(fsp)
		}
		switch c.DataType {
		case "char", "varchar", "binary", "varbinary":
			c.Length = int(chars)
		case "bit":
			c.Length = int(precision)
		case "decimal", "numeric":
			c.Precision, c.Scale = int(precision), int(scale)
		}
		if c.Type == change.TypeEnum || c.Type == change.TypeSet {
			c.Members = parseValues(colType)
		}
		t.Columns = append(t.Columns, c)
	}
	if err := describeKeys(q, t); err != nil {
		return nil, err
	}
	if err := describeJSON(q, t); err != nil {
		return nil, err
	}
	r, err = q.Execute(`SELECT IFNULL(TABLE_ROWS, 0) FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?`, db, table)
	if err != nil {
		return nil, fmt.Errorf("describe %s.%s: row estimate: %w", db, table, err)
	}
	if r.RowNumber() > 0 {
		n, _ := r.GetUint(0, 0)
		t.RowsEstimate = n
	}
	return t, nil
}

// describeKeys finds the primary key and the snapshot's chunk key.
func describeKeys(q Querier, t *Table) error {
	r, err := q.Execute(`SELECT INDEX_NAME, COLUMN_NAME, NON_UNIQUE FROM information_schema.STATISTICS
		WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? ORDER BY INDEX_NAME = 'PRIMARY' DESC, INDEX_NAME, SEQ_IN_INDEX`, t.Schema, t.Name)
	if err != nil {
		return fmt.Errorf("describe %s.%s: keys: %w", t.Schema, t.Name, err)
	}
	type index struct {
		name string
		cols []int
		ok   bool
	}
	var order []*index
	byName := map[string]*index{}
	for i := range r.RowNumber() {
		iname, _ := r.GetString(i, 0)
		col, _ := r.GetString(i, 1)
		nonUnique, _ := r.GetInt(i, 2)
		ix := byName[iname]
		if ix == nil {
			ix = &index{name: iname, ok: nonUnique == 0}
			byName[iname] = ix
			order = append(order, ix)
		}
		ci := -1
		for j := range t.Columns {
			if strings.EqualFold(t.Columns[j].Name, col) {
				ci = j
			}
		}
		if ci < 0 {
			ix.ok = false // an expression index: cannot page by it
			continue
		}
		if !t.Columns[ci].NotNull {
			ix.ok = ix.ok && iname == "PRIMARY"
		}
		ix.cols = append(ix.cols, ci)
	}
	for _, ix := range order {
		if ix.name == "PRIMARY" {
			t.PK = ix.cols
			t.ChunkKey = ix.cols
			return nil
		}
	}
	for _, ix := range order {
		if ix.ok && len(ix.cols) > 0 {
			t.ChunkKey = ix.cols
			return nil
		}
	}
	return nil
}

var jsonCheck = regexp.MustCompile("(?i)^json_valid\\(`((?:[^`]|``)+)`\\)$")

// describeJSON marks MariaDB's JSON columns: MariaDB stores JSON as LONGTEXT with an automatic
// json_valid() check, which is the only trace of the type.
func describeJSON(q Querier, t *Table) error {
	r, err := q.Execute(`SELECT CHECK_CLAUSE FROM information_schema.CHECK_CONSTRAINTS WHERE CONSTRAINT_SCHEMA = ? AND TABLE_NAME = ?`, t.Schema, t.Name)
	if err != nil {
		var me *mysql.MyError
		if errors.As(err, &me) && (me.Code == mysql.ER_UNKNOWN_TABLE || me.Code == mysql.ER_NO_SUCH_TABLE || me.Code == mysql.ER_BAD_FIELD_ERROR ||
			me.Code == mysql.ER_UNKNOWN_ERROR) {
			// MySQL 5.7 has no CHECK_CONSTRAINTS; Dolt's lacks TABLE_NAME and says so with
			// 1105. Only MariaDB needs this query (its JSON columns are checked LONGTEXTs).
			return nil
		}
		return fmt.Errorf("describe %s.%s: checks: %w", t.Schema, t.Name, err)
	}
	for i := range r.RowNumber() {
		clause, _ := r.GetString(i, 0)
		m := jsonCheck.FindStringSubmatch(strings.TrimSpace(clause))
		if m == nil {
			continue
		}
		name := strings.ReplaceAll(m[1], "``", "`")
		for j := range t.Columns {
			if strings.EqualFold(t.Columns[j].Name, name) && t.Columns[j].Type == change.TypeString {
				t.Columns[j].Type = change.TypeJSON
			}
		}
	}
	return nil
}

// JSONCheck is a json_valid(column) check: on MariaDB, whose JSON type is LONGTEXT with such a
// check, it is what makes a text column JSON (the binlog's table map says LONGTEXT).
type JSONCheck struct {
	DB, Table string
	// Name is the constraint's name: the column's own (MariaDB names it after the column) or a
	// table-level constraint's.
	Name   string
	Column string
	// ColumnLevel is set for a check declared with the column (MariaDB's JSON type declares
	// one): it belongs to the column's definition, so a MODIFY or CHANGE of the column replaces
	// it. A table-level check stays until dropped by name or with its column.
	ColumnLevel bool
}

// JSONChecks reads the json_valid checks of the tables of the databases dbs (only of table, when
// not empty). A server without CHECK_CONSTRAINTS, or whose CHECK_CONSTRAINTS has no TABLE_NAME
// (MySQL 5.7, MySQL 8, Dolt), has none that matter: their JSON type is JSON in the binlog.
func JSONChecks(q Querier, dbs []string, table string) ([]JSONCheck, error) {
	if len(dbs) == 0 {
		return nil, nil
	}
	where := "CONSTRAINT_SCHEMA IN (" + strings.TrimSuffix(strings.Repeat("?,", len(dbs)), ",") + ")"
	args := make([]any, 0, len(dbs)+1)
	for _, d := range dbs {
		args = append(args, d)
	}
	if table != "" {
		where += " AND TABLE_NAME = ?"
		args = append(args, table)
	}
	r, err := q.Execute(`SELECT CONSTRAINT_SCHEMA, TABLE_NAME, CONSTRAINT_NAME, LEVEL, CHECK_CLAUSE
		FROM information_schema.CHECK_CONSTRAINTS WHERE `+where, args...)
	level := true
	if isBadField(err) {
		// MariaDB before 10.5.10 has no LEVEL: a column's own check is named after it.
		level = false
		r, err = q.Execute(`SELECT CONSTRAINT_SCHEMA, TABLE_NAME, CONSTRAINT_NAME, '', CHECK_CLAUSE
			FROM information_schema.CHECK_CONSTRAINTS WHERE `+where, args...)
	}
	if err != nil {
		var me *mysql.MyError
		if errors.As(err, &me) && (me.Code == mysql.ER_UNKNOWN_TABLE || me.Code == mysql.ER_NO_SUCH_TABLE || me.Code == mysql.ER_BAD_FIELD_ERROR ||
			me.Code == mysql.ER_UNKNOWN_ERROR) {
			return nil, nil
		}
		return nil, fmt.Errorf("read json_valid checks of %s: %w", strings.Join(dbs, ", "), err)
	}
	var out []JSONCheck
	for i := range r.RowNumber() {
		clause, _ := r.GetString(i, 4)
		m := jsonCheck.FindStringSubmatch(strings.TrimSpace(clause))
		if m == nil {
			continue
		}
		var c JSONCheck
		c.DB, _ = r.GetString(i, 0)
		c.Table, _ = r.GetString(i, 1)
		c.Name, _ = r.GetString(i, 2)
		lv, _ := r.GetString(i, 3)
		c.Column = strings.ReplaceAll(m[1], "``", "`")
		if level {
			c.ColumnLevel = strings.EqualFold(lv, "Column")
		} else {
			c.ColumnLevel = strings.EqualFold(c.Name, c.Column)
		}
		out = append(out, c)
	}
	return out, nil
}

func isBadField(err error) bool {
	var me *mysql.MyError
	return errors.As(err, &me) && me.Code == mysql.ER_BAD_FIELD_ERROR
}

// TypeOf maps information_schema's DATA_TYPE (and the collation, which tells text from bytes)
// to a column type class.
func TypeOf(dataType, collation string) change.ColumnType {
	switch dataType {
	case "tinyint", "smallint", "mediumint", "int", "integer", "bigint":
		return change.TypeInt
	case "decimal", "numeric":
		return change.TypeDecimal
	case "float", "double", "real":
		return change.TypeFloat
	case "bit":
		return change.TypeBit
	case "year":
		return change.TypeYear
	case "date":
		return change.TypeDate
	case "datetime":
		return change.TypeDateTime
	case "timestamp":
		return change.TypeTimestamp
	case "time":
		return change.TypeTime
	case "enum":
		return change.TypeEnum
	case "set":
		return change.TypeSet
	case "json":
		return change.TypeJSON
	case "binary", "varbinary", "tinyblob", "blob", "mediumblob", "longblob", "vector":
		return change.TypeBinary
	case "geometry", "point", "linestring", "polygon", "multipoint", "multilinestring", "multipolygon", "geometrycollection":
		return change.TypeGeometry
	case "char", "varchar", "tinytext", "text", "mediumtext", "longtext":
		if collation == "binary" {
			return change.TypeBinary
		}
		return change.TypeString
	}
	// Unknown types (MariaDB's INET6, UUID) are read as text by SELECT.
	return change.TypeString
}

// CaseInsensitive reports whether a collation compares case-insensitively.
func CaseInsensitive(collation string) bool {
	c := strings.ToLower(collation)
	return c != "" && c != "binary" && !strings.HasSuffix(c, "_bin") && !strings.HasSuffix(c, "_cs") && !strings.Contains(c, "_as_cs")
}

func isTemporal(t change.ColumnType) bool {
	switch t {
	case change.TypeDateTime, change.TypeTimestamp, change.TypeTime:
		return true
	}
	return false
}

// parseValues reads the members listed in an ENUM or SET column type, undoing quote doubling.
func parseValues(colType string) []string {
	open := strings.IndexByte(colType, '(')
	end := strings.LastIndexByte(colType, ')')
	if open < 0 || end <= open {
		return nil
	}
	s := colType[open+1 : end]
	var out []string
	for i := 0; i < len(s); {
		if s[i] != '\'' {
			i++
			continue
		}
		var b strings.Builder
		i++
		for i < len(s) {
			if s[i] == '\'' {
				if i+1 < len(s) && s[i+1] == '\'' {
					b.WriteByte('\'')
					i += 2
					continue
				}
				i++
				break
			}
			if s[i] == '\\' && i+1 < len(s) {
				switch c := s[i+1]; c {
				case 'n':
					b.WriteByte('\n')
				case 'r':
					b.WriteByte('\r')
				case '0':
					b.WriteByte(0)
				case 't':
					b.WriteByte('\t')
				case 'Z':
					b.WriteByte(0x1a)
				default:
					b.WriteByte(c)
				}
				i += 2
				continue
			}
			b.WriteByte(s[i])
			i++
		}
		out = append(out, b.String())
	}
	return out
}

// TableInfo is a base table and information_schema's estimate of its rows.
type TableInfo struct {
	DB, Name string
	Rows     uint64
}

// Tables lists the base tables of the databases dbs, in name order.
func Tables(q Querier, dbs []string) ([]TableInfo, error) {
	if len(dbs) == 0 {
		return nil, nil
	}
	marks := strings.TrimSuffix(strings.Repeat("?,", len(dbs)), ",")
	args := make([]any, len(dbs))
	for i, d := range dbs {
		args[i] = d
	}
	r, err := q.Execute(`SELECT TABLE_SCHEMA, TABLE_NAME, IFNULL(TABLE_ROWS, 0) FROM information_schema.TABLES
		WHERE TABLE_TYPE = 'BASE TABLE' AND TABLE_SCHEMA IN (`+marks+`) ORDER BY TABLE_SCHEMA, TABLE_NAME`, args...)
	if err != nil {
		return nil, fmt.Errorf("list tables: %w", err)
	}
	out := make([]TableInfo, 0, r.RowNumber())
	for i := range r.RowNumber() {
		var t TableInfo
		t.DB, _ = r.GetString(i, 0)
		t.Name, _ = r.GetString(i, 1)
		t.Rows, _ = r.GetUint(i, 2)
		out = append(out, t)
	}
	return out, nil
}
