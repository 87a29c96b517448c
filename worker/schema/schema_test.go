package schema

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/go-mysql-org/go-mysql/mysql"

	"github.com/dtsrepl/dts/worker/change"
)

func TestParseValues(t *testing.T) {
	tests := []struct {
		name    string
		colType string
		want    []string
	}{
		{"enum", "enum('a','b')", []string{"a", "b"}},
		{"set", "set('red','green','blue')", []string{"red", "green", "blue"}},
		{"doubled quote", "enum('it''s','x')", []string{"it's", "x"}},
		{"only a quote", "enum('''')", []string{"'"}},
		{"quotes and comma inside", "enum('a'',''b','c')", []string{"a','b", "c"}},
		{"comma inside", "set('a,b','c')", []string{"a,b", "c"}},
		{"parentheses inside", "enum('(x)','y)','(')", []string{"(x)", "y)", "("}},
		{"escaped backslash", `enum('a\\b','c')`, []string{`a\b`, "c"}},
		{"backslash at the end of a member", `enum('a\\','b')`, []string{`a\`, "b"}},
		{"two backslashes", `enum('\\\\')`, []string{`\\`}},
		{"newline as the server escapes it", `enum('line1\nline2','x')`, []string{"line1\nline2", "x"}},
		{"carriage return as the server escapes it", `enum('a\rb')`, []string{"a\rb"}},
		{"empty member", "enum('','a')", []string{"", "a"}},
		{"only an empty member", "enum('')", []string{""}},
		{"spaces kept", "enum(' a ','b ')", []string{" a ", "b "}},
		{"unicode", "enum('日本','über','🙂')", []string{"日本", "über", "🙂"}},
		{"upper case type", "ENUM('A','B')", []string{"A", "B"}},
		{"not an enum", "int(11) unsigned", nil},
		{"no parentheses", "enum", nil},
		{"unclosed", "enum('a'", nil},
		{"empty", "", nil},
	}
	for _, tt := range tests {
		if got := parseValues(tt.colType); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s: parseValues(%q) = %q, want %q", tt.name, tt.colType, got, tt.want)
		}
	}
}

func TestTypeOf(t *testing.T) {
	tests := []struct {
		dataType, collation string
		want                change.ColumnType
	}{
		{"tinyint", "", change.TypeInt},
		{"smallint", "", change.TypeInt},
		{"mediumint", "", change.TypeInt},
		{"int", "", change.TypeInt},
		{"integer", "", change.TypeInt},
		{"bigint", "", change.TypeInt},
		{"decimal", "", change.TypeDecimal},
		{"numeric", "", change.TypeDecimal},
		{"float", "", change.TypeFloat},
		{"double", "", change.TypeFloat},
		{"real", "", change.TypeFloat},
		{"bit", "", change.TypeBit},
		{"year", "", change.TypeYear},
		{"date", "", change.TypeDate},
		{"datetime", "", change.TypeDateTime},
		{"timestamp", "", change.TypeTimestamp},
		{"time", "", change.TypeTime},
		{"enum", "utf8mb4_general_ci", change.TypeEnum},
		{"set", "utf8mb4_bin", change.TypeSet},
		{"json", "", change.TypeJSON},
		{"binary", "", change.TypeBinary},
		{"varbinary", "", change.TypeBinary},
		{"tinyblob", "", change.TypeBinary},
		{"blob", "", change.TypeBinary},
		{"mediumblob", "", change.TypeBinary},
		{"longblob", "", change.TypeBinary},
		{"vector", "", change.TypeBinary},
		{"geometry", "", change.TypeGeometry},
		{"point", "", change.TypeGeometry},
		{"linestring", "", change.TypeGeometry},
		{"polygon", "", change.TypeGeometry},
		{"multipoint", "", change.TypeGeometry},
		{"multilinestring", "", change.TypeGeometry},
		{"multipolygon", "", change.TypeGeometry},
		{"geometrycollection", "", change.TypeGeometry},
		{"char", "utf8mb4_general_ci", change.TypeString},
		{"varchar", "latin1_swedish_ci", change.TypeString},
		{"tinytext", "utf8mb4_bin", change.TypeString},
		{"text", "utf8mb4_0900_ai_ci", change.TypeString},
		{"mediumtext", "utf8mb3_general_ci", change.TypeString},
		{"longtext", "utf8mb4_bin", change.TypeString},
		{"char", "binary", change.TypeBinary},
		{"varchar", "binary", change.TypeBinary},
		{"text", "binary", change.TypeBinary},
		{"inet6", "", change.TypeString},
		{"uuid", "", change.TypeString},
	}
	for _, tt := range tests {
		if got := TypeOf(tt.dataType, tt.collation); got != tt.want {
			t.Errorf("TypeOf(%q, %q) = %v, want %v", tt.dataType, tt.collation, got, tt.want)
		}
	}
}

func TestCaseInsensitive(t *testing.T) {
	tests := []struct {
		collation string
		want      bool
	}{
		{"utf8mb4_general_ci", true},
		{"utf8mb4_unicode_ci", true},
		{"utf8mb4_0900_ai_ci", true},
		{"utf8mb4_0900_as_ci", true},
		{"latin1_swedish_ci", true},
		{"UTF8MB4_GENERAL_CI", true},
		{"utf8mb4_uca1400_ai_ci", true},
		{"utf8mb4_general_nopad_ci", true},
		{"utf8mb4_bin", false},
		{"UTF8MB4_BIN", false},
		{"utf8mb4_0900_bin", false},
		{"utf8mb4_nopad_bin", false},
		{"latin1_general_cs", false},
		{"utf8mb4_0900_as_cs", false},
		{"utf8mb4_uca1400_as_cs", false},
		{"utf8mb4_ja_0900_as_cs_ks", false},
		{"binary", false},
		{"", false},
	}
	for _, tt := range tests {
		if got := CaseInsensitive(tt.collation); got != tt.want {
			t.Errorf("CaseInsensitive(%q) = %v, want %v", tt.collation, got, tt.want)
		}
	}
}

func TestJSONCheck(t *testing.T) {
	tests := []struct {
		clause string
		want   string // the column, "" for no match
	}{
		{"json_valid(`doc`)", "doc"},
		{"JSON_VALID(`doc`)", "doc"},
		{"json_valid(`we``ird`)", "we``ird"},
		{"json_valid(`a b`)", "a b"},
		{"json_valid(`doc`) and `x` > 0", ""},
		{"`x` > 0", ""},
		{"json_valid(doc)", ""},
	}
	for _, tt := range tests {
		m := jsonCheck.FindStringSubmatch(tt.clause)
		got := ""
		if m != nil {
			got = m[1]
		}
		if got != tt.want {
			t.Errorf("jsonCheck on %q: %q, want %q", tt.clause, got, tt.want)
		}
	}
}

func TestTableChange(t *testing.T) {
	st := &Table{Schema: "shop", Name: "orders", PK: []int{1}, ChunkKey: []int{1}, Columns: []Column{
		{Column: change.Column{Name: "a", Type: change.TypeString, CaseInsensitive: true, SQLType: "varchar(5)", Length: 5}, DataType: "varchar"},
		{Column: change.Column{Name: "id", Type: change.TypeInt, Unsigned: true, SQLType: "bigint(20) unsigned", NotNull: true}, DataType: "bigint"},
		{Column: change.Column{Name: "t", Type: change.TypeDateTime, Decimals: 6, SQLType: "datetime(6)"}, DataType: "datetime"},
	}}
	ct := st.Change()
	want := &change.Table{Schema: "shop", Name: "orders", PK: []int{1}, Columns: []change.Column{
		{Name: "a", Type: change.TypeString, CaseInsensitive: true, SQLType: "varchar(5)", Length: 5},
		{Name: "id", Type: change.TypeInt, Unsigned: true, SQLType: "bigint(20) unsigned", NotNull: true},
		{Name: "t", Type: change.TypeDateTime, Decimals: 6, SQLType: "datetime(6)"},
	}}
	if !reflect.DeepEqual(ct, want) {
		t.Errorf("Change() = %+v, want %+v", ct, want)
	}
	ct.Columns[0].Name = "changed"
	if st.Columns[0].Name != "a" {
		t.Errorf("Change() shares its columns with the schema table")
	}
}

// fakeQuerier answers Describe's queries from canned result sets, chosen by a word of the query.
type fakeQuerier struct {
	columns, keys, checks, tables [][]any
	checksErr                     error
}

func result(t *testing.T, names []string, rows [][]any) *mysql.Result {
	t.Helper()
	rs, err := mysql.BuildSimpleTextResultset(names, rows)
	if err != nil {
		t.Fatal(err)
	}
	for _, rd := range rs.RowDatas {
		v, err := rd.Parse(rs.Fields, false, nil)
		if err != nil {
			t.Fatal(err)
		}
		rs.Values = append(rs.Values, v)
	}
	return mysql.NewResult(rs)
}

type querier struct {
	t *testing.T
	f fakeQuerier
}

func (q querier) Execute(cmd string, args ...any) (*mysql.Result, error) {
	switch {
	case strings.Contains(cmd, "information_schema.COLUMNS"):
		return result(q.t, []string{"COLUMN_NAME", "DATA_TYPE", "COLUMN_TYPE", "COLLATION_NAME", "DATETIME_PRECISION", "CHARACTER_MAXIMUM_LENGTH", "IS_NULLABLE", "NUMERIC_PRECISION", "NUMERIC_SCALE"}, q.f.columns), nil
	case strings.Contains(cmd, "information_schema.STATISTICS"):
		return result(q.t, []string{"INDEX_NAME", "COLUMN_NAME", "NON_UNIQUE"}, q.f.keys), nil
	case strings.Contains(cmd, "CHECK_CONSTRAINTS"):
		if q.f.checksErr != nil {
			return nil, q.f.checksErr
		}
		return result(q.t, []string{"CHECK_CLAUSE"}, q.f.checks), nil
	case strings.Contains(cmd, "information_schema.TABLES"):
		return result(q.t, []string{"TABLE_ROWS"}, q.f.tables), nil
	}
	q.t.Fatalf("unexpected query %s", cmd)
	return nil, nil
}

func col(name, dataType, colType, collation string, fsp, chars int64, nullable string, numeric ...int64) []any {
	precision, scale := int64(0), int64(0)
	if len(numeric) == 2 {
		precision, scale = numeric[0], numeric[1]
	}
	return []any{name, dataType, colType, collation, fsp, chars, nullable, precision, scale}
}

func TestDescribe(t *testing.T) {
	cols := [][]any{
		col("id", "bigint", "bigint unsigned", "", 0, 0, "NO", 20, 0),
		col("name", "varchar", "varchar(100)", "utf8mb4_general_ci", 0, 100, "YES"),
		col("code", "binary", "binary(16)", "", 0, 16, "NO"),
		col("st", "enum", "enum('new','it''s')", "utf8mb4_bin", 0, 4, "NO"),
		col("created", "datetime", "datetime(3)", "", 3, 0, "YES"),
		col("doc", "longtext", "longtext", "utf8mb4_bin", 0, 4294967295, "YES"),
		col("j", "json", "json", "", 0, 0, "YES"),
		col("email", "varchar", "varchar(100)", "utf8mb4_general_ci", 0, 100, "NO"),
		col("n", "int", "int(11)", "", 0, 0, "NO", 10, 0),
		col("price", "decimal", "decimal(10,2) unsigned", "", 0, 0, "YES", 10, 2),
		col("b", "bit", "bit(10)", "", 0, 0, "YES", 10, 0),
	}
	tests := []struct {
		name      string
		f         fakeQuerier
		wantPK    []int
		wantChunk []int
		wantErr   string
		check     func(t *testing.T, tb *Table)
	}{
		{
			name: "columns, primary key, MariaDB JSON, row estimate",
			f: fakeQuerier{
				columns: cols,
				keys:    [][]any{{"PRIMARY", "id", int64(0)}, {"uk_email", "email", int64(0)}},
				checks:  [][]any{{"json_valid(`doc`)"}, {"`n` > 0"}},
				tables:  [][]any{{uint64(42)}},
			},
			wantPK: []int{0}, wantChunk: []int{0},
			check: func(t *testing.T, tb *Table) {
				want := []Column{
					{Column: change.Column{Name: "id", Type: change.TypeInt, Unsigned: true, SQLType: "bigint unsigned", NotNull: true}, DataType: "bigint"},
					{Column: change.Column{Name: "name", Type: change.TypeString, CaseInsensitive: true, SQLType: "varchar(100)", Length: 100}, DataType: "varchar"},
					{Column: change.Column{Name: "code", Type: change.TypeBinary, SQLType: "binary(16)", Length: 16, NotNull: true}, DataType: "binary"},
					{Column: change.Column{Name: "st", Type: change.TypeEnum, SQLType: "enum('new','it''s')", Members: []string{"new", "it's"}, NotNull: true}, DataType: "enum"},
					{Column: change.Column{Name: "created", Type: change.TypeDateTime, Decimals: 3, SQLType: "datetime(3)"}, DataType: "datetime"},
					{Column: change.Column{Name: "doc", Type: change.TypeJSON, SQLType: "longtext"}, DataType: "longtext"},
					{Column: change.Column{Name: "j", Type: change.TypeJSON, SQLType: "json"}, DataType: "json"},
					{Column: change.Column{Name: "email", Type: change.TypeString, CaseInsensitive: true, SQLType: "varchar(100)", Length: 100, NotNull: true}, DataType: "varchar"},
					{Column: change.Column{Name: "n", Type: change.TypeInt, SQLType: "int(11)", NotNull: true}, DataType: "int"},
					{Column: change.Column{Name: "price", Type: change.TypeDecimal, Unsigned: true, SQLType: "decimal(10,2) unsigned", Precision: 10, Scale: 2}, DataType: "decimal"},
					{Column: change.Column{Name: "b", Type: change.TypeBit, SQLType: "bit(10)", Length: 10}, DataType: "bit"},
				}
				if !reflect.DeepEqual(tb.Columns, want) {
					t.Errorf("columns\n got %+v\nwant %+v", tb.Columns, want)
				}
				if tb.RowsEstimate != 42 || tb.Schema != "shop" || tb.Name != "orders" {
					t.Errorf("table %s.%s, estimate %d", tb.Schema, tb.Name, tb.RowsEstimate)
				}
			},
		},
		{
			name:   "composite primary key in key order",
			f:      fakeQuerier{columns: cols, keys: [][]any{{"PRIMARY", "n", int64(0)}, {"PRIMARY", "id", int64(0)}}, tables: [][]any{{uint64(0)}}},
			wantPK: []int{8, 0}, wantChunk: []int{8, 0},
		},
		{
			name: "no primary key: the first unique key of NOT NULL columns pages the snapshot",
			f: fakeQuerier{columns: cols, keys: [][]any{
				{"ix_name", "name", int64(1)},
				{"uk_code_name", "code", int64(0)}, {"uk_code_name", "name", int64(0)},
				{"uk_email", "email", int64(0)},
				{"uk_n", "n", int64(0)},
			}},
			wantPK: nil, wantChunk: []int{7},
		},
		{
			name: "no primary key, an expression unique key is skipped",
			f: fakeQuerier{columns: cols, keys: [][]any{
				{"uk_expr", "", int64(0)},
				{"uk_n", "n", int64(0)},
			}},
			wantPK: nil, wantChunk: []int{8},
		},
		{
			name:   "no keys at all",
			f:      fakeQuerier{columns: cols},
			wantPK: nil, wantChunk: nil,
		},
		{
			name: "MySQL 5.7 has no CHECK_CONSTRAINTS",
			f: fakeQuerier{columns: cols, keys: [][]any{{"PRIMARY", "id", int64(0)}},
				checksErr: &mysql.MyError{Code: mysql.ER_UNKNOWN_TABLE, Message: "Unknown table 'CHECK_CONSTRAINTS'"}},
			wantPK: []int{0}, wantChunk: []int{0},
			check: func(t *testing.T, tb *Table) {
				if tb.Columns[5].Type != change.TypeString {
					t.Errorf("doc is %v without check constraints, want string", tb.Columns[5].Type)
				}
			},
		},
		{
			name:    "other errors reading checks are errors",
			f:       fakeQuerier{columns: cols, checksErr: errors.New("connection reset")},
			wantErr: "describe shop.orders: checks: connection reset",
		},
		{
			name:    "no such table",
			f:       fakeQuerier{},
			wantErr: "describe shop.orders: table does not exist",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tb, err := Describe(querier{t: t, f: tt.f}, "shop", "orders")
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("Describe error %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(tb.PK, tt.wantPK) {
				t.Errorf("PK = %v, want %v", tb.PK, tt.wantPK)
			}
			if !reflect.DeepEqual(tb.ChunkKey, tt.wantChunk) {
				t.Errorf("ChunkKey = %v, want %v", tb.ChunkKey, tt.wantChunk)
			}
			if tt.check != nil {
				tt.check(t, tb)
			}
		})
	}
	if _, err := Describe(querier{t: t}, "shop", "gone"); !errors.Is(err, ErrNoTable) {
		t.Errorf("Describe of a missing table: %v, want ErrNoTable", err)
	}
}

// checksQuerier answers JSONChecks' query as a server with or without CHECK_CONSTRAINTS.LEVEL
// (MariaDB before 10.5.10) or TABLE_NAME (MySQL, Dolt) would.
type checksQuerier struct {
	t                *testing.T
	level, tableName bool
	rows             [][]any
	err              error
}

func (q checksQuerier) Execute(cmd string, _ ...any) (*mysql.Result, error) {
	badField := &mysql.MyError{Code: mysql.ER_BAD_FIELD_ERROR, Message: "Unknown column"}
	switch {
	case q.err != nil:
		return nil, q.err
	case !q.tableName, strings.Contains(cmd, "LEVEL") && !q.level:
		return nil, badField
	}
	rows := q.rows
	if !q.level {
		rows = nil
		for _, r := range q.rows {
			rows = append(rows, []any{r[0], r[1], r[2], "", r[4]})
		}
	}
	return result(q.t, []string{"CONSTRAINT_SCHEMA", "TABLE_NAME", "CONSTRAINT_NAME", "LEVEL", "CHECK_CLAUSE"}, rows), nil
}

func TestJSONChecks(t *testing.T) {
	rows := [][]any{
		{"shop", "t", "doc", "Column", "json_valid(`doc`)"},
		{"shop", "t", "n", "Column", "`n` > 0"},
		{"shop", "t", "CONSTRAINT_1", "Table", "json_valid(`a``b`)"},
		{"shop", "t", "raw", "Table", "json_valid(`raw`)"},
		{"shop", "u", "both", "Table", "json_valid(`a`) and json_valid(`b`)"},
	}
	tests := []struct {
		name string
		q    checksQuerier
		want []JSONCheck
		err  bool
	}{
		{
			name: "MariaDB 10.5.10+", q: checksQuerier{t: t, level: true, tableName: true, rows: rows},
			want: []JSONCheck{
				{DB: "shop", Table: "t", Name: "doc", Column: "doc", ColumnLevel: true},
				{DB: "shop", Table: "t", Name: "CONSTRAINT_1", Column: "a`b"},
				{DB: "shop", Table: "t", Name: "raw", Column: "raw"},
			},
		},
		{
			name: "no LEVEL: a check named after its column is the column's", q: checksQuerier{t: t, tableName: true, rows: rows},
			want: []JSONCheck{
				{DB: "shop", Table: "t", Name: "doc", Column: "doc", ColumnLevel: true},
				{DB: "shop", Table: "t", Name: "CONSTRAINT_1", Column: "a`b"},
				{DB: "shop", Table: "t", Name: "raw", Column: "raw", ColumnLevel: true},
			},
		},
		{name: "no TABLE_NAME (MySQL, Dolt): none", q: checksQuerier{t: t, level: true}},
		{name: "a failure", q: checksQuerier{t: t, err: errors.New("gone")}, err: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := JSONChecks(tt.q, []string{"shop"}, "")
			if (err != nil) != tt.err {
				t.Fatalf("err %v", err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("checks\n got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}
