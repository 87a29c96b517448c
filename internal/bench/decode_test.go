//go:build bench

package bench

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/go-mysql-org/go-mysql/mysql"
	"github.com/go-mysql-org/go-mysql/replication"

	"github.com/dtsrepl/dts/internal/testenv"
)

// newSyncer is a go-mysql binlog reader of db with the settings the worker uses, its own
// server id, and no logging.
func newSyncer(db *testenv.MariaDB, serverID uint32) *replication.BinlogSyncer {
	return replication.NewBinlogSyncer(replication.BinlogSyncerConfig{ServerID: serverID, Flavor: mysql.MariaDBFlavor, Host: db.Host, Port: uint16(db.Port),
		User: db.User, Password: db.Password, TimestampStringLocation: time.UTC, Logger: slog.New(slog.DiscardHandler)})
}

// startStream starts reading db's binlog at the MariaDB GTID position pos.
func startStream(t *testing.T, s *replication.BinlogSyncer, pos string) *replication.BinlogStreamer {
	t.Helper()
	set, err := mysql.ParseMariadbGTIDSet(pos)
	if err != nil {
		t.Fatalf("backlog start %q: %v", pos, err)
	}
	st, err := s.StartSyncGTID(set)
	if err != nil {
		t.Fatalf("start binlog stream: %v", err)
	}
	return st
}

// rowChanges is how many row changes a rows event of table holds (an update is one change of
// two row images), 0 for any other event.
func rowChanges(ev *replication.BinlogEvent, table string) int {
	re, ok := ev.Event.(*replication.RowsEvent)
	if !ok || string(re.Table.Schema) != "bench" || string(re.Table.Table) != table {
		return 0
	}
	if re.Type() == replication.EnumRowsEventTypeUpdate {
		return len(re.Rows) / 2
	}
	return len(re.Rows)
}

// decodeOnly is the ceiling: go-mysql reading and decoding the backlog, nothing else. It runs
// in the test process, whose CPU time over the phase is the decode's.
func decodeOnly(t *testing.T, db *testenv.MariaDB, s shape, serverID uint32, servers ...int) figures {
	t.Helper()
	syncer := newSyncer(db, serverID)
	defer syncer.Close()
	m := startSelf(t, servers...)
	st := startStream(t, syncer, s.start)
	rows := 0
	for rows < s.rows {
		ev, err := st.GetEvent(context.Background())
		if err != nil {
			t.Fatalf("decode-only: %v", err)
		}
		rows += rowChanges(ev, s.table)
	}
	f := figures{phase: "go-mysql decode only", shape: s.table, rows: rows}
	m.stop(t, &f)
	return f
}
