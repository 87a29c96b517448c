package precheck

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/dtsrepl/dts/api"
	"github.com/dtsrepl/dts/worker/change"
	"github.com/dtsrepl/dts/worker/filter"
	"github.com/dtsrepl/dts/worker/render"
	"github.com/dtsrepl/dts/worker/route"
	"github.com/dtsrepl/dts/worker/schema"
	"github.com/dtsrepl/dts/worker/snapshot"
)

// maxTables bounds the tables a precheck describes one by one; a task matching more is
// checked on the first ones and says so.
const maxTables = 500

// tableInfo is one matched table as the precheck read it.
type tableInfo struct {
	ref   api.TableRef
	desc  *snapshot.Table
	check api.TableCheck
	// widestCol is the column that makes the widest message widest.
	widestCol string
}

// readTables finds the tables the filters match today and describes them.
func (r *run) readTables(ctx context.Context) {
	dbs := filter.Databases(r.spec.Filters)
	all, err := schema.Tables(r.conn, dbs)
	if err != nil {
		r.add("tables.matched", api.CheckWarn, "the filters match tables", fmt.Sprintf("the tables could not be listed: %v", err), "check the account may read information_schema")
		return
	}
	refs := make([]api.TableRef, len(all))
	var matched []schema.TableInfo
	for i, t := range all {
		refs[i] = api.TableRef{DB: t.DB, Table: t.Name}
		if r.set.Table(t.DB, t.Name) {
			matched = append(matched, t)
		}
	}
	for _, i := range r.set.Unmatched(refs) {
		f := r.spec.Filters[i]
		r.add("tables.filter_matches", api.CheckWarn, fmt.Sprintf("filters[%d] matches a table", i),
			fmt.Sprintf("filters[%d] (dbname %q, match %q) matches no table the account can see today; tables created later that match are streamed", i, f.DBName, f.Match),
			"check dbname and match (a regex between slashes must match the whole table name), and that the account may SELECT the tables")
	}
	if len(matched) == 0 {
		r.add("tables.matched", api.CheckWarn, "the filters match tables", "no table of "+strings.Join(dbs, ", ")+" is matched today: the task would send nothing until one is created", "check the filters")
		return
	}
	names := make([]string, len(matched))
	for i, t := range matched {
		names[i] = t.DB + "." + t.Name
	}
	r.add("tables.matched", api.CheckPass, "the filters match tables", fmt.Sprintf("%s matched: %s", plural(len(matched), "table"), list(names, 20)), "")
	if len(matched) > maxTables {
		r.add("tables.count", api.CheckWarn, "every matched table is checked", fmt.Sprintf("only the first %d of %d matched tables were checked one by one", maxTables, len(matched)), "")
		matched = matched[:maxTables]
	}
	widths, err := r.columnWidths(ctx, dbs)
	if err != nil {
		widths = nil // the widths are a warning's matter: go on without them
	}
	router := route.New(r.spec.Kafka)
	for _, t := range matched {
		if ctx.Err() != nil {
			return
		}
		desc, err := snapshot.Open(r.conn, t.DB, t.Name)
		if err != nil {
			if !errors.Is(err, schema.ErrNoTable) {
				r.add("tables.describe", api.CheckWarn, "the matched tables can be described", fmt.Sprintf("%s.%s: %v", t.DB, t.Name, err), "")
			}
			continue
		}
		ti := &tableInfo{ref: api.TableRef{DB: t.DB, Table: t.Name}, desc: desc}
		ti.check = api.TableCheck{DB: t.DB, Table: t.Name, RowsEstimate: t.Rows, PrimaryKey: []string{}, Topic: router.Topic(t.DB, t.Name)}
		for _, i := range desc.Desc.PK {
			ti.check.PrimaryKey = append(ti.check.PrimaryKey, desc.Desc.Columns[i].Name)
		}
		ti.check.WidestMessageBytes, ti.widestCol = r.widestMessage(desc.Desc, widths[t.DB+"\x00"+t.Name])
		r.tables = append(r.tables, ti)
	}
}

// tableChecks checks each matched table: SELECT works, a primary key, no excluded key column,
// and the row filters bind to its columns.
func (r *run) tableChecks(ctx context.Context) {
	if len(r.tables) == 0 {
		return
	}
	var noSelect, noPK, excluded, filterErrs []string
	for _, t := range r.tables {
		if ctx.Err() != nil {
			return
		}
		name := t.ref.String()
		if _, err := r.query(ctx, "SELECT 1 FROM "+quote(t.ref.DB)+"."+quote(t.ref.Table)+" LIMIT 0"); err != nil {
			noSelect = append(noSelect, fmt.Sprintf("%s (%v)", name, err))
		}
		if len(t.desc.Desc.PK) == 0 {
			noPK = append(noPK, name)
		}
		ev := &change.Event{Kind: change.Snapshot, Table: t.desc.Change, After: make(change.Row, len(t.desc.Change.Columns)), Time: time.Now()}
		if _, err := r.rend.Keep(ev); err != nil {
			filterErrs = append(filterErrs, err.Error())
		}
		if err := r.rend.Render(ev, func(string, uint32, []byte, []byte) error { return nil }); errors.Is(err, render.ErrKeyExcluded) {
			excluded = append(excluded, err.Error())
		}
	}
	if len(noSelect) > 0 {
		r.add("source.select", api.CheckFail, "SELECT on every matched table", "the account cannot read "+list(noSelect, 10), "GRANT SELECT on the tables (or their database) to the account")
	} else {
		r.add("source.select", api.CheckPass, "SELECT on every matched table", fmt.Sprintf("%s readable", plural(len(r.tables), "table")), "")
	}
	if len(noPK) > 0 {
		r.add("tables.primary_key", api.CheckWarn, "every matched table has a primary key",
			list(noPK, 20)+" without a primary key: their messages have no key (no per-key order, no compaction), and an initial copy killed while it reads such a table copies it again from its first row",
			"add a primary key")
	} else {
		r.add("tables.primary_key", api.CheckPass, "every matched table has a primary key", "yes", "")
	}
	if len(excluded) > 0 {
		r.add("tables.key_excluded", api.CheckFail, "no excluded column is part of a primary key", strings.Join(excluded, "; "), "remove the key column from kafka.exclude_columns")
	} else if len(r.spec.Kafka.ExcludeColumns) > 0 {
		r.add("tables.key_excluded", api.CheckPass, "no excluded column is part of a primary key", "none is", "")
	}
	if len(filterErrs) > 0 {
		r.add("tables.filter_columns", api.CheckFail, "row filters name existing columns", strings.Join(filterErrs, "; "), "fix the row filter (filters[].filter) to name the tables' columns; the worker would fail on the first row")
	} else if hasRowFilter(r.spec.Filters) {
		r.add("tables.filter_columns", api.CheckPass, "row filters name existing columns", "every row filter binds to the columns of the tables it selects", "")
	}
}

func hasRowFilter(fs []api.Filter) bool {
	for _, f := range fs {
		if strings.TrimSpace(f.Filter) != "" {
			return true
		}
	}
	return false
}

func quote(name string) string { return "`" + strings.ReplaceAll(name, "`", "``") + "`" }

// columnWidth is what information_schema says of a column's size.
type columnWidth struct {
	name      string
	dataType  string
	octets    int64
	precision int64
	colType   string
}

// columnWidths reads the columns of the databases' tables, keyed by db NUL table.
func (r *run) columnWidths(ctx context.Context, dbs []string) (map[string][]columnWidth, error) {
	marks := strings.TrimSuffix(strings.Repeat("?,", len(dbs)), ",")
	args := make([]any, len(dbs))
	for i, d := range dbs {
		args[i] = d
	}
	res, err := r.query(ctx, `SELECT TABLE_SCHEMA, TABLE_NAME, COLUMN_NAME, DATA_TYPE, IFNULL(CHARACTER_OCTET_LENGTH, 0),
		IFNULL(NUMERIC_PRECISION, 0), COLUMN_TYPE FROM information_schema.COLUMNS WHERE TABLE_SCHEMA IN (`+marks+`)`, args...)
	if err != nil {
		return nil, err
	}
	out := map[string][]columnWidth{}
	for i := range res.RowNumber() {
		db, _ := res.GetString(i, 0)
		table, _ := res.GetString(i, 1)
		var c columnWidth
		c.name, _ = res.GetString(i, 2)
		c.dataType, _ = res.GetString(i, 3)
		c.dataType = strings.ToLower(c.dataType)
		o, _ := res.GetUint(i, 4)
		p, _ := res.GetUint(i, 5)
		c.octets, c.precision = int64(min(o, 1<<40)), int64(min(p, 1<<20))
		c.colType, _ = res.GetString(i, 6)
		out[db+"\x00"+table] = append(out[db+"\x00"+table], c)
	}
	return out, nil
}

// maxValue is the largest JSON a value of the column can be, before string escaping.
func (c columnWidth) maxValue() int64 {
	switch c.dataType {
	case "tinyint", "smallint", "mediumint", "int", "integer", "bigint", "bit":
		return 20
	case "decimal", "numeric":
		return c.precision + 4
	case "float", "double", "real":
		return 25
	case "year":
		return 4
	case "date":
		return 12
	case "datetime", "timestamp":
		return 28
	case "time":
		return 20
	case "enum", "set":
		return int64(len(c.colType)) + 2
	case "json":
		if c.octets == 0 {
			return 1 << 30 // MySQL's JSON: bounded by max_allowed_packet
		}
		return c.octets + 2
	case "binary", "varbinary", "tinyblob", "blob", "mediumblob", "longblob", "vector":
		return (c.octets+2)/3*4 + 2
	case "geometry", "point", "linestring", "polygon", "multipoint", "multilinestring", "multipolygon", "geometrycollection":
		return 1 << 32
	}
	if c.octets > 0 {
		return c.octets + 2
	}
	return 64
}

// widestMessage is the largest message a row of t can make, from the column sizes: an update
// with every column changed carries the row under data and again under old. It returns the
// column that adds the most.
func (r *run) widestMessage(t *schema.Table, cols []columnWidth) (int64, string) {
	if cols == nil {
		return 0, ""
	}
	excluded := map[string]bool{}
	for _, c := range r.spec.Kafka.ExcludeColumns {
		excluded[strings.ToLower(strings.TrimSpace(c))] = true
	}
	byName := map[string]columnWidth{}
	for _, c := range cols {
		byName[strings.ToLower(c.name)] = c
	}
	var row, widest int64
	widestCol := ""
	for _, c := range cols {
		if excluded[strings.ToLower(c.name)] {
			continue
		}
		w := int64(len(c.name)) + 4 + c.maxValue()
		row += w
		if w > widest {
			widest, widestCol = w, c.name
		}
	}
	names := int64(len(t.Schema) + len(t.Name))
	key := 40 + names
	for _, i := range t.PK {
		c := byName[strings.ToLower(t.Columns[i].Name)]
		key += int64(len(c.name)) + 4 + c.maxValue()
	}
	var value int64
	if r.spec.Kafka.FlatFormat {
		value = 120 + names + row
	} else {
		// database, table, type, ts, gtid, pos, xid, commit; then data and old.
		value = 220 + names + 2*row
	}
	return 97 + key + value, widestCol
}
