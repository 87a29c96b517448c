package worker_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dtsrepl/dts/api"
	"github.com/dtsrepl/dts/internal/testenv"
)

// formatCase is a message format as the format tests run it.
type formatCase struct {
	name  string
	kafka api.Kafka
	// golden is the golden file of the insert of typesRow (worker/format/<name>/testdata).
	golden string
	// rowPart keeps what a row's message says of the row and its table, leaving out what
	// differs between a streamed and a copied row (operation, times, position).
	rowPart func(t *testing.T, key, value []byte) map[string]any
}

var formatCases = []formatCase{
	{name: "canal", kafka: api.Kafka{Format: api.FormatCanal}, golden: "format/canal/testdata/insert.golden",
		rowPart: func(t *testing.T, key, value []byte) map[string]any {
			v := decodeJSON(t, value)
			return pick(v, "data", "database", "table", "mysqlType", "sqlType", "pkNames", "isDdl", "sql", "old")
		}},
	{name: "maxwell", kafka: api.Kafka{Format: api.FormatMaxwell}, golden: "format/maxwell/testdata/insert.golden",
		rowPart: func(t *testing.T, key, value []byte) map[string]any {
			v := pick(decodeJSON(t, value), "data", "database", "table")
			v["key"] = decodeJSON(t, key)
			return v
		}},
	{name: "debezium", kafka: api.Kafka{Format: api.FormatDebezium, DebeziumSchema: true}, golden: "format/debezium/testdata/schema-insert.golden",
		rowPart: func(t *testing.T, key, value []byte) map[string]any {
			v := decodeJSON(t, value)
			payload := v["payload"].(map[string]any)
			source := payload["source"].(map[string]any)
			return map[string]any{"schema": v["schema"], "after": payload["after"], "before": payload["before"],
				"db": source["db"], "table": source["table"], "key": decodeJSON(t, key)}
		}},
}

func decodeJSON(t *testing.T, b []byte) map[string]any {
	t.Helper()
	var m map[string]any
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	if err := d.Decode(&m); err != nil {
		t.Fatalf("not a JSON object: %v: %s", err, b)
	}
	return m
}

func pick(m map[string]any, keys ...string) map[string]any {
	out := map[string]any{}
	for _, k := range keys {
		out[k] = m[k]
	}
	return out
}

// readGolden returns the key and value of a golden file's first message.
func readGolden(t *testing.T, path string) (key, value []byte) {
	t.Helper()
	b, err := os.ReadFile(filepath.FromSlash(path))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		switch k, v, _ := strings.Cut(line, " "); {
		case k == "key" && key == nil:
			key = []byte(v)
		case k == "value" && value == nil:
			value = []byte(v)
		}
	}
	return key, value
}

// TestFormatTypes streams the row of every type class in each format, then copies it
// (incr=false), and checks that both messages say the same of the row and its columns (values,
// Canal's mysqlType and sqlType, Debezium's schema, keys) and that it is what the format's
// golden test expects: the column facts the binlog reader derives equal the copy's, and both
// equal what the golden tests assume of MariaDB.
func TestFormatTypes(t *testing.T) {
	t.Parallel()
	db := testenv.StartMariaDB(t)
	kafka := testenv.StartKafka(t, 1)
	db.Exec(t, "SET GLOBAL time_zone = '+08:00'", "CREATE DATABASE shop", typesTable)

	source := func(serverID uint32) *api.Source {
		return &api.Source{Host: db.Host, Port: db.Port, Username: db.User, Password: db.Password, ServerID: serverID}
	}
	filters := []api.Filter{{DBName: "shop", Match: "types"}}
	streams := make([]*harness, len(formatCases))
	for i, fc := range formatCases {
		h := newHarness(t, db, kafka)
		k := fc.kafka
		k.Topic = fc.name + "-stream"
		h.write(api.TaskSpec{Source: source(uint32(5001 + i)), Kafka: k, Filters: filters})
		h.start()
		streams[i] = h
	}
	for _, h := range streams {
		h.running()
	}
	c := db.Conn(t)
	for _, q := range []string{"SET time_zone = '+00:00'", typesRow} {
		if _, err := c.Execute(q); err != nil {
			t.Fatal(err)
		}
	}
	streamed := make([][]testenv.Record, len(formatCases))
	for i, fc := range formatCases {
		streamed[i] = kafka.WaitRecords(t, fc.name+"-stream", 1, 30*time.Second)
		streams[i].stop()
	}

	incr := false
	var wg sync.WaitGroup
	copied := make([][]testenv.Record, len(formatCases))
	for i, fc := range formatCases {
		h := newHarness(t, db, kafka)
		k := fc.kafka
		k.Topic = fc.name + "-copy"
		h.write(api.TaskSpec{Source: source(uint32(6001 + i)), Kafka: k, Filters: filters, Incr: &incr})
		h.start()
		wg.Add(1)
		go func() {
			defer wg.Done()
			h.waitStatus("copy done", func(st *api.Status) bool { return st.Snapshot != nil && st.Snapshot.Done })
		}()
		defer h.stop()
	}
	wg.Wait()
	for i, fc := range formatCases {
		copied[i] = kafka.Read(t, fc.name+"-copy")
	}

	for i, fc := range formatCases {
		t.Run(fc.name, func(t *testing.T) {
			stream := streamed[i][0]
			var row *testenv.Record
			for j := range copied[i] {
				r := &copied[i][j]
				if fc.name != "maxwell" || strings.Contains(string(r.Value), `"type":"bootstrap-insert"`) {
					row = r
					break
				}
			}
			if row == nil {
				t.Fatalf("no copied row among %d messages", len(copied[i]))
			}
			gk, gv := readGolden(t, fc.golden)
			want := fc.rowPart(t, gk, gv)
			for _, m := range []struct {
				what string
				rec  testenv.Record
			}{{"streamed", stream}, {"copied", *row}} {
				got := fc.rowPart(t, m.rec.Key, m.rec.Value)
				if !reflect.DeepEqual(got, want) {
					for k := range want {
						if !reflect.DeepEqual(got[k], want[k]) {
							t.Errorf("%s row, %s:\n got %s\nwant %s", m.what, k, jsonString(got[k]), jsonString(want[k]))
						}
					}
				}
			}
			if fc.name == "maxwell" {
				var types []string
				for _, r := range copied[i] {
					types = append(types, fmt.Sprint(decodeJSON(t, r.Value)["type"]))
				}
				if strings.Join(types, ",") != "bootstrap-start,bootstrap-insert,bootstrap-complete" {
					t.Errorf("copy messages: %v", types)
				}
			}
		})
	}
}

// TestFormatPartitions: a row lands in the same partition whatever the format, since the
// emitter routes every format by dts's key (partition_mode primary_key here).
func TestFormatPartitions(t *testing.T) {
	t.Parallel()
	db := testenv.StartMariaDB(t)
	kafka := testenv.StartKafka(t, 4)
	db.Exec(t, "CREATE DATABASE shop", "CREATE TABLE shop.p (id INT PRIMARY KEY, v VARCHAR(10))")
	formats := []string{api.FormatDTS, api.FormatCanal, api.FormatMaxwell, api.FormatDebezium}
	var hs []*harness
	for i, f := range formats {
		h := newHarness(t, db, kafka)
		h.write(api.TaskSpec{Source: &api.Source{Host: db.Host, Port: db.Port, Username: db.User, Password: db.Password, ServerID: uint32(8001 + i)},
			Kafka: api.Kafka{Topic: "p-" + f, Format: f, PartitionMode: api.PartitionByPrimaryKey}, Filters: []api.Filter{{DBName: "shop", Match: "p"}}})
		h.start()
		hs = append(hs, h)
	}
	for _, h := range hs {
		h.running()
	}
	const rows = 24
	for i := 1; i <= rows; i++ {
		db.Exec(t, fmt.Sprintf("INSERT INTO shop.p VALUES (%d, 'v')", i))
	}
	partitionOf := map[string]int32{}
	for _, f := range formats {
		recs := kafka.WaitRecords(t, "p-"+f, rows, 30*time.Second)
		used := map[int32]bool{}
		for _, r := range recs {
			v := decodeJSON(t, r.Value)
			var row map[string]any
			switch f {
			case api.FormatCanal:
				row = v["data"].([]any)[0].(map[string]any)
			case api.FormatDebezium:
				row = v["after"].(map[string]any)
			default:
				row = v["data"].(map[string]any)
			}
			id := fmt.Sprint(row["id"])
			used[r.Partition] = true
			if p, ok := partitionOf[id]; !ok {
				partitionOf[id] = r.Partition
			} else if p != r.Partition {
				t.Errorf("%s: row %s in partition %d, in %d in the dts format", f, id, r.Partition, p)
			}
		}
		if len(used) < 2 {
			t.Errorf("%s: %d rows in %d partition(s): the test needs them spread", f, len(recs), len(used))
		}
	}
}
