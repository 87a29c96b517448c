package testenv_test

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-mysql-org/go-mysql/mysql"
	"github.com/go-mysql-org/go-mysql/replication"

	"github.com/dtsrepl/dts/internal/testenv"
)

// rowChange is one rows event as a binlog client sees it.
type rowChange struct {
	gtid  string // uuid:gno of the transaction
	typ   replication.EventType
	table string
	cols  []string
	rows  string
}

// readEvents streams the binlog from gset through go-mysql and returns its events up to and
// including the first one that stop accepts.
func readEvents(t *testing.T, s testenv.MySQLServer, gset mysql.GTIDSet, stop func(*replication.BinlogEvent) bool) []*replication.BinlogEvent {
	t.Helper()
	e := s.Endpoint()
	syncer := replication.NewBinlogSyncer(replication.BinlogSyncerConfig{
		ServerID: 4242, Flavor: s.Flavor(), Host: e.Host, Port: uint16(e.Port),
		User: e.User, Password: e.Password, Charset: "utf8mb4",
	})
	defer syncer.Close()
	streamer, err := syncer.StartSyncGTID(gset)
	if err != nil {
		t.Fatalf("start binlog sync from %q: %v", gset, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var out []*replication.BinlogEvent
	for {
		ev, err := streamer.GetEvent(ctx)
		if err != nil {
			t.Fatalf("binlog after %d events: %v", len(out), err)
		}
		out = append(out, ev)
		if stop(ev) {
			return out
		}
	}
}

// readChanges streams the binlog from gset and returns the row changes of db up to and including
// the first one that stop accepts.
func readChanges(t *testing.T, s testenv.MySQLServer, gset mysql.GTIDSet, db string, stop func(rowChange) bool) []rowChange {
	t.Helper()
	var (
		gtid string
		out  []rowChange
	)
	readEvents(t, s, gset, func(ev *replication.BinlogEvent) bool {
		switch e := ev.Event.(type) {
		case *replication.GTIDEvent:
			next, err := e.GTIDNext()
			if err != nil {
				t.Fatalf("GTID event: %v", err)
			}
			gtid = next.String()
		case *replication.RowsEvent:
			if string(e.Table.Schema) != db {
				return false
			}
			c := rowChange{gtid: gtid, typ: ev.Header.EventType, table: string(e.Table.Table), cols: e.Table.ColumnNameString(), rows: fmt.Sprint(e.Rows)}
			out = append(out, c)
			return stop(c)
		}
		return false
	})
	return out
}

var doltGTIDSet = regexp.MustCompile(`^([0-9a-f-]{36}):1-(\d+)$`)

// gtidExecuted checks that the server's executed GTIDs are one interval uuid:1-N of the server's
// own uuid and returns the uuid and N.
func gtidExecuted(t *testing.T, d *testenv.Dolt) (string, int) {
	t.Helper()
	set := d.GTIDSet(t).String()
	m := doltGTIDSet.FindStringSubmatch(set)
	if m == nil {
		t.Fatalf("@@GLOBAL.gtid_executed = %q, want uuid:1-N", set)
	}
	r := d.Query(t, "SELECT @@server_uuid")
	serverUUID, _ := r.GetString(0, 0)
	if m[1] != serverUUID {
		t.Fatalf("@@GLOBAL.gtid_executed = %q, not of @@server_uuid %s", set, serverUUID)
	}
	n, _ := strconv.Atoi(m[2])
	return m[1], n
}

// TestDoltBinlog writes, changes and deletes rows on a Dolt primary and reads them back from its
// binlog with go-mysql's MySQL flavor, column names taken from the table map's row metadata.
func TestDoltBinlog(t *testing.T) {
	t.Parallel()
	d := testenv.StartDolt(t, testenv.WithDoltServerID(7))
	r := d.Query(t, "SELECT @@server_id, @@log_bin, @@gtid_mode, @@binlog_row_metadata")
	if got := rowString(t, r); got != "[7 1 ON FULL]" {
		t.Fatalf("server_id, log_bin, gtid_mode, binlog_row_metadata = %s, want [7 1 ON FULL]", got)
	}
	start := d.GTIDSet(t)
	d.Exec(t,
		"CREATE DATABASE shop",
		"CREATE TABLE shop.orders (id INT PRIMARY KEY, qty INT, note VARCHAR(20))",
		"INSERT INTO shop.orders VALUES (1, 1, 'héllo'), (2, 2, 'b')",
		"UPDATE shop.orders SET qty = 3 WHERE id = 1",
		"DELETE FROM shop.orders WHERE id = 2",
	)
	serverUUID, n := gtidExecuted(t, d)
	if n < 3 {
		t.Fatalf("gtid_executed has %d transactions after three row changes", n)
	}

	changes := readChanges(t, d, start, "shop", func(c rowChange) bool { return c.typ == replication.DELETE_ROWS_EVENTv2 })
	want := []rowChange{
		{typ: replication.WRITE_ROWS_EVENTv2, rows: "[[1 1 héllo] [2 2 b]]"},
		{typ: replication.UPDATE_ROWS_EVENTv2, rows: "[[1 1 héllo] [1 3 héllo]]"},
		{typ: replication.DELETE_ROWS_EVENTv2, rows: "[[2 2 b]]"},
	}
	if len(changes) != len(want) {
		t.Fatalf("row changes = %+v, want %d", changes, len(want))
	}
	for i, c := range changes {
		if c.typ != want[i].typ || c.table != "orders" || fmt.Sprint(c.cols) != "[id qty note]" || c.rows != want[i].rows {
			t.Errorf("change %d = %+v, want %v on orders [id qty note] %s", i, c, want[i].typ, want[i].rows)
		}
	}
	// Every write is its own transaction, so the DELETE is the last GTID the server executed.
	if last := changes[len(changes)-1].gtid; last != fmt.Sprintf("%s:%d", serverUUID, n) {
		t.Errorf("DELETE's GTID = %s, want the last executed %s:%d", last, serverUUID, n)
	}
}

// TestDoltRestart stops and restarts the server after a binlog client has come and gone (which
// makes Dolt's clean shutdown wait, so Stop kills it): the data, the port, the GTID history and
// the binlog stay.
func TestDoltRestart(t *testing.T) {
	t.Parallel()
	d := testenv.StartDolt(t)
	d.Exec(t,
		"CREATE DATABASE shop",
		"CREATE TABLE shop.orders (id INT PRIMARY KEY, note VARCHAR(20))",
		"INSERT INTO shop.orders VALUES (1, 'before')",
	)
	serverUUID, n := gtidExecuted(t, d)
	emptySet, err := mysql.ParseGTIDSet(mysql.MySQLFlavor, "")
	if err != nil {
		t.Fatal(err)
	}
	readChanges(t, d, emptySet, "shop", func(rowChange) bool { return true })
	port := d.Port

	d.Stop()
	d.Restart(t)
	if d.Port != port {
		t.Fatalf("port %d after restart, was %d", d.Port, port)
	}
	if got := rowString(t, d.Query(t, "SELECT id, note FROM shop.orders")); got != "[1 before]" {
		t.Fatalf("rows after restart = %s", got)
	}
	if u, m := gtidExecuted(t, d); u != serverUUID || m != n {
		t.Fatalf("gtid_executed after restart = %s:1-%d, was %s:1-%d", u, m, serverUUID, n)
	}
	d.Exec(t, "INSERT INTO shop.orders VALUES (2, 'after')")
	if _, m := gtidExecuted(t, d); m != n+1 {
		t.Fatalf("gtid_executed after one more insert = 1-%d, want 1-%d", m, n+1)
	}

	// The binlog holds both rows, the second in the file Dolt started at the restart.
	var rotates, formats int
	var changes []string
	readEvents(t, d, emptySet, func(ev *replication.BinlogEvent) bool {
		switch e := ev.Event.(type) {
		case *replication.RotateEvent:
			rotates++
		case *replication.FormatDescriptionEvent:
			formats++
		case *replication.RowsEvent:
			changes = append(changes, fmt.Sprint(e.Rows))
		}
		return len(changes) == 2
	})
	if fmt.Sprint(changes) != "[[[1 before]] [[2 after]]]" {
		t.Fatalf("binlog rows across the restart = %v", changes)
	}
	// Deviation (see testenv.Dolt): MySQL sends a Rotate event before the next file's
	// FormatDescription; Dolt sends only the first, artificial one.
	if formats != 2 || rotates != 1 {
		t.Errorf("across two binlog files: %d Rotate and %d FormatDescription events, want Dolt's 1 and 2", rotates, formats)
	}
}

// TestDoltDeviations pins the differences from MySQL 8 that testenv.Dolt's doc lists and that
// show without waiting or restarting. If one fails after Dolt's pin has moved, Dolt changed:
// update the list, and whatever in dts works around the difference.
func TestDoltDeviations(t *testing.T) {
	t.Parallel()
	d := testenv.StartDolt(t)
	d.Exec(t,
		"CREATE DATABASE shop",
		"CREATE TABLE shop.nums (id INT UNSIGNED PRIMARY KEY, big BIGINT UNSIGNED, j JSON)",
		`INSERT INTO shop.nums VALUES (4294967295, 18446744073709551615, '{"n":9007199254740993}')`,
	)
	current := d.GTIDSet(t)
	file, err := d.Query(t, "SHOW MASTER STATUS").GetStringByName(0, "File")
	if err != nil {
		t.Fatal(err)
	}

	t.Run("stream", func(t *testing.T) {
		evs := readEvents(t, d, current, func(ev *replication.BinlogEvent) bool {
			_, ok := ev.Event.(*replication.XIDEvent)
			return ok
		})
		rotate, ok := evs[0].Event.(*replication.RotateEvent)
		if !ok {
			t.Fatalf("first event %v, want Rotate", evs[0].Header.EventType)
		}
		if name := string(rotate.NextLogName); len(name) != len(file)+4 || !strings.HasPrefix(name, file) {
			t.Errorf("first Rotate names %q, want %q and 4 checksum bytes", name, file)
		}
		firstGTID := true
		for _, ev := range evs {
			switch e := ev.Event.(type) {
			case *replication.GTIDEvent:
				if firstGTID && e.GNO != 1 {
					t.Errorf("dump from %s began at GNO %d, want Dolt's replay from 1", current, e.GNO)
				}
				firstGTID = false
			case *replication.TableMapEvent:
				if len(e.UnsignedMap()) != 0 || len(e.PrimaryKey) != 0 {
					t.Errorf("table map has signedness %v and primary key %v, want neither", e.UnsignedMap(), e.PrimaryKey)
				}
			case *replication.RowsEvent:
				if got := fmt.Sprint(e.Rows[0][:2]); got != "[-1 -1]" {
					t.Errorf("unsigned maxima decode as %s, want [-1 -1] for lack of signedness", got)
				}
			case *replication.XIDEvent:
				if e.XID != 0 {
					t.Errorf("XID %d, want Dolt's 0", e.XID)
				}
			}
		}
	})

	t.Run("dump by file and position", func(t *testing.T) {
		e := d.Endpoint()
		syncer := replication.NewBinlogSyncer(replication.BinlogSyncerConfig{
			ServerID: 4243, Flavor: mysql.MySQLFlavor, Host: e.Host, Port: uint16(e.Port), User: e.User, Password: e.Password,
		})
		defer syncer.Close()
		streamer, err := syncer.StartSync(mysql.Position{Name: file, Pos: 4})
		if err == nil {
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			_, err = streamer.GetEvent(ctx)
		}
		wantCode(t, err, mysql.ER_UNKNOWN_COM_ERROR)
	})

	t.Run("JSON numbers are doubles", func(t *testing.T) {
		if got := rowString(t, d.Query(t, "SELECT j FROM shop.nums")); got != `[{"n":9007199254740992}]` {
			t.Errorf("JSON 9007199254740993 reads back as %s", got)
		}
	})

	t.Run("TIME(n) is refused", func(t *testing.T) {
		_, err := d.Conn(t).Execute("CREATE TABLE shop.times (t TIME(3))")
		wantCode(t, err, mysql.ER_UNKNOWN_ERROR)
	})

	t.Run("CHECK_CONSTRAINTS without TABLE_NAME", func(t *testing.T) {
		// The query the worker's schema reader sends for MariaDB's JSON checks.
		_, err := d.Conn(t).Execute("SELECT CHECK_CLAUSE FROM information_schema.CHECK_CONSTRAINTS WHERE CONSTRAINT_SCHEMA = ? AND TABLE_NAME = ?", "shop", "nums")
		wantCode(t, err, mysql.ER_UNKNOWN_ERROR) // MySQL 8: ER_BAD_FIELD_ERROR
	})

	t.Run("session gtid_executed", func(t *testing.T) {
		c := d.Conn(t)
		read := func() (session, global string) {
			r, err := c.Execute("SELECT @@gtid_executed, @@GLOBAL.gtid_executed")
			if err != nil {
				t.Fatal(err)
			}
			session, _ = r.GetString(0, 0)
			global, _ = r.GetString(0, 1)
			return session, global
		}
		s1, g1 := read()
		d.Exec(t, "INSERT INTO shop.nums VALUES (1, 1, NULL)")
		s2, g2 := read()
		if g2 == g1 {
			t.Fatalf("@@GLOBAL.gtid_executed stayed %s after a commit", g1)
		}
		if s2 != s1 {
			t.Errorf("session @@gtid_executed followed another session's commit (%s -> %s): Dolt now keeps it current", s1, s2)
		}
	})
}

// wantCode checks that err is a server error with the given code.
func wantCode(t *testing.T, err error, code uint16) {
	t.Helper()
	var me *mysql.MyError
	if !errors.As(err, &me) || me.Code != code {
		t.Errorf("error %v, want server error %d", err, code)
	}
}

// TestMySQLServers runs one body against both servers through testenv.MySQLServer, reading the
// binlog as an account with only the privileges dts documents for a source.
func TestMySQLServers(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		start func(testing.TB) testenv.MySQLServer
	}{
		{"mariadb", func(t testing.TB) testenv.MySQLServer { return testenv.StartMariaDB(t) }},
		{"dolt", func(t testing.TB) testenv.MySQLServer { return testenv.StartDolt(t) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := tc.start(t)
			before := s.GTIDSet(t)
			s.Exec(t, "CREATE DATABASE shop", "CREATE TABLE shop.orders (id BIGINT PRIMARY KEY, note VARCHAR(20))")
			if _, err := s.Conn(t).Execute("INSERT INTO shop.orders VALUES (?, ?)", 1, "x"); err != nil {
				t.Fatal(err)
			}
			after := s.GTIDSet(t)
			if after.Equal(before) || !after.Contain(before) {
				t.Fatalf("GTID set %s after writes, was %s", after, before)
			}
			s.CreateReplicationUser(t, "repl", "repl-password")
			changes := readChanges(t, as{s, "repl", "repl-password"}, before, "shop", func(rowChange) bool { return true })
			if c := changes[0]; c.table != "orders" || fmt.Sprint(c.cols) != "[id note]" || c.rows != "[[1 x]]" {
				t.Fatalf("first change = %+v", c)
			}
		})
	}
}

// as is a server seen through another account.
type as struct {
	testenv.MySQLServer
	user, password string
}

func (a as) Endpoint() testenv.Endpoint {
	e := a.MySQLServer.Endpoint()
	e.User, e.Password = a.user, a.password
	return e
}

// rowString is the first row of a result, formatted with fmt.
func rowString(t *testing.T, r *mysql.Result) string {
	t.Helper()
	if r.RowNumber() == 0 {
		t.Fatal("no rows")
	}
	row := make([]any, r.ColumnNumber())
	for i := range row {
		v, err := r.GetValue(0, i)
		if err != nil {
			t.Fatal(err)
		}
		if b, ok := v.([]byte); ok {
			v = string(b)
		}
		row[i] = v
	}
	return fmt.Sprint(row)
}
