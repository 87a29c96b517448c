package worker

import (
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/go-mysql-org/go-mysql/client"
	"github.com/go-mysql-org/go-mysql/mysql"

	"github.com/dtsrepl/dts/api"
	"github.com/dtsrepl/dts/worker/binlog"
	"github.com/dtsrepl/dts/worker/filter"
	"github.com/dtsrepl/dts/worker/schema"
	"github.com/dtsrepl/dts/worker/snapshot"
)

// startPoint decides where an attempt starts: the saved checkpoint (with an unfinished copy,
// the copy resumes), a new copy (incr=false: its tables and the position taken before it), or
// the source's current position (incr=true).
func startPoint(conn *client.Conn, server *binlog.Server, prev *api.Status, spec *api.TaskSpec, scope *filter.Scope, log *slog.Logger) (Checkpoint, error) {
	var (
		c   Checkpoint
		err error
	)
	dbs := filter.Databases(spec.Filters)
	resumed := false
	switch {
	case prev != nil && prev.Snapshot != nil && !prev.Snapshot.Done:
		// The copy's checkpoint is its progress; Pos of the status may be empty.
		c, err = resumeFrom(&api.Status{Pos: prev.Snapshot.Pos, RowsSent: prev.RowsSent, Snapshot: prev.Snapshot, JSONColumns: prev.JSONColumns}, server.Flavor)
		resumed = true
	case prev != nil && prev.Pos != "":
		c, err = resumeFrom(prev, server.Flavor)
		resumed = true
	case !spec.IsIncr():
		if c.Pos, c.JSONColumns, err = currentPos(conn, server, dbs, log); err != nil {
			return c, err
		}
		tables, estimate, perr := snapshot.Plan(conn, dbs, scope.Table)
		if perr != nil {
			return c, perr
		}
		c.Copy = &api.SnapshotProgress{Pos: c.Pos.String(), Tables: tables, RowsEstimated: estimate, Started: time.Now()}
		log.Info("initial copy planned", "tables", len(tables), "rows_estimated", estimate, "stream_from", c.Pos.String())
	default:
		c.Pos, c.JSONColumns, err = currentPos(conn, server, dbs, log)
	}
	if missing := c.JSONColumns.Missing(dbs); resumed && err == nil && server.Flavor == mysql.MariaDBFlavor && len(missing) > 0 {
		log.Warn("the checkpoint holds no JSON column history of some databases (saved by an older dts, too large to save, or databases added to the filters): their JSON columns are read from today's definitions, so rows of the backlog written before a column changed to or from JSON may be typed by the new definition",
			"databases", missing)
	}
	if prev != nil && c.Sent == 0 {
		c.Sent = prev.RowsSent
	}
	if err != nil {
		return c, err
	}
	if c.Pos.GTID != nil && c.Pos.Flavor != server.Flavor {
		return c, permanent(fmt.Errorf("the saved position %s is for %s but the source is %s: a task cannot move between server flavors; submit a new task", c.Pos, c.Pos.Flavor, server.Flavor))
	}
	if c.Pos.GTID != nil && !server.GTID {
		return c, permanent(fmt.Errorf("the saved position %s is a GTID set but the source has gtid_mode OFF now: the task cannot resume there by file and offset without guessing; turn gtid_mode back ON, or submit a new task", c.Pos))
	}
	return c, nil
}

// currentPos is the source's current position and, on MariaDB, the JSON columns of the databases
// dbs there: the one bootstrap from today's definitions (see binlog.JSONColumns); from the
// position on, the binlog's DDL keeps them. The definitions are read before and after the
// position until they agree, so a schema change made meanwhile is not taken for the
// position's.
func currentPos(conn *client.Conn, server *binlog.Server, dbs []string, log *slog.Logger) (binlog.Pos, *binlog.JSONColumns, error) {
	if server.Flavor != mysql.MariaDBFlavor {
		pos, err := binlog.CurrentPos(conn, server)
		return pos, nil, err
	}
	before, err := binlog.ReadJSONColumns(conn, dbs)
	if err != nil {
		return binlog.Pos{}, nil, err
	}
	for try := 1; ; try++ {
		pos, err := binlog.CurrentPos(conn, server)
		if err != nil {
			return pos, nil, err
		}
		after, err := binlog.ReadJSONColumns(conn, dbs)
		if err != nil {
			return pos, nil, err
		}
		if after.Equal(before) {
			return pos, after, nil
		}
		if try == 3 {
			log.Warn("JSON columns kept changing while the start position was taken: the last reading is taken for the position's", "pos", pos.String())
			return pos, after, nil
		}
		before = after
	}
}

// unmatched reads the tables of the filters' databases and returns a warning naming the
// filters that select none of them yet ("" if every filter selects a table): a typo in a match
// would otherwise stream nothing in silence.
func unmatched(conn *client.Conn, filters []api.Filter, rows *filter.Set) (string, error) {
	all, err := schema.Tables(conn, filter.Databases(filters))
	if err != nil {
		return "", err
	}
	tables := make([]api.TableRef, len(all))
	for i, t := range all {
		tables[i] = api.TableRef{DB: t.DB, Table: t.Name}
	}
	var parts []string
	for _, i := range rows.Unmatched(tables) {
		f := filters[i]
		parts = append(parts, fmt.Sprintf("task.filters[%d] (dbname %q, match %q)", i, f.DBName, f.Match))
	}
	if len(parts) == 0 {
		return "", nil
	}
	return "warning: " + strings.Join(parts, ", ") + " selects no table of the source yet; tables created later that match are streamed", nil
}
