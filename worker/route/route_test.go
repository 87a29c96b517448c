package route

import (
	"fmt"
	"hash/fnv"
	"testing"

	"github.com/dtsrepl/dts/api"
	"github.com/dtsrepl/dts/worker/change"
	"github.com/dtsrepl/dts/worker/encode"
)

func mode(m int) *int { return &m }

func TestTopic(t *testing.T) {
	tests := []struct {
		name      string
		kafka     api.Kafka
		db, table string
		want      string
	}{
		{"no topic_mode: the task's topic", api.Kafka{Topic: "cdc"}, "shop", "orders", "cdc"},
		{"no topic_mode: database ddl too", api.Kafka{Topic: "cdc"}, "shop", "", "cdc"},
		{"mode 0: dbname", api.Kafka{Topic: "ignored", TopicMode: mode(0)}, "shop", "orders", "shop"},
		{"mode 0: database ddl", api.Kafka{TopicMode: mode(0)}, "shop", "", "shop"},
		{"mode 1: dbname_tablename", api.Kafka{Topic: "ignored", TopicMode: mode(1)}, "shop", "orders", "shop_orders"},
		{"mode 1: database ddl has no topic", api.Kafka{TopicMode: mode(1)}, "shop", "", ""},
		{"mode 1: legal characters kept", api.Kafka{TopicMode: mode(1)}, "shop-1", "order.lines_v2", "shop-1_order.lines_v2"},
		{"mode 0: illegal characters become _", api.Kafka{TopicMode: mode(0)}, "my shop$", "orders", "my_shop_"},
		{"mode 1: illegal characters become _", api.Kafka{TopicMode: mode(1)}, "shop", "order lines/2", "shop_order_lines_2"},
		{"mode 1: each non-ASCII rune becomes one _", api.Kafka{TopicMode: mode(1)}, "café", "日本", "caf____"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := New(tt.kafka)
			for range 2 { // the second call is served from the cache
				if got := r.Topic(tt.db, tt.table); got != tt.want {
					t.Fatalf("Topic(%q, %q) = %q, want %q", tt.db, tt.table, got, tt.want)
				}
			}
		})
	}
}

func TestHash(t *testing.T) {
	tests := []struct {
		in   string
		want uint32 // FNV-1a 32 test vectors
	}{
		{"", 0x811c9dc5},
		{"a", 0xe40c292c},
		{"foobar", 0xbf9cf968},
	}
	for _, tt := range tests {
		if got := Hash([]byte(tt.in)); got != tt.want {
			t.Errorf("Hash(%q) = %#x, want %#x", tt.in, got, tt.want)
		}
	}
	// And it is hash/fnv's New32a on other inputs.
	for _, in := range []string{"shop.orders", "\x00\xff", `{"database":"shop","table":"orders","pk":{"id":7}}`} {
		h := fnv.New32a()
		h.Write([]byte(in))
		if got, want := Hash([]byte(in)), h.Sum32(); got != want {
			t.Errorf("Hash(%q) = %#x, hash/fnv gives %#x", in, got, want)
		}
	}
}

func orders() *change.Table {
	return &change.Table{
		Schema: "shop",
		Name:   "orders",
		Columns: []change.Column{
			{Name: "id", Type: change.TypeInt},
			{Name: "Customer_ID", Type: change.TypeInt},
			{Name: "region", Type: change.TypeString},
		},
		PK: []int{0},
	}
}

func noPK() *change.Table {
	return &change.Table{
		Schema:  "shop",
		Name:    "log",
		Columns: []change.Column{{Name: "customer_id", Type: change.TypeInt}, {Name: "msg", Type: change.TypeString}},
	}
}

// columnsHash is the hash of partition_mode column for the given values, by its definition.
func columnsHash(t *change.Table, row change.Row, idx ...int) uint32 {
	var b []byte
	for n, i := range idx {
		if n > 0 {
			b = append(b, 0)
		}
		b = encode.AppendValue(b, &t.Columns[i], row[i])
	}
	return Hash(b)
}

func keyOf(ev *change.Event) []byte {
	k, _ := encode.New(encode.Options{}).Key(nil, ev)
	return k
}

func TestRoutePartition(t *testing.T) {
	ord, log := orders(), noPK()
	row := change.Row{int64(7), int64(42), "eu"}
	logRow := change.Row{int64(42), "hello"}
	tableHash := Hash([]byte("shop.orders"))
	logHash := Hash([]byte("shop.log"))
	pkHash := Hash(keyOf(&change.Event{Kind: change.Insert, Table: ord, After: row}))
	tests := []struct {
		name  string
		kafka api.Kafka
		tbl   *change.Table
		row   change.Row
		want  uint32
	}{
		{"default is table", api.Kafka{Topic: "t"}, ord, row, tableHash},
		{"table", api.Kafka{Topic: "t", PartitionMode: "table"}, ord, row, tableHash},
		{"primary_key", api.Kafka{Topic: "t", PartitionMode: "primary_key"}, ord, row, pkHash},
		{"primary_key without a primary key: table", api.Kafka{Topic: "t", PartitionMode: "primary_key"}, log, logRow, logHash},
		{"column", api.Kafka{Topic: "t", PartitionMode: "column", PartitionColumns: api.StringList{"region"}}, ord, row, columnsHash(ord, row, 2)},
		{"column names are case-insensitive", api.Kafka{Topic: "t", PartitionMode: "column", PartitionColumns: api.StringList{"CUSTOMER_id"}}, ord, row, columnsHash(ord, row, 1)},
		{"several columns in the listed order", api.Kafka{Topic: "t", PartitionMode: "column", PartitionColumns: api.StringList{"region", "id"}}, ord, row, columnsHash(ord, row, 2, 0)},
		{"column on a table without a primary key", api.Kafka{Topic: "t", PartitionMode: "column", PartitionColumns: api.StringList{"customer_id"}}, log, logRow, columnsHash(log, logRow, 0)},
		{"column missing: default fallback table", api.Kafka{Topic: "t", PartitionMode: "column", PartitionColumns: api.StringList{"tenant"}}, ord, row, tableHash},
		{"one of the columns missing: fallback", api.Kafka{Topic: "t", PartitionMode: "column", PartitionColumns: api.StringList{"region", "tenant"}}, ord, row, tableHash},
		{"column missing: fallback table", api.Kafka{Topic: "t", PartitionMode: "column", PartitionColumns: api.StringList{"tenant"}, ProducerPartitionByFallback: "table"}, ord, row, tableHash},
		{"column missing: fallback primary_key", api.Kafka{Topic: "t", PartitionMode: "column", PartitionColumns: api.StringList{"tenant"}, ProducerPartitionByFallback: "primary_key"}, ord, row, pkHash},
		{"column missing, fallback primary_key, no primary key: table", api.Kafka{Topic: "t", PartitionMode: "column", PartitionColumns: api.StringList{"tenant"}, ProducerPartitionByFallback: "primary_key"}, log, logRow, logHash},
	}
	kinds := []change.Kind{change.Insert, change.Update, change.Delete, change.Snapshot}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := New(tt.kafka)
			for _, k := range kinds {
				ev := &change.Event{Kind: k, Table: tt.tbl}
				switch k {
				case change.Delete:
					ev.Before = tt.row
				case change.Update:
					ev.Before = make(change.Row, len(tt.row)) // an old image that hashes differently
					ev.After = tt.row
				default:
					ev.After = tt.row
				}
				topic, h := r.Route(ev, keyOf(ev))
				if topic != "t" {
					t.Errorf("%v: topic %q, want t", k, topic)
				}
				if h != tt.want {
					t.Errorf("%v: hash %#x, want %#x", k, h, tt.want)
				}
			}
		})
	}
}

// TestRouteSameRow: the snapshot copy of a row and every binlog change of it go to the same
// partition, in every partition mode, so a consumer sees them in order.
func TestRouteSameRow(t *testing.T) {
	ord := orders()
	row := change.Row{int64(7), int64(42), "eu"}
	other := change.Row{int64(8), int64(43), "us"}
	modes := []api.Kafka{
		{Topic: "t"},
		{Topic: "t", PartitionMode: "primary_key"},
		{Topic: "t", PartitionMode: "column", PartitionColumns: api.StringList{"customer_id"}},
		{Topic: "t", PartitionMode: "column", PartitionColumns: api.StringList{"id", "region"}},
		{TopicMode: mode(1), PartitionMode: "column", PartitionColumns: api.StringList{"nope"}, ProducerPartitionByFallback: "primary_key"},
	}
	events := []struct {
		name string
		ev   change.Event
	}{
		{"snapshot", change.Event{Kind: change.Snapshot, Table: ord, After: row}},
		{"insert", change.Event{Kind: change.Insert, Table: ord, After: row}},
		{"update", change.Event{Kind: change.Update, Table: ord, Before: other, After: row}},
		{"delete", change.Event{Kind: change.Delete, Table: ord, Before: row, After: other}},
		{"snapshot of an equal row with a new table value", change.Event{Kind: change.Snapshot, Table: orders(), After: append(change.Row(nil), row...)}},
	}
	for _, k := range modes {
		t.Run(fmt.Sprintf("%s%v", k.PartitionMode, k.PartitionColumns), func(t *testing.T) {
			r := New(k)
			var topic0 string
			var hash0 uint32
			for i, e := range events {
				topic, h := r.Route(&e.ev, keyOf(&e.ev))
				if i == 0 {
					topic0, hash0 = topic, h
					continue
				}
				if topic != topic0 || h != hash0 {
					t.Errorf("%s routes to %q/%#x, snapshot to %q/%#x", e.name, topic, h, topic0, hash0)
				}
			}
		})
	}
}

// TestRouteDDL: a DDL on a table goes to that table's topic and, in table mode, its partition,
// so consumers see it between the rows before and after it.
func TestRouteDDL(t *testing.T) {
	ord := orders()
	row := change.Row{int64(7), int64(42), "eu"}
	tests := []struct {
		name      string
		kafka     api.Kafka
		ev        change.Event
		wantTopic string
		sameHash  bool // hashes like the rows of orders
		wantHash  uint32
	}{
		{
			name:      "table ddl, single topic, table mode",
			kafka:     api.Kafka{Topic: "cdc"},
			ev:        change.Event{Kind: change.DDL, Schema: "shop", Table: &change.Table{Schema: "shop", Name: "orders"}, SQL: "ALTER TABLE orders ADD x INT"},
			wantTopic: "cdc", sameHash: true,
		},
		{
			name:      "table ddl, topic per table",
			kafka:     api.Kafka{TopicMode: mode(1)},
			ev:        change.Event{Kind: change.DDL, Schema: "shop", Table: &change.Table{Schema: "shop", Name: "orders"}, SQL: "TRUNCATE orders"},
			wantTopic: "shop_orders", sameHash: true,
		},
		{
			name:      "table ddl, topic per database",
			kafka:     api.Kafka{TopicMode: mode(0)},
			ev:        change.Event{Kind: change.DDL, Schema: "shop", Table: &change.Table{Schema: "shop", Name: "orders"}, SQL: "DROP TABLE orders"},
			wantTopic: "shop", sameHash: true,
		},
		{
			name:      "table ddl in primary_key mode hashes by table",
			kafka:     api.Kafka{Topic: "cdc", PartitionMode: "primary_key"},
			ev:        change.Event{Kind: change.DDL, Schema: "shop", Table: &change.Table{Schema: "shop", Name: "orders"}, SQL: "ALTER TABLE orders ADD x INT"},
			wantTopic: "cdc", wantHash: Hash([]byte("shop.orders")),
		},
		{
			name:      "table ddl in column mode hashes by table",
			kafka:     api.Kafka{Topic: "cdc", PartitionMode: "column", PartitionColumns: api.StringList{"region"}},
			ev:        change.Event{Kind: change.DDL, Schema: "shop", Table: &change.Table{Schema: "shop", Name: "orders"}, SQL: "ALTER TABLE orders ADD x INT"},
			wantTopic: "cdc", wantHash: Hash([]byte("shop.orders")),
		},
		{
			name:      "database ddl, single topic",
			kafka:     api.Kafka{Topic: "cdc"},
			ev:        change.Event{Kind: change.DDL, Schema: "shop", SQL: "CREATE DATABASE shop"},
			wantTopic: "cdc", wantHash: Hash([]byte("shop.")),
		},
		{
			name:      "database ddl, topic per database",
			kafka:     api.Kafka{TopicMode: mode(0)},
			ev:        change.Event{Kind: change.DDL, Schema: "shop", SQL: "DROP DATABASE shop"},
			wantTopic: "shop", wantHash: Hash([]byte("shop.")),
		},
		{
			name:      "database ddl, topic per table: none",
			kafka:     api.Kafka{TopicMode: mode(1)},
			ev:        change.Event{Kind: change.DDL, Schema: "shop", SQL: "DROP DATABASE shop"},
			wantTopic: "", wantHash: Hash([]byte("shop.")),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := New(tt.kafka)
			rowEv := &change.Event{Kind: change.Insert, Table: ord, After: row}
			rowTopic, rowHash := r.Route(rowEv, keyOf(rowEv))
			key, _ := encode.New(encode.Options{}).Key(nil, &tt.ev)
			topic, h := r.Route(&tt.ev, key)
			if topic != tt.wantTopic {
				t.Errorf("topic %q, want %q", topic, tt.wantTopic)
			}
			if tt.ev.Table != nil && topic != rowTopic {
				t.Errorf("ddl topic %q, rows of the table go to %q", topic, rowTopic)
			}
			want := tt.wantHash
			if tt.sameHash {
				want = rowHash
			}
			if h != want {
				t.Errorf("hash %#x, want %#x", h, want)
			}
		})
	}
}

// TestRouteSchemaChange: routes are cached per *change.Table; a new table value after a schema
// change is routed afresh.
func TestRouteSchemaChange(t *testing.T) {
	r := New(api.Kafka{Topic: "t", PartitionMode: "column", PartitionColumns: api.StringList{"tenant"}})
	before := &change.Table{Schema: "s", Name: "x", Columns: []change.Column{{Name: "id", Type: change.TypeInt}}, PK: []int{0}}
	after := &change.Table{Schema: "s", Name: "x", Columns: []change.Column{{Name: "id", Type: change.TypeInt}, {Name: "tenant", Type: change.TypeString}}, PK: []int{0}}
	tests := []struct {
		tbl  *change.Table
		row  change.Row
		want uint32
	}{
		{before, change.Row{int64(1)}, Hash([]byte("s.x"))},
		{after, change.Row{int64(1), "acme"}, Hash([]byte(`"acme"`))},
		{after, change.Row{int64(2), "acme"}, Hash([]byte(`"acme"`))},
		{after, change.Row{int64(1), nil}, Hash([]byte(`null`))},
		{before, change.Row{int64(3)}, Hash([]byte("s.x"))},
	}
	for i, tt := range tests {
		ev := &change.Event{Kind: change.Insert, Table: tt.tbl, After: tt.row}
		if _, h := r.Route(ev, nil); h != tt.want {
			t.Errorf("event %d: hash %#x, want %#x", i, h, tt.want)
		}
	}
}
