package binlog

import (
	"context"
	"errors"
	"log/slog"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/go-mysql-org/go-mysql/mysql"
	"github.com/go-mysql-org/go-mysql/replication"

	"github.com/dtsrepl/dts/worker/change"
	"github.com/dtsrepl/dts/worker/schema"
)

func TestRealType(t *testing.T) {
	tests := []struct {
		name    string
		tp      byte
		meta    uint16
		wantTp  byte
		wantLen int
	}{
		{"ENUM packed in STRING", mysql.MYSQL_TYPE_STRING, uint16(mysql.MYSQL_TYPE_ENUM)<<8 | 1, mysql.MYSQL_TYPE_ENUM, 1},
		{"ENUM with 2-byte index", mysql.MYSQL_TYPE_STRING, uint16(mysql.MYSQL_TYPE_ENUM)<<8 | 2, mysql.MYSQL_TYPE_ENUM, 2},
		{"SET packed in STRING", mysql.MYSQL_TYPE_STRING, uint16(mysql.MYSQL_TYPE_SET)<<8 | 8, mysql.MYSQL_TYPE_SET, 8},
		{"CHAR(10) latin1", mysql.MYSQL_TYPE_STRING, uint16(mysql.MYSQL_TYPE_STRING)<<8 | 10, mysql.MYSQL_TYPE_STRING, 10},
		{"CHAR(63) utf8mb4 (252 bytes)", mysql.MYSQL_TYPE_STRING, uint16(mysql.MYSQL_TYPE_STRING)<<8 | 252, mysql.MYSQL_TYPE_STRING, 252},
		{"CHAR(64) utf8mb4 (256 bytes) packs the length's high bits", mysql.MYSQL_TYPE_STRING, 0xEE00, mysql.MYSQL_TYPE_STRING, 256},
		{"CHAR(255) utf8mb4 (1020 bytes)", mysql.MYSQL_TYPE_STRING, 0xCEFC, mysql.MYSQL_TYPE_STRING, 1020},
		{"CHAR(255) utf8mb3 (765 bytes)", mysql.MYSQL_TYPE_STRING, 0xDEFD, mysql.MYSQL_TYPE_STRING, 765},
		{"BINARY(16)", mysql.MYSQL_TYPE_STRING, uint16(mysql.MYSQL_TYPE_STRING)<<8 | 16, mysql.MYSQL_TYPE_STRING, 16},
		{"small STRING meta is the length", mysql.MYSQL_TYPE_STRING, 200, mysql.MYSQL_TYPE_STRING, 200},
		{"VARCHAR is not unpacked", mysql.MYSQL_TYPE_VARCHAR, 1020, mysql.MYSQL_TYPE_VARCHAR, 1020},
		{"VARCHAR with a large meta", mysql.MYSQL_TYPE_VARCHAR, 0xF701, mysql.MYSQL_TYPE_VARCHAR, 0xF701},
		{"LONG", mysql.MYSQL_TYPE_LONG, 0, mysql.MYSQL_TYPE_LONG, 0},
		{"DATETIME2 meta is the precision", mysql.MYSQL_TYPE_DATETIME2, 6, mysql.MYSQL_TYPE_DATETIME2, 6},
	}
	for _, tt := range tests {
		tp, n := realType(tt.tp, tt.meta)
		if tp != tt.wantTp || n != tt.wantLen {
			t.Errorf("%s: realType(%d, %#x) = %d, %d; want %d, %d", tt.name, tt.tp, tt.meta, tp, n, tt.wantTp, tt.wantLen)
		}
	}
}

func TestFsp(t *testing.T) {
	tests := []struct {
		tp   byte
		meta uint16
		want int
	}{
		{mysql.MYSQL_TYPE_DATETIME2, 3, 3},
		{mysql.MYSQL_TYPE_TIMESTAMP2, 6, 6},
		{mysql.MYSQL_TYPE_TIME2, 0, 0},
		{mysql.MYSQL_TYPE_DATETIME, 0, 0},
		{mysql.MYSQL_TYPE_TIMESTAMP, 4, 0},
		{mysql.MYSQL_TYPE_TIME, 2, 0},
		{mysql.MYSQL_TYPE_LONG, 4, 0},
	}
	for _, tt := range tests {
		if got := fsp(tt.tp, tt.meta); got != tt.want {
			t.Errorf("fsp(%d, %d) = %d, want %d", tt.tp, tt.meta, got, tt.want)
		}
	}
}

func TestNormalize(t *testing.T) {
	ts := &tableState{
		table: &change.Table{Schema: "shop", Name: "orders", Columns: []change.Column{{Name: "id"}, {Name: "status"}, {Name: "code"}}},
		cols: []change.Normalizer{
			{Type: change.TypeInt, Unsigned: true, Bits: 32},
			{Type: change.TypeEnum, Members: []string{"new", "paid"}},
			{Type: change.TypeBinary, PadTo: 3},
		},
	}
	tests := []struct {
		name    string
		row     []any
		want    []any
		wantErr string
	}{
		{"values", []any{int32(-1), int64(2), []byte("a")}, []any{uint64(4294967295), "paid", []byte("a\x00\x00")}, ""},
		{"NULLs stay nil", []any{int32(1), nil, nil}, []any{uint64(1), nil, nil}, ""},
		{"too few values", []any{int32(1)}, nil, "shop.orders: row has 1 values for 3 columns"},
		{"too many values", []any{int32(1), nil, nil, nil}, nil, "row has 4 values for 3 columns"},
		{"unexpected type names the column", []any{int32(1), 2.5, nil}, nil, "shop.orders column status: unexpected float64 value for a enum column"},
	}
	for _, tt := range tests {
		err := ts.normalize(tt.row)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("%s: normalize error %v, want %q", tt.name, err, tt.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: normalize: %v", tt.name, err)
			continue
		}
		if !reflect.DeepEqual(tt.row, tt.want) {
			t.Errorf("%s: normalize gave %#v, want %#v", tt.name, tt.row, tt.want)
		}
	}
}

func TestCompatible(t *testing.T) {
	tests := []struct {
		a, b change.ColumnType
		want bool
	}{
		{change.TypeInt, change.TypeInt, true},
		{change.TypeString, change.TypeJSON, true},
		{change.TypeJSON, change.TypeString, true},
		{change.TypeString, change.TypeBinary, true},
		{change.TypeBinary, change.TypeJSON, true},
		{change.TypeInt, change.TypeDecimal, false},
		{change.TypeString, change.TypeEnum, false},
		{change.TypeDateTime, change.TypeTimestamp, false},
		{change.TypeBinary, change.TypeGeometry, false},
	}
	for _, tt := range tests {
		if got := compatible(tt.a, tt.b); got != tt.want {
			t.Errorf("compatible(%v, %v) = %v, want %v", tt.a, tt.b, got, tt.want)
		}
	}
}

func TestCollationCI(t *testing.T) {
	tests := []struct {
		id   uint64
		name string
		want bool
	}{
		{63, "binary", false},
		{8, "latin1_swedish_ci", true},
		{47, "latin1_bin", false},
		{49, "latin1_general_cs", false},
		{33, "utf8mb3_general_ci", true},
		{83, "utf8mb3_bin", false},
		{45, "utf8mb4_general_ci", true},
		{46, "utf8mb4_bin", false},
		{224, "utf8mb4_unicode_ci", true},
		{255, "utf8mb4_0900_ai_ci", true},
		{278, "utf8mb4_0900_as_cs", false},
		{305, "utf8mb4_0900_as_ci", true},
		{309, "utf8mb4_0900_bin", false},
		{2304, "an id unknown here (MariaDB uca1400_ai_ci)", true},
		{1070, "MariaDB utf8mb4_nopad_bin (1024 + utf8mb4_bin)", false},
		{1071, "MariaDB latin1_nopad_bin (1024 + latin1_bin)", false},
		{1069, "MariaDB utf8mb4_general_nopad_ci (1024 + utf8mb4_general_ci)", true},
	}
	for _, tt := range tests {
		if got := collationCI(tt.id); got != tt.want {
			t.Errorf("collationCI(%d %s) = %v, want %v", tt.id, tt.name, got, tt.want)
		}
	}
}

func TestSameLayout(t *testing.T) {
	base := func() *replication.TableMapEvent {
		return &replication.TableMapEvent{
			Schema: []byte("shop"), Table: []byte("orders"), ColumnCount: 3,
			ColumnType:       []byte{mysql.MYSQL_TYPE_LONG, mysql.MYSQL_TYPE_VARCHAR, mysql.MYSQL_TYPE_STRING},
			ColumnMeta:       []uint16{0, 400, uint16(mysql.MYSQL_TYPE_ENUM)<<8 | 1},
			SignednessBitmap: []byte{0x80},
			ColumnName:       [][]byte{[]byte("id"), []byte("name"), []byte("status")},
			EnumStrValue:     [][][]byte{{[]byte("a"), []byte("b")}},
			PrimaryKey:       []uint64{0},
			DefaultCharset:   []uint64{45},
		}
	}
	tests := []struct {
		name   string
		change func(*replication.TableMapEvent)
		want   bool
	}{
		{"identical", func(*replication.TableMapEvent) {}, true},
		{"table id only", func(e *replication.TableMapEvent) { e.TableID = 99 }, true},
		{"renamed column", func(e *replication.TableMapEvent) { e.ColumnName[1] = []byte("title") }, false},
		{"added column", func(e *replication.TableMapEvent) {
			e.ColumnCount = 4
			e.ColumnType = append(e.ColumnType, mysql.MYSQL_TYPE_LONG)
			e.ColumnMeta = append(e.ColumnMeta, 0)
			e.ColumnName = append(e.ColumnName, []byte("x"))
		}, false},
		{"other table", func(e *replication.TableMapEvent) { e.Table = []byte("lines") }, false},
		{"other schema", func(e *replication.TableMapEvent) { e.Schema = []byte("shop2") }, false},
		{"type change", func(e *replication.TableMapEvent) { e.ColumnType[0] = mysql.MYSQL_TYPE_LONGLONG }, false},
		{"widened varchar", func(e *replication.TableMapEvent) { e.ColumnMeta[1] = 800 }, false},
		{"signedness", func(e *replication.TableMapEvent) { e.SignednessBitmap = []byte{0} }, false},
		{"enum member renamed", func(e *replication.TableMapEvent) { e.EnumStrValue[0][1] = []byte("c") }, false},
		{"enum member added", func(e *replication.TableMapEvent) {
			e.EnumStrValue[0] = append(e.EnumStrValue[0], []byte("c"))
		}, false},
		{"primary key", func(e *replication.TableMapEvent) { e.PrimaryKey = []uint64{1} }, false},
		{"primary key dropped", func(e *replication.TableMapEvent) { e.PrimaryKey = nil }, false},
		{"charset", func(e *replication.TableMapEvent) { e.DefaultCharset = []uint64{46} }, false},
		{"column charset", func(e *replication.TableMapEvent) { e.ColumnCharset = []uint64{46} }, false},
	}
	for _, tt := range tests {
		a, b := base(), base()
		tt.change(b)
		if got := sameLayout(a, b); got != tt.want {
			t.Errorf("%s: sameLayout = %v, want %v", tt.name, got, tt.want)
		}
		if got := sameLayout(b, a); got != tt.want {
			t.Errorf("%s: sameLayout reversed = %v, want %v", tt.name, got, tt.want)
		}
	}
}

// wideTable is a table map with one column of most binlog types, as MySQL 8 logs it with
// binlog_row_metadata = FULL.
func wideTable() *replication.TableMapEvent {
	type col struct {
		name string
		tp   byte
		meta uint16
	}
	cols := []col{
		{"id", mysql.MYSQL_TYPE_LONGLONG, 0},                                   // 0 BIGINT UNSIGNED, numeric 0
		{"qty", mysql.MYSQL_TYPE_TINY, 0},                                      // 1 TINYINT, numeric 1
		{"price", mysql.MYSQL_TYPE_NEWDECIMAL, 10<<8 | 2},                      // 2 DECIMAL(10,2), numeric 2
		{"name", mysql.MYSQL_TYPE_VARCHAR, 400},                                // 3 VARCHAR(100) utf8mb4_general_ci, char 0
		{"code", mysql.MYSQL_TYPE_STRING, 0xFE10},                              // 4 BINARY(16), char 1
		{"status", mysql.MYSQL_TYPE_STRING, 0xF701},                            // 5 ENUM
		{"tags", mysql.MYSQL_TYPE_STRING, 0xF801},                              // 6 SET
		{"created", mysql.MYSQL_TYPE_DATETIME2, 3},                             // 7 DATETIME(3)
		{"doc", mysql.MYSQL_TYPE_JSON, 4},                                      // 8 JSON
		{"note", mysql.MYSQL_TYPE_BLOB, 2},                                     // 9 TEXT utf8mb4_bin, char 2
		{"data", mysql.MYSQL_TYPE_BLOB, 2},                                     // 10 BLOB, char 3
		{"f", mysql.MYSQL_TYPE_FLOAT, 4},                                       // 11 FLOAT, numeric 3
		{"y", mysql.MYSQL_TYPE_YEAR, 0},                                        // 12 YEAR, numeric 4
		{"d", mysql.MYSQL_TYPE_DATE, 0},                                        // 13 DATE
		{"ts", mysql.MYSQL_TYPE_TIMESTAMP2, 6},                                 // 14 TIMESTAMP(6)
		{"t", mysql.MYSQL_TYPE_TIME2, 0},                                       // 15 TIME
		{"b", mysql.MYSQL_TYPE_BIT, 0x0100},                                    // 16 BIT(8)
		{"g", mysql.MYSQL_TYPE_GEOMETRY, 4},                                    // 17 GEOMETRY
		{"c", mysql.MYSQL_TYPE_STRING, 0xCEFC},                                 // 18 CHAR(255) utf8mb4_0900_ai_ci, char 4
		{"mid", mysql.MYSQL_TYPE_INT24, 0},                                     // 19 MEDIUMINT UNSIGNED, numeric 5
		{"v", mysql.MYSQL_TYPE_VAR_STRING, 30},                                 // 20 VARBINARY(30), char 5
		{"sh", mysql.MYSQL_TYPE_SHORT, 0},                                      // 21 SMALLINT, numeric 6
		{"l", mysql.MYSQL_TYPE_LONG, 0},                                        // 22 INT UNSIGNED, numeric 7
		{"dbl", mysql.MYSQL_TYPE_DOUBLE, 8},                                    // 23 DOUBLE, numeric 8
		{"ttl", mysql.MYSQL_TYPE_TIMESTAMP2, 0},                                // 24 TIMESTAMP
		{"cs", mysql.MYSQL_TYPE_VARCHAR, 40},                                   // 25 VARCHAR(10) utf8mb4_0900_as_cs, char 6
		{"legacy", mysql.MYSQL_TYPE_DATETIME, 0},                               // 26 old DATETIME
		{"vec", mysql.MYSQL_TYPE_VECTOR, 4},                                    // 27 VECTOR
		{"ci_char", mysql.MYSQL_TYPE_STRING, 0xFE28},                           // 28 CHAR(10) utf8mb4 default, char 7
		{"d2", mysql.MYSQL_TYPE_NEWDATE, 0},                                    // 29 NEWDATE
		{"dec_old", mysql.MYSQL_TYPE_DECIMAL, 0},                               // 30 old DECIMAL, numeric 9
		{"medium", mysql.MYSQL_TYPE_BLOB, 3},                                   // 31 MEDIUMTEXT, char 8
		{"x", mysql.MYSQL_TYPE_TIMESTAMP, 0},                                   // 32 old TIMESTAMP
		{"tm", mysql.MYSQL_TYPE_TIME, 0},                                       // 33 old TIME
		{"last", mysql.MYSQL_TYPE_LONG, 0},                                     // 34 INT, numeric 10
		{"blob2", mysql.MYSQL_TYPE_BLOB, 4},                                    // 35 LONGBLOB, char 9
		{"pk2", mysql.MYSQL_TYPE_VARCHAR, 20},                                  // 36 VARCHAR(5) utf8mb4_general_ci, char 10
		{"en2", mysql.MYSQL_TYPE_STRING, uint16(mysql.MYSQL_TYPE_ENUM)<<8 | 1}, // 37 ENUM
	}
	e := &replication.TableMapEvent{Schema: []byte("shop"), Table: []byte("wide"), ColumnCount: uint64(len(cols))}
	for _, c := range cols {
		e.ColumnName = append(e.ColumnName, []byte(c.name))
		e.ColumnType = append(e.ColumnType, c.tp)
		e.ColumnMeta = append(e.ColumnMeta, c.meta)
	}
	// numeric columns: id u, qty, price, f, y, mid u, sh, l u, dbl, dec_old, last
	e.SignednessBitmap = []byte{0b1000_0101, 0b0000_0000}
	// default utf8mb4_general_ci; code binary, note utf8mb4_bin, data binary, c 0900_ai_ci,
	// v binary, cs 0900_as_cs, blob2 binary
	e.DefaultCharset = []uint64{45, 1, 63, 2, 46, 3, 63, 4, 255, 5, 63, 6, 278, 9, 63}
	e.EnumStrValue = [][][]byte{{[]byte("new"), []byte("paid")}, {[]byte("x")}}
	e.SetStrValue = [][][]byte{{[]byte("red"), []byte("blue")}}
	e.PrimaryKey = []uint64{0, 36}
	return e
}

func TestBuildFullMetadata(t *testing.T) {
	r := &Reader{log: slog.Default()}
	ts, err := r.build(context.Background(), wideTable())
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		col     int
		want    change.Column
		padTo   int
		members []string
		bits    uint
	}{
		{0, change.Column{Name: "id", Type: change.TypeInt, Unsigned: true}, 0, nil, 64},
		{1, change.Column{Name: "qty", Type: change.TypeInt}, 0, nil, 8},
		{2, change.Column{Name: "price", Type: change.TypeDecimal}, 0, nil, 0},
		{3, change.Column{Name: "name", Type: change.TypeString, CaseInsensitive: true}, 0, nil, 0},
		{4, change.Column{Name: "code", Type: change.TypeBinary}, 16, nil, 0},
		{5, change.Column{Name: "status", Type: change.TypeEnum, CaseInsensitive: true}, 0, []string{"new", "paid"}, 0},
		{6, change.Column{Name: "tags", Type: change.TypeSet, CaseInsensitive: true}, 0, []string{"red", "blue"}, 0},
		{7, change.Column{Name: "created", Type: change.TypeDateTime, Decimals: 3}, 0, nil, 0},
		{9, change.Column{Name: "note", Type: change.TypeString}, 0, nil, 0},
		{10, change.Column{Name: "data", Type: change.TypeBinary}, 0, nil, 0},
		{11, change.Column{Name: "f", Type: change.TypeFloat}, 0, nil, 0},
		{12, change.Column{Name: "y", Type: change.TypeYear}, 0, nil, 0},
		{13, change.Column{Name: "d", Type: change.TypeDate}, 0, nil, 0},
		{14, change.Column{Name: "ts", Type: change.TypeTimestamp, Decimals: 6}, 0, nil, 0},
		{15, change.Column{Name: "t", Type: change.TypeTime}, 0, nil, 0},
		{16, change.Column{Name: "b", Type: change.TypeBit}, 0, nil, 0},
		{17, change.Column{Name: "g", Type: change.TypeGeometry}, 0, nil, 0},
		{18, change.Column{Name: "c", Type: change.TypeString, CaseInsensitive: true}, 0, nil, 0},
		{19, change.Column{Name: "mid", Type: change.TypeInt, Unsigned: true}, 0, nil, 24},
		{20, change.Column{Name: "v", Type: change.TypeBinary}, 0, nil, 0},
		{21, change.Column{Name: "sh", Type: change.TypeInt}, 0, nil, 16},
		{22, change.Column{Name: "l", Type: change.TypeInt, Unsigned: true}, 0, nil, 32},
		{23, change.Column{Name: "dbl", Type: change.TypeFloat}, 0, nil, 0},
		{24, change.Column{Name: "ttl", Type: change.TypeTimestamp}, 0, nil, 0},
		{25, change.Column{Name: "cs", Type: change.TypeString}, 0, nil, 0},
		{26, change.Column{Name: "legacy", Type: change.TypeDateTime}, 0, nil, 0},
		{27, change.Column{Name: "vec", Type: change.TypeBinary}, 0, nil, 0},
		{28, change.Column{Name: "ci_char", Type: change.TypeString, CaseInsensitive: true}, 0, nil, 0},
		{29, change.Column{Name: "d2", Type: change.TypeDate}, 0, nil, 0},
		{30, change.Column{Name: "dec_old", Type: change.TypeDecimal}, 0, nil, 0},
		{31, change.Column{Name: "medium", Type: change.TypeString, CaseInsensitive: true}, 0, nil, 0},
		{32, change.Column{Name: "x", Type: change.TypeTimestamp}, 0, nil, 0},
		{33, change.Column{Name: "tm", Type: change.TypeTime}, 0, nil, 0},
		{34, change.Column{Name: "last", Type: change.TypeInt}, 0, nil, 32},
		{35, change.Column{Name: "blob2", Type: change.TypeBinary}, 0, nil, 0},
		{36, change.Column{Name: "pk2", Type: change.TypeString, CaseInsensitive: true}, 0, nil, 0},
		{37, change.Column{Name: "en2", Type: change.TypeEnum, CaseInsensitive: true}, 0, []string{"x"}, 0},
	}
	for _, tt := range tests {
		got := ts.table.Columns[tt.col]
		got.SQLType, got.Length, got.Precision, got.Scale, got.Members, got.NotNull = "", 0, 0, 0, nil, false // TestBuildDeclaredTypes
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("column %d: %+v, want %+v", tt.col, got, tt.want)
		}
		cv := ts.cols[tt.col]
		if cv.Type != tt.want.Type || cv.Unsigned != tt.want.Unsigned || cv.Decimals != tt.want.Decimals || cv.PadTo != tt.padTo || cv.Bits != tt.bits || !reflect.DeepEqual(cv.Members, tt.members) {
			t.Errorf("column %d (%s): conversion %+v, want type %v unsigned %v decimals %d padTo %d bits %d members %q",
				tt.col, got.Name, cv, tt.want.Type, tt.want.Unsigned, tt.want.Decimals, tt.padTo, tt.bits, tt.members)
		}
	}
	if doc := ts.table.Columns[8]; doc.Name != "doc" || doc.Type != change.TypeJSON {
		t.Errorf("column 8: %+v, want a JSON column named doc", doc)
	}
	if ts.table.Schema != "shop" || ts.table.Name != "wide" || len(ts.table.Columns) != 38 {
		t.Errorf("table %s.%s with %d columns", ts.table.Schema, ts.table.Name, len(ts.table.Columns))
	}
	if !reflect.DeepEqual(ts.table.PK, []int{0, 36}) {
		t.Errorf("PK = %v, want [0 36]", ts.table.PK)
	}
}

// TestBuildDeclaredTypes: a streamed table names its columns' types as information_schema's
// COLUMN_TYPE does, from the table map alone when the server cannot describe the table.
func TestBuildDeclaredTypes(t *testing.T) {
	e := wideTable()
	e.NullBitmap = []byte{0b1111_1110, 0xFF, 0xFF, 0xFF, 0b0010_1111} // id and pk2 NOT NULL
	r := &Reader{log: slog.Default()}
	ts, err := r.build(context.Background(), e)
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		sql                     string
		length, precision, scal int
	}{
		{"bigint unsigned", 0, 0, 0}, {"tinyint", 0, 0, 0}, {"decimal(10,2)", 0, 10, 2}, {"varchar(100)", 100, 0, 0},
		{"binary(16)", 16, 0, 0}, {"enum('new','paid')", 0, 0, 0}, {"set('red','blue')", 0, 0, 0}, {"datetime(3)", 0, 0, 0},
		{"json", 0, 0, 0}, {"text", 0, 0, 0}, {"blob", 0, 0, 0}, {"float", 0, 0, 0}, {"year", 0, 0, 0}, {"date", 0, 0, 0},
		{"timestamp(6)", 0, 0, 0}, {"time", 0, 0, 0}, {"bit(8)", 8, 0, 0}, {"geometry", 0, 0, 0}, {"char(255)", 255, 0, 0},
		{"mediumint unsigned", 0, 0, 0}, {"varbinary(30)", 30, 0, 0}, {"smallint", 0, 0, 0}, {"int unsigned", 0, 0, 0},
		{"double", 0, 0, 0}, {"timestamp", 0, 0, 0}, {"varchar(10)", 10, 0, 0}, {"datetime", 0, 0, 0}, {"vector", 0, 0, 0},
		{"char(10)", 10, 0, 0}, {"date", 0, 0, 0}, {"decimal(0,0)", 0, 0, 0}, {"mediumtext", 0, 0, 0}, {"timestamp", 0, 0, 0},
		{"time", 0, 0, 0}, {"int", 0, 0, 0}, {"longblob", 0, 0, 0}, {"varchar(5)", 5, 0, 0}, {"enum('x')", 0, 0, 0},
	}
	for i, w := range want {
		c := ts.table.Columns[i]
		if c.SQLType != w.sql || c.Length != w.length || c.Precision != w.precision || c.Scale != w.scal {
			t.Errorf("column %d (%s): %q length %d precision %d scale %d; want %q %d %d %d", i, c.Name, c.SQLType, c.Length, c.Precision, c.Scale, w.sql, w.length, w.precision, w.scal)
		}
		if notNull := i == 0 || i == 36; c.NotNull != notNull {
			t.Errorf("column %d (%s): NotNull %v, want %v", i, c.Name, c.NotNull, notNull)
		}
	}
	if m := ts.table.Columns[6].Members; !reflect.DeepEqual(m, []string{"red", "blue"}) {
		t.Errorf("set members %q", m)
	}

	// With the server's definition of the same shape, its COLUMN_TYPE (display widths) wins;
	// after a schema change (another length), the binlog's facts do.
	desc := &schema.Table{Schema: "shop", Name: "wide", Columns: []schema.Column{
		{Column: change.Column{Name: "id", Type: change.TypeInt, Unsigned: true, SQLType: "bigint(20) unsigned"}, DataType: "bigint"},
		{Column: change.Column{Name: "qty", Type: change.TypeInt, SQLType: "tinyint(4)"}, DataType: "tinyint"},
		{Column: change.Column{Name: "price", Type: change.TypeDecimal, SQLType: "decimal(12,2)", Precision: 12, Scale: 2}, DataType: "decimal"},
		{Column: change.Column{Name: "name", Type: change.TypeString, SQLType: "varchar(100)", Length: 100}, DataType: "varchar"},
		{Column: change.Column{Name: "f", Type: change.TypeFloat, SQLType: "float(7,3)"}, DataType: "float"},
		{Column: change.Column{Name: "y", Type: change.TypeYear, SQLType: "year(4)"}, DataType: "year"},
		{Column: change.Column{Name: "l", Type: change.TypeInt, SQLType: "int(10)"}, DataType: "int"},
	}}
	r = &Reader{cfg: Config{Describe: fakeDescriber{t: desc}}, log: slog.Default()}
	ts, err = r.build(context.Background(), e)
	if err != nil {
		t.Fatal(err)
	}
	for i, w := range map[int]string{0: "bigint(20) unsigned", 1: "tinyint(4)", 2: "decimal(10,2)", 3: "varchar(100)", 11: "float(7,3)", 12: "year(4)", 22: "int unsigned"} {
		if got := ts.table.Columns[i].SQLType; got != w {
			t.Errorf("column %d (%s) with a description: %q, want %q", i, ts.table.Columns[i].Name, got, w)
		}
	}
}

type fakeDescriber struct {
	t      *schema.Table
	err    error
	checks []schema.JSONCheck
}

func (f fakeDescriber) Describe(context.Context, string, string) (*schema.Table, error) {
	return f.t, f.err
}

func (f fakeDescriber) JSONChecks(_ context.Context, dbs []string, table string) ([]schema.JSONCheck, error) {
	var out []schema.JSONCheck
	for _, c := range f.checks {
		if slices.Contains(dbs, c.DB) && (table == "" || c.Table == table) {
			out = append(out, c)
		}
	}
	return out, f.err
}

func scol(name string, tp change.ColumnType, unsigned bool, values ...string) schema.Column {
	c := schema.Column{}
	c.Members = values
	c.Name, c.Type, c.Unsigned = name, tp, unsigned
	return c
}

func TestBuildWithDescribe(t *testing.T) {
	// A table map without row metadata: types and lengths only.
	bare := func() *replication.TableMapEvent {
		return &replication.TableMapEvent{
			Schema: []byte("shop"), Table: []byte("t"), ColumnCount: 4,
			ColumnType: []byte{mysql.MYSQL_TYPE_LONG, mysql.MYSQL_TYPE_BLOB, mysql.MYSQL_TYPE_STRING, mysql.MYSQL_TYPE_STRING},
			ColumnMeta: []uint16{0, 4, 0xF701, 0xFE08},
		}
	}
	described := &schema.Table{Schema: "shop", Name: "t", Columns: []schema.Column{
		scol("id", change.TypeInt, true), scol("doc", change.TypeJSON, false), scol("st", change.TypeEnum, false, "on", "off"), scol("bin", change.TypeBinary, false),
	}, PK: []int{0}}
	described.Columns[1].CaseInsensitive = false
	// MariaDB's information_schema has doc as JSON (its json_valid check).
	docJSON := []schema.JSONCheck{{DB: "shop", Table: "t", Name: "doc", Column: "doc", ColumnLevel: true}}
	full := func() *replication.TableMapEvent {
		e := bare()
		e.ColumnName = [][]byte{[]byte("id"), []byte("doc"), []byte("st"), []byte("bin")}
		e.SignednessBitmap = []byte{0}
		e.DefaultCharset = []uint64{45, 1, 63}
		e.EnumStrValue = [][][]byte{{[]byte("a"), []byte("b")}}
		return e
	}
	fullWant := func(doc change.ColumnType) []change.Column {
		return []change.Column{
			{Name: "id", Type: change.TypeInt},
			{Name: "doc", Type: doc, CaseInsensitive: doc == change.TypeString},
			{Name: "st", Type: change.TypeEnum},
			{Name: "bin", Type: change.TypeBinary},
		}
	}
	// history is a JSON column history of database shop at the reader's position.
	history := func(checks ...schema.JSONCheck) *JSONColumns {
		e := jsonEdit{base: NewJSONColumns()}
		e.cover("shop", "", checks)
		return e.done()
	}
	tests := []struct {
		name     string
		tme      func() *replication.TableMapEvent
		describe TableDescriber
		// mariadb reads from a MariaDB server, with the JSON column history json (nil: read
		// from the describer when the reader meets the database).
		mariadb bool
		json    *JSONColumns
		wantErr error  // errors.Is
		errText string // substring
		want    []change.Column
		wantPK  []int
		members []string
	}{
		{
			name: "no metadata: names, signedness, JSON, members and key from the server",
			tme:  bare, describe: fakeDescriber{t: described, checks: docJSON}, mariadb: true,
			want: []change.Column{
				{Name: "id", Type: change.TypeInt, Unsigned: true},
				{Name: "doc", Type: change.TypeJSON},
				{Name: "st", Type: change.TypeEnum},
				{Name: "bin", Type: change.TypeBinary},
			},
			wantPK: []int{0}, members: []string{"on", "off"},
		},
		{
			name: "no metadata and no describer",
			tme:  bare, wantErr: ErrUnsupported, errText: "binlog_row_metadata = FULL",
		},
		{
			name: "no metadata and the table cannot be described",
			tme:  bare, describe: fakeDescriber{err: errors.New("gone")}, errText: "cannot be described: gone",
		},
		{
			name: "no metadata and a different column count",
			tme:  bare, describe: fakeDescriber{t: &schema.Table{Columns: described.Columns[:3]}},
			wantErr: ErrUnsupported, errText: "has 4 columns in the binlog but 3 now",
		},
		{
			name: "no metadata and an incompatible type",
			tme:  bare, describe: fakeDescriber{t: &schema.Table{Columns: []schema.Column{
				scol("id", change.TypeInt, false), scol("doc", change.TypeDateTime, false), scol("st", change.TypeEnum, false), scol("bin", change.TypeBinary, false),
			}}},
			wantErr: ErrUnsupported, errText: "column 2 (doc) is string in the binlog but datetime now",
		},
		{
			name: "full metadata, MariaDB met for the first time: the binlog's names win, the server's checks add JSON",
			tme:  full, describe: fakeDescriber{t: described, checks: docJSON}, mariadb: true,
			want: fullWant(change.TypeJSON), wantPK: []int{0}, members: []string{"a", "b"},
		},
		{
			name: "MariaDB: the history says JSON, today's definition says text",
			tme:  full, describe: fakeDescriber{t: described}, mariadb: true, json: history(docJSON...),
			want: fullWant(change.TypeJSON), wantPK: []int{0}, members: []string{"a", "b"},
		},
		{
			name: "MariaDB: the history says text, today's definition says JSON",
			tme:  full, describe: fakeDescriber{t: described, checks: docJSON}, mariadb: true, json: history(),
			want: fullWant(change.TypeString), wantPK: []int{0}, members: []string{"a", "b"},
		},
		{
			name: "MariaDB: a table-level json_valid check makes JSON",
			tme:  full, describe: fakeDescriber{t: described}, mariadb: true,
			json: history(schema.JSONCheck{DB: "shop", Table: "t", Name: "CONSTRAINT_1", Column: "DOC"}),
			want: fullWant(change.TypeJSON), wantPK: []int{0}, members: []string{"a", "b"},
		},
		{
			name: "MySQL: the table map types JSON itself, a text column stays text",
			tme:  full, describe: fakeDescriber{t: described, checks: docJSON},
			want: fullWant(change.TypeString), wantPK: []int{0}, members: []string{"a", "b"},
		},
		{
			name: "full metadata, describe fails: the binlog is enough",
			tme: func() *replication.TableMapEvent {
				e := bare()
				e.ColumnName = [][]byte{[]byte("id"), []byte("doc"), []byte("st"), []byte("bin")}
				e.PrimaryKey = []uint64{3}
				return e
			},
			describe: fakeDescriber{err: errors.New("gone")},
			want: []change.Column{
				{Name: "id", Type: change.TypeInt},
				{Name: "doc", Type: change.TypeString, CaseInsensitive: true},
				{Name: "st", Type: change.TypeEnum, CaseInsensitive: true},
				{Name: "bin", Type: change.TypeString, CaseInsensitive: true},
			},
			wantPK: []int{3},
		},
		{
			name: "unknown binlog type",
			tme: func() *replication.TableMapEvent {
				e := bare()
				e.ColumnName = [][]byte{[]byte("id"), []byte("doc"), []byte("st"), []byte("bin")}
				e.ColumnType[0] = mysql.MYSQL_TYPE_NULL
				return e
			},
			wantErr: ErrUnsupported, errText: "column id has binlog type 6",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := Config{Describe: tt.describe, Server: &Server{Flavor: mysql.MySQLFlavor}, JSONColumns: tt.json}
			if tt.mariadb {
				cfg.Server.Flavor = mysql.MariaDBFlavor
			}
			r := NewReader(cfg)
			r.log = slog.New(slog.DiscardHandler)
			ts, err := r.build(context.Background(), tt.tme())
			if tt.wantErr != nil || tt.errText != "" {
				if err == nil {
					t.Fatalf("build succeeded, want an error containing %q", tt.errText)
				}
				if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
					t.Errorf("error %v does not wrap %v", err, tt.wantErr)
				}
				if !strings.Contains(err.Error(), tt.errText) {
					t.Errorf("error %q, want it to contain %q", err, tt.errText)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got := slices.Clone(ts.table.Columns)
			for i := range got {
				got[i].SQLType, got[i].Length, got[i].Precision, got[i].Scale, got[i].Members, got[i].NotNull = "", 0, 0, 0, nil, false
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("columns\n got %+v\nwant %+v", ts.table.Columns, tt.want)
			}
			if !reflect.DeepEqual(ts.table.PK, tt.wantPK) {
				t.Errorf("PK = %v, want %v", ts.table.PK, tt.wantPK)
			}
			if !reflect.DeepEqual(ts.cols[2].Members, tt.members) {
				t.Errorf("enum members %q, want %q", ts.cols[2].Members, tt.members)
			}
		})
	}
}
