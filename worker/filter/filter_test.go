package filter

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/dtsrepl/dts/api"
	"github.com/dtsrepl/dts/worker/change"
)

// sample is a table with a column of every class, and sampleRow a row of it.
var sampleCols = []change.Column{
	{Name: "id", Type: change.TypeInt},
	{Name: "status", Type: change.TypeInt},
	{Name: "type", Type: change.TypeInt},
	{Name: "u", Type: change.TypeInt, Unsigned: true},
	{Name: "name", Type: change.TypeString, CaseInsensitive: true},
	{Name: "code", Type: change.TypeString},
	{Name: "amount", Type: change.TypeDecimal},
	{Name: "price", Type: change.TypeFloat},
	{Name: "f32", Type: change.TypeFloat},
	{Name: "data", Type: change.TypeBinary},
	{Name: "created_at", Type: change.TypeDateTime},
	{Name: "birthday", Type: change.TypeDate},
	{Name: "t", Type: change.TypeTime},
	{Name: "ts", Type: change.TypeTimestamp},
	{Name: "color", Type: change.TypeEnum, CaseInsensitive: true},
	{Name: "tags", Type: change.TypeSet, CaseInsensitive: true},
	{Name: "doc", Type: change.TypeJSON},
	{Name: "flags", Type: change.TypeBit},
	{Name: "n", Type: change.TypeInt},
	{Name: "yr", Type: change.TypeYear},
	{Name: "neg", Type: change.TypeInt},
	{Name: "big", Type: change.TypeInt},
	{Name: "pat", Type: change.TypeString, CaseInsensitive: true},
}

func sampleTable() *change.Table {
	return &change.Table{Schema: "shop", Name: "orders", Columns: sampleCols, PK: []int{0}}
}

func sampleRow() change.Row {
	return change.Row{
		int64(1), int64(1), int64(2), uint64(18446744073709551615),
		"Alice", "AbC", "0.30", float64(2.5), float32(0.5), []byte("Bin\x00"),
		"2021-01-01 00:00:00", "1990-05-17", "10:30:00", "2021-06-01 12:00:00.5",
		"Red", "a,b", `{"k": 1}`, uint64(5), nil, int64(2021),
		int64(-9223372036854775808), int64(9223372036854775807), "al%",
	}
}

// eval compiles expr as the only filter of shop.orders and runs it on one insert.
func eval(t *testing.T, expr string, tbl *change.Table, row change.Row) bool {
	t.Helper()
	s, err := Compile([]api.Filter{{DBName: "shop", Match: "orders", Filter: expr}})
	if err != nil {
		t.Fatalf("Compile(%q): %v", expr, err)
	}
	ok, err := s.Keep(&change.Event{Kind: change.Insert, Table: tbl, After: row})
	if err != nil {
		t.Fatalf("Keep(%q): %v", expr, err)
	}
	return ok
}

func TestExpressions(t *testing.T) {
	tbl, row := sampleTable(), sampleRow()
	cases := []struct {
		expr string
		want bool
	}{
		// comparisons
		{"status = 1", true},
		{"status = 2", false},
		{"status != 2", true},
		{"status <> 1", false},
		{"status < 2", true},
		{"status <= 1", true},
		{"status > 0", true},
		{"status >= 2", false},
		{"STATUS = 1", true},
		{"`status` = 1", true},
		{"status = 1.0", true},
		{"status = 1.5", false},
		// string versus number: the string's numeric prefix, else 0
		{"status = '1'", true},
		{"status = '1abc'", true},
		{"status = ' 1'", true},
		{"status = 'abc'", false},
		{"0 = 'abc'", true},
		{"'1e1' = 10", true},
		// integer extremes
		{"u > -1", true},
		{"18446744073709551615 > -1", true},
		{"u = 18446744073709551615", true},
		{"u > 9223372036854775807", true},
		{"neg < u", true},
		{"u > neg", true},
		{"neg = -9223372036854775808", true},
		{"-neg = 9223372036854775808", true},
		{"big + 1 = 9223372036854775808", true},
		{"neg - 1 < neg", true},
		{"u + 1 = 18446744073709551616", true},
		{"u + 1 > u", true},
		{"u * 2 > u", true},
		{"u - u = 0", true},
		{"0 - u < 0", true},
		{"neg DIV -1 = 9223372036854775808", true},
		{"u = 18446744073709551615.0", true},
		{"u < 18446744073709551615.5", true},
		{"neg > -9223372036854775808.5", true},
		// decimals are exact
		{"amount = 0.3", true},
		{"amount = 0.1 + 0.2", true},
		{"amount = 0.30000", true},
		{"amount = '0.3'", true},
		{"amount > 0.29999999999999999999", true},
		{"amount < 0.30000000000000000001", true},
		{"amount < 1", true},
		{"amount > 0", true},
		{"amount = 0", false},
		{"amount * 3 = 0.9", true},
		{"amount / 3 = 0.1", true},
		{"amount - 0.3 = 0", true},
		{"-amount = -0.3", true},
		{"0.1 + 0.2 = 0.3", true},
		{"0.1e0 + 0.2e0 = 0.3e0", false}, // floats are not exact, as in MySQL
		// floats
		{"price = 2.5", true},
		{"price > 2", true},
		{"price = 5 / 2", true},
		{"f32 = 0.5", true},
		{"price + 1e0 = 3.5", true},
		{"price * 2 = 5", true},
		// strings: case-insensitive unless the column is case-sensitive
		{"name = 'alice'", true},
		{"name = 'ALICE'", true},
		{"name = 'Alice '", false},
		{"name < 'bob'", true},
		{"name > 'ALICE'", false},
		{`"Alice" = name`, true},
		{"'abc' = 'ABC'", true},
		{"code = 'abc'", false},
		{"code = 'AbC'", true},
		{"code < 'a'", true},
		{"LOWER(code) = 'abc'", true},
		{"code = name", false},
		{"'ÄBC' = 'äbc'", true},
		// binary strings compare bytewise
		{"data = x'42696E00'", true},
		{"data = 'Bin\\0'", true},
		{"data = 'bin\\0'", false},
		{"data > 'B'", true},
		{"_binary 'a' = 'A'", false},
		// temporal columns compare as times with string literals
		{"created_at >= '2021-01-01'", true},
		{"created_at = '2021-01-01'", true},
		{"created_at > '2021-01-01'", false},
		{"created_at > '2020-12-31 23:59:59'", true},
		{"created_at < '2021-01-01 00:00:01'", true},
		{"created_at = '2021/1/1 0:0:0'", true},
		{"created_at = '20210101000000'", true},
		{"created_at = '2021-01-01T00:00:00'", true},
		{"created_at BETWEEN '2020-01-01' AND '2021-12-31'", true},
		{"created_at = 'garbage'", false},
		{"created_at = 20210101000000", true},
		{"birthday = '1990-5-17'", true},
		{"birthday < '1990-05-17 00:00:01'", true},
		{"birthday = 19900517", true},
		{"birthday < created_at", true},
		{"ts > '2021-06-01 12:00:00'", true},
		{"ts < '2021-06-01 12:00:00.6'", true},
		{"t > '9:00'", true},
		{"t = '10:30'", true},
		{"t = '103000'", true},
		{"t < '1 00:00:00'", true},
		{"t < '-01:00:00'", false},
		{"t > '09:59:59.999999'", true},
		// enum, set and json compare as strings
		{"color = 'red'", true},
		{"color IN ('green', 'RED')", true},
		{"tags = 'a,b'", true},
		{"tags LIKE '%b'", true},
		{`doc = '{"k": 1}'`, true},
		{`doc LIKE '%"k"%'`, true},
		// bit columns are unsigned numbers
		{"flags = 5", true},
		{"flags = b'101'", true},
		{"flags = 0x05", true},
		{"flags > 4", true},
		{"yr = 2021", true},
		// literals (a filter must be a condition, so their truth is tested through IS)
		{"TRUE IS TRUE", true},
		{"FALSE IS TRUE", false},
		{"true = 1", true},
		{"x'41' = 'A'", true},
		{"0x41 = 65", true},
		{"b'1000001' = 65", true},
		{"0x41 + 0 = 65", true},
		{"1e3 = 1000", true},
		{".5 = 0.5", true},
		{"'it''s' = \"it's\"", true},
		{"1 IS TRUE", true},
		{"0 IS TRUE", false},
		{"'1' IS TRUE", true},
		{"'a' IS TRUE", false},
		{"0.0 IS TRUE", false},
		{"0.01 IS TRUE", true},
		// logic
		{"status = 1 AND type IN (2,3)", true},
		{"status = 1 AND type IN (3,4)", false},
		{"status = 1 && type = 3", false},
		{"status = 2 || type = 2", true},
		{"status = 2 OR type = 3", false},
		{"!(status = 2)", true},
		{"NOT status = 2", true},
		{"TRUE XOR FALSE", true},
		{"TRUE XOR TRUE", false},
		{"status = 1 AND (type = 3 OR name = 'alice')", true},
		// IN and BETWEEN
		{"type IN (1, 2)", true},
		{"type NOT IN (1, 2)", false},
		{"type IN (status + 1)", true},
		{"type IN ('2', 'x')", true},
		{"type BETWEEN 1 AND 3", true},
		{"type BETWEEN 3 AND 5", false},
		{"type NOT BETWEEN 1 AND 3", false},
		{"name BETWEEN 'a' AND 'b'", true},
		{"amount BETWEEN 0.3 AND 0.3", true},
		// IS
		{"status IS TRUE", true},
		{"status IS FALSE", false},
		{"0 IS FALSE", true},
		{"status IS NOT FALSE", true},
		{"status IS NOT TRUE", false},
		{"status IS NOT NULL", true},
		// LIKE
		{"name LIKE 'al%'", true},
		{"name LIKE 'AL%'", true},
		{"code LIKE 'ab%'", false},
		{"code LIKE 'Ab_'", true},
		{"code NOT LIKE 'Ab_'", false},
		{"'abc' LIKE 'a_c'", true},
		{`'a%c' LIKE 'a\%c'`, true},
		{`'abc' LIKE 'a\%c'`, false},
		{`'a_c' LIKE 'a\_c'`, true},
		{`'abc' LIKE 'a\_c'`, false},
		{"'a_c' LIKE 'a|_c' ESCAPE '|'", true},
		{"'abc' LIKE 'a|_c' ESCAPE '|'", false},
		{"'abc' NOT LIKE 'x%'", true},
		{"'ÄBC' LIKE 'äb%'", true},
		{"'日本語' LIKE '日_語'", true},
		{"'%' LIKE '%%'", true},
		{"'' LIKE '%'", true},
		{"'' LIKE '_'", false},
		{"'abc' LIKE '%b%'", true},
		{"'aaa' LIKE '%a%a%a%'", true},
		{"'aa' LIKE '%a%a%a%'", false},
		{"'abcabd' LIKE '%abd'", true},
		{"5 LIKE '5%'", true},
		{"data LIKE 'Bi%'", true},
		{"data LIKE 'bi%'", false},
		{"name LIKE pat", true},
		{"code LIKE pat", false},
		{"name LIKE CONCAT(LOWER('A'), '%')", true},
		// REGEXP
		{"name REGEXP '^al'", true},
		{"code REGEXP '^ab'", false},
		{"code RLIKE '^Ab'", true},
		{"name NOT REGEXP 'z'", true},
		{"data REGEXP '^Bin'", true},
		{"status REGEXP '^1$'", true},
		// arithmetic
		{"1 + 2 * 3 = 7", true},
		{"(1 + 2) * 3 = 9", true},
		{"7 DIV 2 = 3", true},
		{"-7 DIV 2 = -3", true},
		{"7 % 3 = 1", true},
		{"7 MOD 3 = 1", true},
		{"-7 MOD 3 = -1", true},
		{"7 / 2 = 3.5", true},
		{"1 / 3 = 0.3333", true},
		{"-status = -1", true},
		{"-(-status) = 1", true},
		{"+status = 1", true},
		{"5.5 DIV 2 = 2", true},
		{"5.5 % 2 = 1.5", true},
		{"5.5e0 % 2 = 1.5", true},
		{"7e0 DIV 2 = 3", true},
		{"'3' + 4 = 7", true},
		{"'1.5' + 1 = 2.5", true},
		{"(1 / 0) IS NULL", true},
		{"(1 DIV 0) IS NULL", true},
		{"(1 % 0) IS NULL", true},
		{"(1.5 MOD 0) IS NULL", true},
		{"(1e0 / 0) IS NULL", true},
		{"(status / (type - 2)) IS NULL", true},
		// functions
		{"UPPER(name) = 'ALICE'", true},
		{"UCASE(code) = 'ABC'", true},
		{"LCASE(code) = 'abc'", true},
		{"UPPER(code) = 'abc'", false},
		{"UPPER(data) = data", true},
		{"LENGTH('héllo') = 6", true},
		{"CHAR_LENGTH('héllo') = 5", true},
		{"CHARACTER_LENGTH(name) = 5", true},
		{"LENGTH(data) = 4", true},
		{"LENGTH(123) = 3", true},
		{"LENGTH(amount) = 4", true},
		{"CONCAT(name, '-', status) = 'alice-1'", true},
		{"CONCAT(code, 'x') = 'abcx'", false},
		{"CONCAT(code, 'x') = 'AbCx'", true},
		{"ABS(-5) = 5", true},
		{"ABS(neg) = 9223372036854775808", true},
		{"ABS(-2.50) = 2.5", true},
		{"ABS(-2.5e0) = 2.5", true},
		{"ABS(u) = u", true},
		{"COALESCE(n, 7) = 7", true},
		{"COALESCE(n, NULL, status) = 1", true},
		{"IFNULL(n, 3) = 3", true},
		{"IFNULL(status, 3) = 1", true},
	}
	for _, c := range cases {
		if got := eval(t, c.expr, tbl, row); got != c.want {
			t.Errorf("%s: got %v, want %v", c.expr, got, c.want)
		}
	}
}

func TestNullSemantics(t *testing.T) {
	tbl, row := sampleTable(), sampleRow()
	cases := []struct {
		expr string
		want bool
	}{
		{"n = 1", false},
		{"n != 1", false},
		{"NOT (n = 1)", false},
		{"n = NULL", false},
		{"NULL = NULL", false},
		{"n IS NULL", true},
		{"n IS NOT NULL", false},
		{"n <=> NULL", true},
		{"NULL <=> NULL", true},
		{"status <=> NULL", false},
		{"status <=> 1", true},
		{"n + 1 IS NULL", true},
		{"-n IS NULL", true},
		{"n IN (1, 2)", false},
		{"n NOT IN (1, 2)", false},
		{"1 IN (2, NULL)", false},
		{"(1 IN (2, NULL)) IS NULL", true},
		{"1 IN (1, NULL)", true},
		{"1 NOT IN (2, NULL)", false},
		{"(1 NOT IN (2, NULL)) IS NULL", true},
		{"(NULL AND FALSE) IS FALSE", true},
		{"(FALSE AND NULL) IS FALSE", true},
		{"(NULL AND TRUE) IS NULL", true},
		{"NULL OR TRUE", true},
		{"TRUE OR NULL", true},
		{"(NULL OR FALSE) IS NULL", true},
		{"(NULL XOR TRUE) IS NULL", true},
		{"NOT NULL", false},
		{"(NOT NULL) IS NULL", true},
		{"n OR FALSE", false},
		{"NOT n", false},
		{"n IS TRUE", false},
		{"n IS FALSE", false},
		{"n IS NOT TRUE", true},
		{"n IS NOT FALSE", true},
		{"COALESCE(NULL, NULL) IS NULL", true},
		{"CONCAT('a', n) IS NULL", true},
		{"LENGTH(n) IS NULL", true},
		{"UPPER(n) IS NULL", true},
		{"ABS(n) IS NULL", true},
		{"n BETWEEN 1 AND 2", false},
		{"(n BETWEEN 1 AND 2) IS NULL", true},
		{"(1 BETWEEN NULL AND 0) IS FALSE", true},
		{"(1 BETWEEN 0 AND NULL) IS NULL", true},
		{"(1 NOT BETWEEN 0 AND NULL) IS NULL", true},
		{"n LIKE '%'", false},
		{"'a' LIKE NULL", false},
		{"('a' LIKE NULL) IS NULL", true},
		{"n REGEXP 'x'", false},
		{"('a' REGEXP NULL) IS NULL", true},
		{"n = n", false},
	}
	for _, c := range cases {
		if got := eval(t, c.expr, tbl, row); got != c.want {
			t.Errorf("%s: got %v, want %v", c.expr, got, c.want)
		}
	}
}

func TestCaseSensitivityFollowsColumn(t *testing.T) {
	tbl := &change.Table{Schema: "shop", Name: "orders", Columns: []change.Column{
		{Name: "ci", Type: change.TypeString, CaseInsensitive: true},
		{Name: "cs", Type: change.TypeString},
	}}
	row := change.Row{"Hello", "Hello"}
	cases := []struct {
		expr string
		want bool
	}{
		{"ci = 'hello'", true},
		{"cs = 'hello'", false},
		{"cs = 'Hello'", true},
		{"ci = cs", true},
		{"ci IN ('HELLO')", true},
		{"cs IN ('HELLO')", false},
		{"ci LIKE 'h%'", true},
		{"cs LIKE 'h%'", false},
		{"ci REGEXP '^h'", true},
		{"cs REGEXP '^h'", false},
		{"LOWER(cs) = 'hello'", true},
		{"CONCAT(ci, '!') = 'HELLO!'", true},
		{"CONCAT(cs, '!') = 'HELLO!'", false},
		{"COALESCE(cs, 'x') = 'hello'", false},
	}
	for _, c := range cases {
		if got := eval(t, c.expr, tbl, row); got != c.want {
			t.Errorf("%s: got %v, want %v", c.expr, got, c.want)
		}
	}
}

func TestTableMatching(t *testing.T) {
	s, err := Compile([]api.Filter{
		{DBName: "shop", Match: "orders"},
		{DBName: "shop", Match: `/a\d+/`},
		{DBName: "shop", Match: "/x|y/"},
		{DBName: "shop", Match: "Users"},
		{DBName: "crm", Match: ""},
	})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		db, table string
		want      bool
	}{
		{"shop", "orders", true},
		{"shop", "Orders", false},
		{"shop", "orders_1", false},
		{"shop", "a1", true},
		{"shop", "a123", true},
		{"shop", "xa1", false},
		{"shop", "a1x", false},
		{"shop", "x", true},
		{"shop", "xy", false},
		{"shop", "Users", true},
		{"shop", "users", false},
		{"crm", "anything", true},
		{"crm", "", true},
		{"CRM", "anything", false},
		{"other", "orders", false},
	}
	for range 2 { // the second round answers from the cache
		for _, c := range cases {
			if got := s.Table(c.db, c.table); got != c.want {
				t.Errorf("Table(%q, %q) = %v, want %v", c.db, c.table, got, c.want)
			}
			ev := &change.Event{Kind: change.Insert, Table: &change.Table{Schema: c.db, Name: c.table}, After: change.Row{}}
			if got, err := s.Keep(ev); err != nil || got != c.want {
				t.Errorf("Keep(%s.%s) = %v, %v, want %v", c.db, c.table, got, err, c.want)
			}
		}
	}
	for db, want := range map[string]bool{"shop": true, "crm": true, "other": false, "Shop": false} {
		if got := s.Database(db); got != want {
			t.Errorf("Database(%q) = %v, want %v", db, got, want)
		}
	}
}

func ordersTable() *change.Table {
	return &change.Table{Schema: "shop", Name: "orders", Columns: []change.Column{
		{Name: "id", Type: change.TypeInt},
		{Name: "status", Type: change.TypeInt},
		{Name: "type", Type: change.TypeInt},
	}}
}

func TestKeepRowKinds(t *testing.T) {
	s, err := Compile([]api.Filter{{DBName: "shop", Match: "orders", Filter: "status = 1"}})
	if err != nil {
		t.Fatal(err)
	}
	tbl := ordersTable()
	yes, no := change.Row{int64(1), int64(1), int64(0)}, change.Row{int64(1), int64(2), int64(0)}
	cases := []struct {
		name string
		ev   change.Event
		want bool
	}{
		{"insert match", change.Event{Kind: change.Insert, After: yes}, true},
		{"insert miss", change.Event{Kind: change.Insert, After: no}, false},
		{"insert ignores before", change.Event{Kind: change.Insert, Before: yes, After: no}, false},
		{"snapshot match", change.Event{Kind: change.Snapshot, After: yes}, true},
		{"snapshot miss", change.Event{Kind: change.Snapshot, After: no}, false},
		{"delete tests old image", change.Event{Kind: change.Delete, Before: yes}, true},
		{"delete miss", change.Event{Kind: change.Delete, Before: no}, false},
		{"delete ignores after", change.Event{Kind: change.Delete, Before: no, After: yes}, false},
		{"update only old image matches", change.Event{Kind: change.Update, Before: yes, After: no}, true},
		{"update only new image matches", change.Event{Kind: change.Update, Before: no, After: yes}, true},
		{"update neither", change.Event{Kind: change.Update, Before: no, After: no}, false},
		{"update without old image", change.Event{Kind: change.Update, After: yes}, true},
		{"ddl", change.Event{Kind: change.DDL, Schema: "other", SQL: "DROP TABLE x"}, true},
	}
	for _, c := range cases {
		ev := c.ev
		if ev.Kind != change.DDL {
			ev.Table = tbl
		}
		got, err := s.Keep(&ev)
		if err != nil || got != c.want {
			t.Errorf("%s: got %v, %v, want %v", c.name, got, err, c.want)
		}
	}
	other := &change.Table{Schema: "shop", Name: "users", Columns: tbl.Columns}
	if got, err := s.Keep(&change.Event{Kind: change.Insert, Table: other, After: yes}); got || err != nil {
		t.Errorf("unselected table: got %v, %v", got, err)
	}
}

func TestSeveralFiltersOr(t *testing.T) {
	s, err := Compile([]api.Filter{
		{DBName: "shop", Match: "orders", Filter: "status = 1"},
		{DBName: "shop", Match: "/ord.*/", Filter: "type = 3"},
		{DBName: "shop", Match: "/ord.*/", Filter: "missing = 1 AND status = 9"},
	})
	if err == nil {
		_, err = s.Keep(&change.Event{Kind: change.Insert, Table: ordersTable(), After: change.Row{int64(1), int64(2), int64(3)}})
	}
	if err == nil || !strings.Contains(err.Error(), `column "missing" does not exist`) {
		t.Fatalf("a filter naming a missing column must fail the table, got %v", err)
	}

	s, err = Compile([]api.Filter{
		{DBName: "shop", Match: "orders", Filter: "status = 1"},
		{DBName: "shop", Match: "/ord.*/", Filter: "type = 3"},
	})
	if err != nil {
		t.Fatal(err)
	}
	tbl := ordersTable()
	for _, c := range []struct {
		row  change.Row
		want bool
	}{
		{change.Row{int64(1), int64(1), int64(0)}, true},
		{change.Row{int64(1), int64(2), int64(3)}, true},
		{change.Row{int64(1), int64(2), int64(2)}, false},
	} {
		got, err := s.Keep(&change.Event{Kind: change.Insert, Table: tbl, After: c.row})
		if err != nil || got != c.want {
			t.Errorf("row %v: got %v, %v, want %v", c.row, got, err, c.want)
		}
	}

	// A selecting filter without an expression keeps every row, so the others do not matter.
	s, err = Compile([]api.Filter{
		{DBName: "shop", Match: "orders", Filter: "missing = 1"},
		{DBName: "shop", Match: ""},
	})
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.Keep(&change.Event{Kind: change.Insert, Table: tbl, After: change.Row{int64(1), int64(2), int64(2)}})
	if err != nil || !got {
		t.Errorf("keep-all filter: got %v, %v", got, err)
	}
}

func TestKeepErrors(t *testing.T) {
	s, err := Compile([]api.Filter{{DBName: "shop", Match: "orders", Filter: "status = 1"}})
	if err != nil {
		t.Fatal(err)
	}
	tbl := &change.Table{Schema: "shop", Name: "orders", Columns: []change.Column{{Name: "id", Type: change.TypeInt}}}
	ev := &change.Event{Kind: change.Insert, Table: tbl, After: change.Row{int64(1)}}
	want := `filter "status = 1" on shop.orders: column "status" does not exist`
	for range 2 { // the error is cached with the binding and reported again
		if _, err := s.Keep(ev); err == nil || err.Error() != want {
			t.Fatalf("Keep error = %v, want %q", err, want)
		}
	}

	// A schema change brings a new *Table, which is bound afresh.
	ev.Table = ordersTable()
	ev.After = change.Row{int64(1), int64(1), int64(1)}
	if got, err := s.Keep(ev); err != nil || !got {
		t.Fatalf("after schema change: got %v, %v", got, err)
	}

	ev.After = change.Row{int64(1)}
	if _, err := s.Keep(ev); err == nil || !strings.Contains(err.Error(), "has 1 values but the table has 3 columns") {
		t.Errorf("short row: got %v", err)
	}
	if _, err := s.Keep(&change.Event{Kind: change.Insert}); err == nil {
		t.Error("row event without a table: want an error")
	}
	if _, err := s.Keep(nil); err == nil {
		t.Error("nil event: want an error")
	}
}

func TestCacheBound(t *testing.T) {
	s, err := Compile([]api.Filter{{DBName: "shop", Match: `/orders_\d+/`, Filter: "status = 1"}})
	if err != nil {
		t.Fatal(err)
	}
	cols := ordersTable().Columns
	for i := range maxCache + 100 {
		name := fmt.Sprintf("orders_%d", i)
		tbl := &change.Table{Schema: "shop", Name: name, Columns: cols}
		got, err := s.Keep(&change.Event{Kind: change.Insert, Table: tbl, After: change.Row{int64(1), int64(i % 2), int64(0)}})
		if err != nil || got != (i%2 == 1) {
			t.Fatalf("%s: got %v, %v", name, got, err)
		}
		if !s.Table("shop", name) {
			t.Fatalf("Table(%s) = false", name)
		}
	}
	if len(s.tables) > maxCache || len(s.scope) > maxCache {
		t.Errorf("caches grew to %d and %d entries", len(s.tables), len(s.scope))
	}
}

func TestCompileErrors(t *testing.T) {
	cases := []struct {
		name    string
		filters []api.Filter
		field   string
		msg     string
	}{
		{"bad regex", []api.Filter{{DBName: "shop", Match: "/a(/"}}, "task.filters[0].match", "bad regular expression"},
		{"empty regex", []api.Filter{{DBName: "shop", Match: "//"}}, "task.filters[0].match", "empty regular expression"},
		{"unterminated regex", []api.Filter{{DBName: "shop", Match: "/abc"}}, "task.filters[0].match", "between slashes"},
		{"second filter", []api.Filter{{DBName: "shop", Match: "a"}, {DBName: "shop", Match: "/[/"}}, "task.filters[1].match", "bad regular expression"},
		{"no dbname", []api.Filter{{Match: "a"}}, "task.filters[0].dbname", "is required"},
		{"unparsable", []api.Filter{{DBName: "shop", Filter: "status = "}}, "task.filters[0].filter", "syntax error"},
		{"syntax position", []api.Filter{{DBName: "shop", Filter: "status = 1 AND ) b"}}, "task.filters[0].filter", `syntax error at character 16 near ") b"`},
		{"unterminated string", []api.Filter{{DBName: "shop", Filter: "name = 'abc"}}, "task.filters[0].filter", "syntax error"},
		{"unsupported function", []api.Filter{{DBName: "shop", Filter: "NOW() > created_at"}}, "task.filters[0].filter", "function NOW is not supported"},
		{"schema function", []api.Filter{{DBName: "shop", Filter: "shop.f(a) = 1"}}, "task.filters[0].filter", "function shop.f is not supported"},
		{"subquery", []api.Filter{{DBName: "shop", Filter: "(SELECT 1) = 1"}}, "task.filters[0].filter", "subqueries are not supported"},
		{"in subquery", []api.Filter{{DBName: "shop", Filter: "id IN (SELECT id FROM x)"}}, "task.filters[0].filter", "subqueries are not supported"},
		{"exists", []api.Filter{{DBName: "shop", Filter: "EXISTS (SELECT 1)"}}, "task.filters[0].filter", "subqueries are not supported"},
		{"any", []api.Filter{{DBName: "shop", Filter: "id = ANY (SELECT 1)"}}, "task.filters[0].filter", "subqueries are not supported"},
		{"multiple statements", []api.Filter{{DBName: "shop", Filter: "1; DROP TABLE x"}}, "task.filters[0].filter", "single expression"},
		{"trailing semicolon", []api.Filter{{DBName: "shop", Filter: "status = 1;"}}, "task.filters[0].filter", "single expression"},
		{"qualified column", []api.Filter{{DBName: "shop", Filter: "t.status = 1"}}, "task.filters[0].filter", "qualified column name t.status"},
		{"schema qualified column", []api.Filter{{DBName: "shop", Filter: "shop.t.status = 1"}}, "task.filters[0].filter", "qualified column name shop.t.status"},
		{"aggregate", []api.Filter{{DBName: "shop", Filter: "COUNT(*) > 1"}}, "task.filters[0].filter", "aggregate function COUNT"},
		{"window", []api.Filter{{DBName: "shop", Filter: "ROW_NUMBER() OVER () = 1"}}, "task.filters[0].filter", "window function"},
		{"user variable", []api.Filter{{DBName: "shop", Filter: "@x = 1"}}, "task.filters[0].filter", "variable @x"},
		{"system variable", []api.Filter{{DBName: "shop", Filter: "@@version = 1"}}, "task.filters[0].filter", "variable @@version"},
		{"parameter", []api.Filter{{DBName: "shop", Filter: "status = ?"}}, "task.filters[0].filter", "parameters"},
		{"executable comment", []api.Filter{{DBName: "shop", Filter: "status = 1 /*! OR 1 = 1 */"}}, "task.filters[0].filter", "comments are not allowed"},
		{"dash comment", []api.Filter{{DBName: "shop", Filter: "status = 1 -- x"}}, "task.filters[0].filter", "comments are not allowed"},
		{"hash comment", []api.Filter{{DBName: "shop", Filter: "status = 1 # x"}}, "task.filters[0].filter", "comments are not allowed"},
		{"order by", []api.Filter{{DBName: "shop", Filter: "status = 1 ORDER BY id"}}, "task.filters[0].filter", "ORDER BY is not allowed"},
		{"limit", []api.Filter{{DBName: "shop", Filter: "status = 1 LIMIT 1"}}, "task.filters[0].filter", "LIMIT is not allowed"},
		{"group by", []api.Filter{{DBName: "shop", Filter: "status = 1 GROUP BY id"}}, "task.filters[0].filter", "GROUP BY is not allowed"},
		{"for update", []api.Filter{{DBName: "shop", Filter: "status = 1 FOR UPDATE"}}, "task.filters[0].filter", "locking clause"},
		{"union", []api.Filter{{DBName: "shop", Filter: "status = 1 UNION SELECT 1"}}, "task.filters[0].filter", "single expression"},
		{"bit operator", []api.Filter{{DBName: "shop", Filter: "status & 1"}}, "task.filters[0].filter", "operator & is not supported"},
		{"bit negation", []api.Filter{{DBName: "shop", Filter: "~status = 1"}}, "task.filters[0].filter", "operator ~ is not supported"},
		{"arity", []api.Filter{{DBName: "shop", Filter: "LOWER(a, b) = 'x'"}}, "task.filters[0].filter", "LOWER takes 1 argument, got 2"},
		{"arity 2", []api.Filter{{DBName: "shop", Filter: "IFNULL(a) = 1"}}, "task.filters[0].filter", "IFNULL takes 2 arguments, got 1"},
		{"regexp column", []api.Filter{{DBName: "shop", Filter: "name REGEXP code"}}, "task.filters[0].filter", "REGEXP pattern must be a constant"},
		{"regexp bad", []api.Filter{{DBName: "shop", Filter: "name REGEXP '('"}}, "task.filters[0].filter", "bad regular expression"},
		{"case", []api.Filter{{DBName: "shop", Filter: "CASE WHEN a THEN 1 END = 1"}}, "task.filters[0].filter", "CASE is not supported"},
		{"cast", []api.Filter{{DBName: "shop", Filter: "CAST(a AS CHAR) = 'x'"}}, "task.filters[0].filter", "CAST and CONVERT are not supported"},
		{"collate", []api.Filter{{DBName: "shop", Filter: "a COLLATE utf8mb4_bin = 'x'"}}, "task.filters[0].filter", "COLLATE is not supported"},
		{"ilike", []api.Filter{{DBName: "shop", Filter: "a ILIKE 'x'"}}, "task.filters[0].filter", "ILIKE is not supported"},
		{"row", []api.Filter{{DBName: "shop", Filter: "(a, b) = (1, 2)"}}, "task.filters[0].filter", "row constructors"},
		{"interval", []api.Filter{{DBName: "shop", Filter: "a > NOW() - INTERVAL 1 DAY"}}, "task.filters[0].filter", "is not supported"},
	}
	for _, c := range cases {
		_, err := Compile(c.filters)
		if err == nil {
			t.Errorf("%s: want an error", c.name)
			continue
		}
		var ae *api.Error
		if !errors.As(err, &ae) || ae.Code != api.CodeBadRequest {
			t.Errorf("%s: %v is not a -400 *api.Error", c.name, err)
		}
		if !strings.HasPrefix(err.Error(), c.field+": ") || !strings.Contains(err.Error(), c.msg) {
			t.Errorf("%s: got %q, want %q naming %s", c.name, err, c.msg, c.field)
		}
		if strings.Contains(err.Error(), wrapper) || strings.Contains(err.Error(), "FROM t") {
			t.Errorf("%s: message exposes the wrapper statement: %q", c.name, err)
		}
	}
}

func TestCompileAccepts(t *testing.T) {
	for _, expr := range []string{
		"name = 'a;b'",
		"name = 'a -- b'",
		"name = 'a /* b */'",
		"name = \"# x\"",
		"name = 'it\\'s; ok'",
		"`we;ird` = 1",
		"a--1 = 2",
		"  status = 1  ",
		"",
		"   ",
	} {
		if _, err := Compile([]api.Filter{{DBName: "shop", Filter: expr}}); err != nil {
			t.Errorf("Compile(%q): %v", expr, err)
		}
	}
}

func FuzzCompile(f *testing.F) {
	for _, seed := range []string{
		"status = 1 AND type IN (2,3)",
		"name LIKE 'a%' OR code REGEXP '^x'",
		"amount / 0 IS NULL",
		"u + 1 > -9223372036854775808 DIV -1",
		"COALESCE(n, LENGTH(CONCAT(name, data))) BETWEEN 1 AND 10",
		"created_at >= '2021-01-01' XOR t < '-838:59:59'",
		"1; DROP TABLE x",
		"ABS(neg) * 2e308",
		"'%\\' LIKE pat ESCAPE '\\\\'",
	} {
		f.Add(seed)
	}
	tbl := sampleTable()
	rows := []change.Row{sampleRow(), make(change.Row, len(sampleCols)), {
		int64(-1), int64(0), int64(-9223372036854775808), uint64(0),
		"", "\xff\xfe", "-0.000", float64(-1.5), float32(1e30), []byte{},
		"0000-00-00 00:00:00", "bad", "-838:59:59.999999", "9999-12-31 23:59:59.999999",
		"", "", "null", uint64(1 << 63), int64(0), int64(1901),
		int64(9223372036854775807), int64(-1), "%\\",
	}}
	f.Fuzz(func(t *testing.T, expr string) {
		s, err := Compile([]api.Filter{{DBName: "shop", Match: "orders", Filter: expr}})
		if err != nil {
			var ae *api.Error
			if !errors.As(err, &ae) || ae.Code != api.CodeBadRequest {
				t.Fatalf("Compile(%q): %v is not a -400 *api.Error", expr, err)
			}
			return
		}
		for _, row := range rows {
			for _, kind := range []change.Kind{change.Insert, change.Update, change.Delete} {
				_, _ = s.Keep(&change.Event{Kind: kind, Table: tbl, Before: row, After: row})
			}
		}
	})
}

func BenchmarkKeep(b *testing.B) {
	cols := make([]change.Column, 10)
	row := make(change.Row, 10)
	for i := range cols {
		cols[i] = change.Column{Name: fmt.Sprintf("c%d", i), Type: change.TypeInt}
		row[i] = int64(i)
	}
	cols[3] = change.Column{Name: "status", Type: change.TypeInt}
	cols[7] = change.Column{Name: "type", Type: change.TypeInt}
	cols[5] = change.Column{Name: "name", Type: change.TypeString, CaseInsensitive: true}
	row[3], row[7], row[5] = int64(1), int64(3), "widget"
	tbl := &change.Table{Schema: "shop", Name: "orders", Columns: cols}
	s, err := Compile([]api.Filter{{DBName: "shop", Match: "orders", Filter: "status = 1 AND type IN (2,3)"}})
	if err != nil {
		b.Fatal(err)
	}
	ev := &change.Event{Kind: change.Insert, Table: tbl, After: row}
	b.ReportAllocs()
	for b.Loop() {
		ok, err := s.Keep(ev)
		if err != nil || !ok {
			b.Fatal(ok, err)
		}
	}
}

func TestCommonPathsDoNotAllocate(t *testing.T) {
	tbl, row := sampleTable(), sampleRow()
	for _, expr := range []string{
		"status = 1 AND type IN (2,3)",
		"name = 'alice' OR code = 'x'",
		"name IN ('bob', 'ALICE')",
		"amount > 0.25 AND amount < 1",
		"u > -1 AND neg < 0",
		"created_at >= '2021-01-01' AND t < '11:00'",
		"name LIKE 'al%'",
		"n IS NULL AND NOT (status BETWEEN 5 AND 9)",
		"price > 2 AND flags = 5",
	} {
		s, err := Compile([]api.Filter{{DBName: "shop", Match: "orders", Filter: expr}})
		if err != nil {
			t.Fatal(err)
		}
		ev := &change.Event{Kind: change.Insert, Table: tbl, After: row}
		if ok, err := s.Keep(ev); err != nil || !ok {
			t.Fatalf("%s: got %v, %v", expr, ok, err)
		}
		if n := testing.AllocsPerRun(100, func() { _, _ = s.Keep(ev) }); n != 0 {
			t.Errorf("%s: %v allocations per row", expr, n)
		}
	}
}

// TestCompileRefusesValues: a filter must be a condition. A value at the top ('abc', 1+1, a bare
// column) is not one: MySQL would take its truth value (mostly false for strings), which drops
// rows without anyone having asked for that.
func TestCompileRefusesValues(t *testing.T) {
	for _, tc := range []struct {
		expr string
		ok   bool
	}{
		{"'abc'", false},
		{"1+1", false},
		{"status", false},
		{"`status`", false},
		{"(status)", false},
		{"-amount", false},
		{"1", false},
		{"TRUE", false},
		{"NULL", false},
		{"LOWER(name)", false},
		{"CONCAT(name, 'x')", false},
		{"COALESCE(status, 0)", false},
		{"IFNULL(name, 'x')", false},
		{"status + 1 * 2", false},

		{"status = 1", true},
		{"(status = 1)", true},
		{"status <=> NULL", true},
		{"status IN (1, 2)", true},
		{"status NOT IN (1, 2)", true},
		{"name LIKE 'a%'", true},
		{"name NOT LIKE 'a%'", true},
		{"name REGEXP '^a'", true},
		{"status IS NULL", true},
		{"status IS NOT TRUE", true},
		{"status BETWEEN 1 AND 2", true},
		{"status = 1 AND type = 2", true},
		{"status = 1 OR name", true},
		{"status = 1 XOR type = 2", true},
		{"NOT status = 1", true},
		{"NOT status", true},
		{"!(status = 1)", true},
		{"COALESCE(status = 1, type = 2)", true},
		{"IFNULL(status > 1, FALSE)", true},
		{"COALESCE(NULL, status = 1)", true},
	} {
		_, err := Compile([]api.Filter{{DBName: "shop", Filter: tc.expr}})
		switch {
		case tc.ok && err != nil:
			t.Errorf("Compile(%q): %v", tc.expr, err)
		case !tc.ok && err == nil:
			t.Errorf("Compile(%q) accepted a value as a filter", tc.expr)
		case !tc.ok && !strings.HasPrefix(err.Error(), "task.filters[0].filter: must be a condition"):
			t.Errorf("Compile(%q): %q, want it to say the filter must be a condition", tc.expr, err)
		}
	}
}
