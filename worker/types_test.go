package worker_test

import (
	"encoding/json"
	"sort"
	"testing"
	"time"

	"github.com/dtsrepl/dts/api"
	"github.com/dtsrepl/dts/internal/testenv"
)

// typesTable has a column of every type class dts encodes differently.
const typesTable = `CREATE TABLE shop.types (
	id BIGINT UNSIGNED NOT NULL PRIMARY KEY,
	ti TINYINT, tu TINYINT UNSIGNED, mi MEDIUMINT, mu MEDIUMINT UNSIGNED, bi BIGINT, bu BIGINT UNSIGNED,
	dec1 DECIMAL(20,6), f FLOAT, d DOUBLE,
	dt DATETIME(3), ts TIMESTAMP(6) NULL, dte DATE, tm TIME(2), yr YEAR, dt0 DATETIME,
	s VARCHAR(50), c CHAR(5), txt TEXT,
	vb VARBINARY(10), bn BINARY(4), bl BLOB,
	j JSON, e ENUM('small','medium','large'), st SET('a','b','c'), bt BIT(10),
	l1 VARCHAR(10) CHARACTER SET latin1, gb VARCHAR(10) CHARACTER SET gbk,
	n INT NULL
) DEFAULT CHARSET=utf8mb4`

const typesRow = `INSERT INTO shop.types VALUES (
	18446744073709551615,
	-128, 255, -8388608, 16777215, -9223372036854775808, 18446744073709551615,
	'-12345678901234.123456', 1.1, 2.2250738585072014e-308,
	'2021-04-09 12:03:20.123', '2021-04-09 04:03:20.000001', '2021-04-09', '-838:59:58.99', 2021, '2021-04-09 00:00:00',
	'héllo 😀 "quoted" \\ back', 'ab', 'long text',
	X'00FF', X'0102', X'DEADBEEF',
	'{"a": [1, 2.5, "x"], "b": null}', 'medium', 'a,c', b'1010101010',
	'café', '中文',
	NULL)`

// wantTypes is the data of typesRow as messages carry it, whichever way the row was read.
var wantTypes = map[string]string{
	"id": `18446744073709551615`,
	"ti": `-128`, "tu": `255`, "mi": `-8388608`, "mu": `16777215`, "bi": `-9223372036854775808`, "bu": `18446744073709551615`,
	"dec1": `"-12345678901234.123456"`, "f": `1.1`, "d": `2.2250738585072014e-308`,
	"dt": `"2021-04-09 12:03:20.123"`, "ts": `"2021-04-09 04:03:20.000001"`, "dte": `"2021-04-09"`, "tm": `"-838:59:58.99"`, "yr": `2021`, "dt0": `"2021-04-09 00:00:00"`,
	"s": `"héllo 😀 \"quoted\" \\ back"`, "c": `"ab"`, "txt": `"long text"`,
	"vb": `"AP8="`, "bn": `"AQIAAA=="`, "bl": `"3q2+7w=="`,
	"j": `{"a":[1,2.5,"x"],"b":null}`, "e": `"medium"`, "st": `"a,c"`, "bt": `682`,
	"l1": `"café"`, "gb": `"中文"`,
	"n": `null`,
}

// checkTypes compares a message's data with wantTypes, column by column, compacting JSON
// values so whitespace inside the JSON column does not matter.
func checkTypes(t *testing.T, what string, data map[string]json.RawMessage) {
	t.Helper()
	var keys []string
	for k := range wantTypes {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		got, ok := data[k]
		if !ok {
			t.Errorf("%s: column %s missing", what, k)
			continue
		}
		var g, w any
		if err := json.Unmarshal(got, &g); err != nil {
			t.Errorf("%s: column %s: %v", what, k, err)
			continue
		}
		_ = json.Unmarshal([]byte(wantTypes[k]), &w)
		// Numbers must be written exactly as wanted, not just equal as float64.
		if gs, ws := testenv.CompactJSON(got), testenv.CompactJSON([]byte(wantTypes[k])); gs != ws {
			t.Errorf("%s: column %s = %s, want %s", what, k, gs, ws)
		}
	}
	if len(data) != len(wantTypes) {
		t.Errorf("%s: %d columns, want %d", what, len(data), len(wantTypes))
	}
}

// TestColumnTypes streams a row with every type class, then copies the same row with
// incr=false, and checks both carry exactly the same, correct values.
func TestColumnTypes(t *testing.T) {
	t.Parallel()
	db := testenv.StartMariaDB(t)
	kafka := testenv.StartKafka(t, 1)
	// A server zone away from UTC: TIMESTAMP values must still match between copy and stream.
	db.Exec(t, "SET GLOBAL time_zone = '+08:00'", "CREATE DATABASE shop", typesTable)

	stream := newHarness(t, db, kafka)
	stream.spec(api.TaskSpec{Kafka: api.Kafka{Topic: "stream"}, Filters: []api.Filter{{DBName: "shop", Match: "types"}}})
	stream.start()
	stream.running()
	c := db.Conn(t)
	for _, q := range []string{"SET time_zone = '+00:00'", typesRow} {
		if _, err := c.Execute(q); err != nil {
			t.Fatal(err)
		}
	}
	recs := kafka.WaitRecords(t, "stream", 1, 30*time.Second)
	var msg struct {
		Type string                     `json:"type"`
		Data map[string]json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(recs[0].Value, &msg); err != nil {
		t.Fatalf("%v: %s", err, recs[0].Value)
	}
	checkTypes(t, "stream", msg.Data)
	if string(recs[0].Key) != `{"database":"shop","table":"types","pk":{"id":18446744073709551615}}` {
		t.Errorf("key %s", recs[0].Key)
	}
	stream.stop()

	copy := newHarness(t, db, kafka)
	incr := false
	copy.spec(api.TaskSpec{Kafka: api.Kafka{Topic: "copy"}, Filters: []api.Filter{{DBName: "shop", Match: "types"}}, Incr: &incr})
	copy.start()
	recs = kafka.WaitRecords(t, "copy", 1, 30*time.Second)
	if err := json.Unmarshal(recs[0].Value, &msg); err != nil {
		t.Fatalf("%v: %s", err, recs[0].Value)
	}
	if msg.Type != "snapshot" {
		t.Fatalf("copy message type %q", msg.Type)
	}
	checkTypes(t, "snapshot", msg.Data)
	st := copy.running()
	if st.Snapshot == nil || !st.Snapshot.Done || st.Snapshot.RowsCopied != 1 {
		t.Fatalf("snapshot progress %+v", st.Snapshot)
	}
}
