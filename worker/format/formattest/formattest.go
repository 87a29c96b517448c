// Package formattest holds what the message format tests share: the worker's type test table
// (worker/types_test.go, a column of every type class) as MariaDB 10.11 describes it, its row,
// and a stream of changes of every kind on it, with fixed times so that messages can be
// compared byte for byte with golden ones.
package formattest

import (
	"math"
	"time"

	"github.com/dtsrepl/dts/worker/change"
)

// Time is when the changes happened; Now is when a format "processes" them (the field some
// formats fill from the clock: Canal's ts, Debezium's ts_ms).
var (
	Time = time.Date(2021, 4, 9, 12, 3, 20, 0, time.UTC)
	Now  = time.Date(2021, 4, 9, 12, 3, 21, 123456789, time.UTC)
)

// Types is shop.types of worker/types_test.go, with the column facts MariaDB 10.11 reports
// (information_schema.COLUMNS), which the binlog reader and the copy both give.
func Types() *change.Table {
	c := func(name string, tp change.ColumnType, sqlType string) change.Column {
		return change.Column{Name: name, Type: tp, SQLType: sqlType}
	}
	cols := []change.Column{
		c("id", change.TypeInt, "bigint(20) unsigned"),
		c("ti", change.TypeInt, "tinyint(4)"),
		c("tu", change.TypeInt, "tinyint(3) unsigned"),
		c("mi", change.TypeInt, "mediumint(9)"),
		c("mu", change.TypeInt, "mediumint(8) unsigned"),
		c("bi", change.TypeInt, "bigint(20)"),
		c("bu", change.TypeInt, "bigint(20) unsigned"),
		c("dec1", change.TypeDecimal, "decimal(20,6)"),
		c("f", change.TypeFloat, "float"),
		c("d", change.TypeFloat, "double"),
		c("dt", change.TypeDateTime, "datetime(3)"),
		c("ts", change.TypeTimestamp, "timestamp(6)"),
		c("dte", change.TypeDate, "date"),
		c("tm", change.TypeTime, "time(2)"),
		c("yr", change.TypeYear, "year(4)"),
		c("dt0", change.TypeDateTime, "datetime"),
		c("s", change.TypeString, "varchar(50)"),
		c("c", change.TypeString, "char(5)"),
		c("txt", change.TypeString, "text"),
		c("vb", change.TypeBinary, "varbinary(10)"),
		c("bn", change.TypeBinary, "binary(4)"),
		c("bl", change.TypeBinary, "blob"),
		c("j", change.TypeJSON, "longtext"),
		c("e", change.TypeEnum, "enum('small','medium','large')"),
		c("st", change.TypeSet, "set('a','b','c')"),
		c("bt", change.TypeBit, "bit(10)"),
		c("l1", change.TypeString, "varchar(10)"),
		c("gb", change.TypeString, "varchar(10)"),
		c("n", change.TypeInt, "int(11)"),
	}
	for i := range cols {
		col := &cols[i]
		switch col.Name {
		case "id":
			col.NotNull = true
			col.Unsigned = true
		case "tu", "mu", "bu":
			col.Unsigned = true
		case "dec1":
			col.Precision, col.Scale = 20, 6
		case "dt":
			col.Decimals = 3
		case "ts":
			col.Decimals = 6
		case "tm":
			col.Decimals = 2
		case "s":
			col.Length = 50
		case "c":
			col.Length = 5
		case "vb", "l1", "gb":
			col.Length = 10
		case "bn":
			col.Length = 4
		case "bt":
			col.Length = 10
		case "e":
			col.Members = []string{"small", "medium", "large"}
		case "st":
			col.Members = []string{"a", "b", "c"}
		}
		if col.Type == change.TypeString || col.Type == change.TypeEnum || col.Type == change.TypeSet {
			col.CaseInsensitive = true
		}
	}
	return &change.Table{Schema: "shop", Name: "types", Columns: cols, PK: []int{0}}
}

// Row is typesRow of worker/types_test.go as both ways of reading it normalize it.
func Row() change.Row {
	return change.Row{
		uint64(math.MaxUint64),
		int64(-128), uint64(255), int64(-8388608), uint64(16777215), int64(math.MinInt64), uint64(math.MaxUint64),
		"-12345678901234.123456", float32(1.1), 2.2250738585072014e-308,
		"2021-04-09 12:03:20.123", "2021-04-09 04:03:20.000001", "2021-04-09", "-838:59:58.99", int64(2021), "2021-04-09 00:00:00",
		"héllo 😀 \"quoted\" \\ back", "ab", "long text",
		[]byte{0x00, 0xFF}, []byte{0x01, 0x02, 0x00, 0x00}, []byte{0xDE, 0xAD, 0xBE, 0xEF},
		`{"a": [1, 2.5, "x"], "b": null}`, "medium", "a,c", uint64(682),
		"café", "中文",
		nil,
	}
}

// Updated is Row after UPDATE shop.types SET ti = 5, s = 'changed', n = 7, bt = 1 and st
// emptied.
func Updated() change.Row {
	r := Row()
	r[1], r[16], r[28], r[24], r[25] = int64(5), "changed", int64(7), "", uint64(1)
	return r
}

// Keyless is shop.log, a table without a primary key: CREATE TABLE shop.log (msg VARCHAR(20)).
func Keyless() *change.Table {
	return &change.Table{Schema: "shop", Name: "log", Columns: []change.Column{
		{Name: "msg", Type: change.TypeString, SQLType: "varchar(20)", Length: 20, CaseInsensitive: true},
	}}
}

// Case is one change to encode and the name of its golden messages.
type Case struct {
	Name  string
	Event *change.Event
}

// Cases are a change of every kind: the insert of Row (the last row of its transaction), its
// update and delete (rows in the middle of a transaction), the copy of Row framed by the copy's
// table boundaries, a DDL on the table, a DDL on a database, and an insert into a table without
// a primary key.
func Cases() []Case {
	t := Types()
	const gtid, pos = "0-1-42", "mysql-bin.000003:4567"
	return []Case{
		{"insert", &change.Event{Kind: change.Insert, Table: t, After: Row(), Time: Time, GTID: gtid, Pos: pos, XID: 88, Commit: true}},
		{"update", &change.Event{Kind: change.Update, Table: t, Before: Row(), After: Updated(), Time: Time, GTID: gtid, Pos: pos}},
		{"delete", &change.Event{Kind: change.Delete, Table: t, Before: Updated(), Time: Time, GTID: gtid, Pos: pos}},
		{"copy-begin", &change.Event{Kind: change.CopyBegin, Table: t, Time: Time}},
		{"snapshot", &change.Event{Kind: change.Snapshot, Table: t, After: Row(), Time: Time}},
		{"copy-end", &change.Event{Kind: change.CopyEnd, Table: t, Time: Time}},
		{"ddl-table", &change.Event{Kind: change.DDL, Table: &change.Table{Schema: "shop", Name: "types"}, Schema: "shop",
			SQL: "ALTER TABLE shop.types ADD COLUMN extra INT", Time: Time, GTID: "0-1-43", Pos: "mysql-bin.000003:5000"}},
		{"ddl-database", &change.Event{Kind: change.DDL, Schema: "crm", SQL: "CREATE DATABASE crm", Time: Time, GTID: "0-1-44", Pos: "mysql-bin.000003:5200"}},
		{"keyless-insert", &change.Event{Kind: change.Insert, Table: Keyless(), After: change.Row{"hello"}, Time: Time, GTID: "0-1-45", Pos: "mysql-bin.000003:5400", XID: 90, Commit: true}},
	}
}
