//go:build bench

package bench

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dtsrepl/dts/internal/testenv"
)

// shape is a backlog of one row shape in the binlog: a table of database bench, the GTID
// position before its first row change, and how many row changes follow there.
type shape struct {
	table       string
	rows        int
	start       string
	binlogBytes int64
	desc        string
}

func (s shape) bytesPerRow() float64 { return float64(s.binlogBytes) / float64(s.rows) }

// ordersPlan splits a backlog of n row changes to bench.orders like the one the project's
// figures have always used: 70% inserted 1,000 rows per transaction, 20% updated 1,000 rows
// per transaction, 10% inserted one row per transaction by eight writers.
type ordersPlan struct{ bulk, update, single int }

func planOrders(n int) ordersPlan {
	p := ordersPlan{bulk: n * 7 / 10 / 1000 * 1000, update: n * 2 / 10 / 1000 * 1000}
	p.single = n - p.bulk - p.update
	return p
}

func (p ordersPlan) total() int { return p.bulk + p.update + p.single }

// buildOrders writes the orders backlog: six narrow columns, about 185 bytes of binlog per row.
func buildOrders(t *testing.T, db *testenv.MariaDB, plan ordersPlan) shape {
	t.Helper()
	start := gtidPos(t, db) // before the DDL: the readers see the table being created
	db.Exec(t, "CREATE DATABASE bench",
		`CREATE TABLE bench.orders (id BIGINT PRIMARY KEY, user_id INT NOT NULL, status TINYINT NOT NULL,
			amount DECIMAL(12,2) NOT NULL, note VARCHAR(120) NOT NULL, created DATETIME(6) NOT NULL)`)
	s := shape{table: "orders", rows: plan.total(), start: start,
		desc: fmt.Sprintf("%s bulk inserts and %s bulk updates (1,000 rows per transaction), %s single-row inserts",
			groupDigits(plan.bulk), groupDigits(plan.update), groupDigits(plan.single))}
	size0 := binlogSize(t, db)
	t0 := time.Now()
	c := db.Conn(t)
	for i := 0; i < plan.bulk; i += 1000 {
		q := fmt.Sprintf(`INSERT INTO bench.orders SELECT seq, seq %% 10007, seq %% 5, seq / 100, REPEAT(CHAR(97 + seq %% 26), 100), '2024-01-01 00:00:00'
			FROM bench.seq_%d_to_%d`, i+1, i+1000)
		if _, err := c.Execute(q); err != nil {
			t.Fatalf("bulk insert: %v", err)
		}
	}
	for i := 0; i < plan.update; i += 1000 {
		q := fmt.Sprintf("UPDATE bench.orders SET status = status + 1, amount = amount + 1 WHERE id BETWEEN %d AND %d", i+1, i+1000)
		if _, err := c.Execute(q); err != nil {
			t.Fatalf("bulk update: %v", err)
		}
	}
	var wg sync.WaitGroup
	const writers = 8
	errs := make(chan error, writers)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := db.Conn(t)
			for i := w; i < plan.single; i += writers {
				id := plan.bulk + 1 + i
				q := fmt.Sprintf("INSERT INTO bench.orders VALUES (%d, %d, 1, 12.50, '%s', '2024-01-01 00:00:00')", id, id%10007, strings.Repeat("s", 100))
				if _, err := c.Execute(q); err != nil {
					errs <- fmt.Errorf("single-row insert: %w", err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	s.binlogBytes = binlogSize(t, db) - size0
	t.Logf("orders backlog built in %s: %d row changes, %.0f MiB of binlog (%.0f B per row)", time.Since(t0).Round(time.Second), s.rows,
		float64(s.binlogBytes)/(1<<20), s.bytesPerRow())
	return s
}

// wideTxnRows is how many rows each transaction of the wide backlog inserts.
const wideTxnRows = 500

// buildWide writes a backlog of n inserts (rounded down to whole transactions) to bench.wide,
// a table of about 1.2 KB of binlog per row: numbers, a title, a 900-byte text body and a
// 220-byte JSON document, the shape other CDC tools publish figures for. The text is hex of
// distinct hashes, so that compression in the producer sees realistic, not repeated, bytes.
func buildWide(t *testing.T, db *testenv.MariaDB, n int) shape {
	t.Helper()
	n = max(n/wideTxnRows, 1) * wideTxnRows
	start := gtidPos(t, db)
	db.Exec(t, `CREATE TABLE bench.wide (id BIGINT PRIMARY KEY, account_id INT NOT NULL, status TINYINT NOT NULL,
		amount DECIMAL(12,2) NOT NULL, title VARCHAR(200) NOT NULL, body TEXT NOT NULL, attrs JSON NOT NULL,
		created DATETIME(6) NOT NULL, updated TIMESTAMP(6) NOT NULL)`)
	s := shape{table: "wide", rows: n, start: start,
		desc: fmt.Sprintf("%s inserts, %d rows per transaction: 9 columns with a TEXT of 900 B and a JSON of 220 B", groupDigits(n), wideTxnRows)}
	size0 := binlogSize(t, db)
	t0 := time.Now()
	c := db.Conn(t)
	for i := 0; i < n; i += wideTxnRows {
		q := fmt.Sprintf(`INSERT INTO bench.wide SELECT seq, seq %% 100003, seq %% 5, seq / 100,
			CONCAT('item ', seq, ' ', MD5(seq)),
			CONCAT_WS(' ', SHA2(CONCAT('a', seq), 512), SHA2(CONCAT('b', seq), 512), SHA2(CONCAT('c', seq), 512), SHA2(CONCAT('d', seq), 512),
				SHA2(CONCAT('e', seq), 512), SHA2(CONCAT('f', seq), 512), SHA2(CONCAT('h', seq), 512)),
			JSON_OBJECT('sku', MD5(CONCAT('s', seq)), 'qty', seq %% 7, 'price', seq / 100, 'tags', JSON_ARRAY('red', 'large', seq %% 13),
				'vendor', JSON_OBJECT('id', seq %% 997, 'name', CONCAT('vendor-', seq %% 997)), 'digest', SHA2(CONCAT('g', seq), 256)),
			NOW(6), NOW(6)
			FROM bench.seq_%d_to_%d`, i+1, i+wideTxnRows)
		if _, err := c.Execute(q); err != nil {
			t.Fatalf("wide insert: %v", err)
		}
	}
	s.binlogBytes = binlogSize(t, db) - size0
	t.Logf("wide backlog built in %s: %d rows, %.0f MiB of binlog (%.0f B per row)", time.Since(t0).Round(time.Second), s.rows,
		float64(s.binlogBytes)/(1<<20), s.bytesPerRow())
	return s
}

func gtidPos(t *testing.T, db *testenv.MariaDB) string {
	t.Helper()
	r := db.Query(t, "SELECT @@gtid_binlog_pos")
	s, err := r.GetString(0, 0)
	if err != nil {
		t.Fatalf("gtid_binlog_pos: %v", err)
	}
	return s
}

// binlogSize is the size of all binary logs together.
func binlogSize(t *testing.T, db *testenv.MariaDB) int64 {
	t.Helper()
	var n int64
	r := db.Query(t, "SHOW BINARY LOGS")
	for i := range r.RowNumber() {
		size, err := r.GetInt(i, 1)
		if err != nil {
			t.Fatalf("binary log size: %v", err)
		}
		n += size
	}
	return n
}
