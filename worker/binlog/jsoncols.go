package binlog

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"

	"github.com/pingcap/tidb/pkg/parser/ast"
	tmysql "github.com/pingcap/tidb/pkg/parser/mysql"

	"github.com/dtsrepl/dts/api"
	"github.com/dtsrepl/dts/worker/schema"
)

// MariaDB's JSON type is LONGTEXT with a json_valid() check, and its binlog's table map says
// LONGTEXT: nothing in a row event tells a JSON column from a text column. The reader therefore
// keeps the JSON columns of the tables of the databases it follows as of its position, a history
// the binlog itself maintains: the DDL statements in it say when a column becomes JSON or stops
// being JSON. The only "today" is the bootstrap: a database the reader meets with no history (a
// new task, or a checkpoint saved without one) is read from information_schema once, the way
// Debezium takes its schema snapshot. The history is saved with every checkpoint, so a worker
// restarted in the middle of a backlog goes on with the definitions of its position.
//
// MySQL logs JSON as JSON in the table map: its JSON is exact without any of this.

// JSONColumns is the JSON column history as of one binlog position. It is a value: a statement
// that changes it makes a new one, so a checkpoint can hold it as it was.
type JSONColumns struct {
	// dbs are the databases covered: every table of them has an entry in tables or has no JSON
	// column.
	dbs    map[string]bool
	tables map[ddlTarget]jsonTable
	// saved is the form a status saves, nil when it is larger than api.MaxJSONColumnsBytes.
	saved    *api.JSONColumns
	tooLarge bool
}

// jsonTable is one table's JSON columns. Its slices are never written after it is made.
type jsonTable struct {
	// own are the columns JSON by their own definition: the JSON type, or a column-level
	// json_valid check. MariaDB keeps such a check with the column through a RENAME COLUMN and
	// replaces it with the new definition's on MODIFY and CHANGE.
	own []string
	// checks are table-level json_valid checks: they follow their column's renames and go with
	// it when it is dropped, or when dropped by name.
	checks []api.JSONCheck
}

func (t jsonTable) empty() bool { return len(t.own) == 0 && len(t.checks) == 0 }

// has reports whether column col is JSON.
func (t jsonTable) has(col string) bool {
	for _, c := range t.own {
		if strings.EqualFold(c, col) {
			return true
		}
	}
	for _, c := range t.checks {
		if strings.EqualFold(c.Column, col) {
			return true
		}
	}
	return false
}

func (t jsonTable) setOwn(col string, json bool) jsonTable {
	own := slices.DeleteFunc(slices.Clone(t.own), func(c string) bool { return strings.EqualFold(c, col) })
	if json {
		own = append(own, col)
	}
	return jsonTable{own: own, checks: t.checks}
}

func (t jsonTable) dropColumn(col string) jsonTable {
	t = t.setOwn(col, false)
	t.checks = slices.DeleteFunc(slices.Clone(t.checks), func(c api.JSONCheck) bool { return strings.EqualFold(c.Column, col) })
	return t
}

func (t jsonTable) renameColumn(from, to string) jsonTable {
	out := jsonTable{own: slices.Clone(t.own), checks: slices.Clone(t.checks)}
	for i, c := range out.own {
		if strings.EqualFold(c, from) {
			out.own[i] = to
		}
	}
	for i, c := range out.checks {
		if strings.EqualFold(c.Column, from) {
			out.checks[i].Column = to
		}
	}
	return out
}

func (t jsonTable) addCheck(name, col string) jsonTable {
	return jsonTable{own: t.own, checks: append(slices.Clone(t.checks), api.JSONCheck{Name: name, Column: col})}
}

// dropCheck drops the table-level check named name; found is false when the table has none of
// that name.
func (t jsonTable) dropCheck(name string) (out jsonTable, found bool) {
	checks := slices.DeleteFunc(slices.Clone(t.checks), func(c api.JSONCheck) bool { return c.Name != "" && strings.EqualFold(c.Name, name) })
	return jsonTable{own: t.own, checks: checks}, len(checks) != len(t.checks)
}

func (t jsonTable) hasUnnamedCheck() bool {
	return slices.ContainsFunc(t.checks, func(c api.JSONCheck) bool { return c.Name == "" })
}

// canonical sorts the table's columns and checks, so equal tables compare equal.
func (t jsonTable) canonical() jsonTable {
	own := slices.Clone(t.own)
	slices.SortFunc(own, func(a, b string) int { return strings.Compare(strings.ToLower(a), strings.ToLower(b)) })
	own = slices.CompactFunc(own, strings.EqualFold)
	checks := slices.Clone(t.checks)
	slices.SortFunc(checks, func(a, b api.JSONCheck) int {
		if c := strings.Compare(a.Name, b.Name); c != 0 {
			return c
		}
		return strings.Compare(a.Column, b.Column)
	})
	return jsonTable{own: own, checks: checks}
}

func (t jsonTable) equal(u jsonTable) bool {
	return slices.Equal(t.own, u.own) && slices.Equal(t.checks, u.checks)
}

// covers reports whether the history knows the tables of database db.
func (j *JSONColumns) covers(db string) bool { return j != nil && j.dbs[db] }

// of returns the JSON columns of table db.name.
func (j *JSONColumns) of(db, name string) jsonTable {
	if j == nil {
		return jsonTable{}
	}
	return j.tables[ddlTarget{db: db, table: name}]
}

// Missing returns the databases of dbs the history does not cover.
func (j *JSONColumns) Missing(dbs []string) []string {
	var out []string
	for _, db := range dbs {
		if !j.covers(db) {
			out = append(out, db)
		}
	}
	return out
}

// Saved is the history as a status saves it: nil without a history, or when it is larger than
// api.MaxJSONColumnsBytes.
func (j *JSONColumns) Saved() *api.JSONColumns {
	if j == nil {
		return nil
	}
	return j.saved
}

// TooLarge reports whether the history is too large to save.
func (j *JSONColumns) TooLarge() bool { return j != nil && j.tooLarge }

// Equal reports whether two histories say the same.
func (j *JSONColumns) Equal(k *JSONColumns) bool {
	if j == nil || k == nil {
		return j == k
	}
	return maps.Equal(j.dbs, k.dbs) && maps.EqualFunc(j.tables, k.tables, jsonTable.equal)
}

// seal computes the saved form. It groups the tables of a database with the same columns:
// sharded tables (orders_0 .. orders_1023) then take a name each.
func (j *JSONColumns) seal() *JSONColumns {
	out := &api.JSONColumns{Databases: slices.Sorted(maps.Keys(j.dbs))}
	if out.Databases == nil {
		out.Databases = []string{}
	}
	groups := map[string]int{}
	keys := slices.SortedFunc(maps.Keys(j.tables), func(a, b ddlTarget) int {
		if c := strings.Compare(a.db, b.db); c != 0 {
			return c
		}
		return strings.Compare(a.table, b.table)
	})
	for _, k := range keys {
		t := j.tables[k]
		var sig strings.Builder
		sig.WriteString(k.db)
		for _, c := range t.own {
			sig.WriteString("\x00" + c)
		}
		for _, c := range t.checks {
			sig.WriteString("\x01" + c.Name + "\x00" + c.Column)
		}
		if i, ok := groups[sig.String()]; ok {
			out.Tables[i].Tables = append(out.Tables[i].Tables, k.table)
			continue
		}
		groups[sig.String()] = len(out.Tables)
		out.Tables = append(out.Tables, api.JSONTables{DB: k.db, Tables: []string{k.table}, Columns: t.own, Checks: t.checks})
	}
	b, err := json.Marshal(out)
	j.saved, j.tooLarge = out, false
	if err != nil || len(b) > api.MaxJSONColumnsBytes {
		j.saved, j.tooLarge = nil, true
	}
	return j
}

// LoadJSONColumns returns the history a status saved; nil for none.
func LoadJSONColumns(s *api.JSONColumns) *JSONColumns {
	if s == nil {
		return nil
	}
	j := &JSONColumns{dbs: map[string]bool{}, tables: map[ddlTarget]jsonTable{}}
	for _, db := range s.Databases {
		j.dbs[db] = true
	}
	for _, g := range s.Tables {
		t := jsonTable{own: slices.Clone(g.Columns), checks: slices.Clone(g.Checks)}.canonical()
		if t.empty() {
			continue
		}
		for _, name := range g.Tables {
			j.tables[ddlTarget{db: g.DB, table: name}] = t
		}
	}
	return j.seal()
}

// NewJSONColumns returns an empty history, covering no database: the reader reads each database
// from the server when it first meets it.
func NewJSONColumns() *JSONColumns {
	return (&JSONColumns{dbs: map[string]bool{}, tables: map[ddlTarget]jsonTable{}}).seal()
}

// ReadJSONColumns reads the JSON columns of the databases dbs from the server's current
// definitions: the bootstrap of a history.
func ReadJSONColumns(q schema.Querier, dbs []string) (*JSONColumns, error) {
	checks, err := schema.JSONChecks(q, dbs, "")
	if err != nil {
		return nil, err
	}
	e := jsonEdit{base: NewJSONColumns()}
	for _, db := range dbs {
		e.cover(db, "", checks)
	}
	return e.done(), nil
}

// jsonEdit makes the next history from base, copying it at the first change.
type jsonEdit struct {
	base *JSONColumns
	next *JSONColumns
}

func (e *jsonEdit) cur() *JSONColumns {
	if e.next != nil {
		return e.next
	}
	return e.base
}

func (e *jsonEdit) write() *JSONColumns {
	if e.next == nil {
		e.next = &JSONColumns{dbs: maps.Clone(e.base.dbs), tables: maps.Clone(e.base.tables)}
	}
	return e.next
}

func (e *jsonEdit) get(t ddlTarget) jsonTable { return e.cur().of(t.db, t.table) }

func (e *jsonEdit) set(t ddlTarget, jt jsonTable) {
	jt = jt.canonical()
	if jt.equal(e.get(t)) {
		return
	}
	if jt.empty() {
		delete(e.write().tables, t)
		return
	}
	e.write().tables[t] = jt
}

// cover replaces what the history knows of table with the server's checks or, when table is
// empty, of every table of db, which it then covers.
func (e *jsonEdit) cover(db, table string, checks []schema.JSONCheck) {
	read := map[ddlTarget]jsonTable{}
	for _, c := range checks {
		if c.DB != db || table != "" && c.Table != table {
			continue
		}
		k := ddlTarget{db: c.DB, table: c.Table}
		if c.ColumnLevel {
			read[k] = read[k].setOwn(c.Column, true)
		} else {
			read[k] = read[k].addCheck(c.Name, c.Column)
		}
	}
	if table != "" {
		k := ddlTarget{db: db, table: table}
		e.set(k, read[k])
		return
	}
	for k := range e.cur().tables {
		if k.db == db {
			if _, ok := read[k]; !ok {
				e.set(k, jsonTable{})
			}
		}
	}
	for k, t := range read {
		e.set(k, t)
	}
	if !e.cur().dbs[db] {
		e.write().dbs[db] = true
	}
}

func (e *jsonEdit) dropDatabase(db string) {
	for k := range e.cur().tables {
		if k.db == db {
			e.set(k, jsonTable{})
		}
	}
}

// done returns the history after the edits: base itself when nothing changed.
func (e *jsonEdit) done() *JSONColumns {
	if e.next == nil {
		return e.base
	}
	return e.next.seal()
}

// jsonReread is a table (every table of a database, when table is empty) whose JSON columns the
// reader must read from the server.
type jsonReread struct {
	ddlTarget
	// why says which statement left them unknown; empty for a database met for the first time
	// (the bootstrap).
	why string
}

// apply follows one DDL statement. It returns what the statement leaves unknown: a database met
// for the first time (inScope says which the reader follows), or a table whose JSON columns the
// statement does not say (CREATE TABLE ... SELECT, a LIKE of a table the reader does not follow,
// an IF [NOT] EXISTS whose outcome the history cannot tell, a DROP CONSTRAINT that may drop a
// check the server named).
func (e *jsonEdit) apply(defaultDB string, st ddlStatement, inScope func(db string) bool) []jsonReread {
	var reread []jsonReread
	unknown := func(t ddlTarget, why string, args ...any) {
		reread = append(reread, jsonReread{ddlTarget: t, why: fmt.Sprintf(why, args...)})
	}
	// follow reports whether t's database is covered; one in scope met for the first time is
	// read whole from the server (which already shows this statement's effect).
	follow := func(t ddlTarget) bool {
		if e.cur().covers(t.db) {
			return true
		}
		if inScope(t.db) && !slices.ContainsFunc(reread, func(r jsonReread) bool { return r.db == t.db && r.table == "" }) {
			reread = append(reread, jsonReread{ddlTarget: ddlTarget{db: t.db}})
		}
		return false
	}
	for _, stmt := range st.stmts {
		switch s := stmt.(type) {
		case *ast.CreateTableStmt:
			if s.TemporaryKeyword != ast.TemporaryNone {
				continue // a temporary table's rows are not logged
			}
			t := tableOf(defaultDB, s.Table)
			if !follow(t) {
				continue
			}
			var jt jsonTable
			switch {
			case s.ReferTable != nil:
				src := tableOf(defaultDB, s.ReferTable)
				if !e.cur().covers(src.db) {
					unknown(t, "it is created LIKE %s.%s, of a database the task does not follow", src.db, src.table)
					continue
				}
				jt = e.get(src)
			case s.Select != nil:
				unknown(t, "CREATE TABLE ... SELECT takes column types from a query")
				continue
			default:
				jt = defsJSON(s.Cols, s.Constraints)
			}
			if s.IfNotExists && e.get(t).empty() && !jt.empty() {
				unknown(t, "CREATE TABLE IF NOT EXISTS creates JSON columns unless the table exists, which the binlog does not say")
				continue
			}
			if s.IfNotExists && !e.get(t).empty() {
				continue // it exists: nothing happens
			}
			e.set(t, jt)
		case *ast.AlterTableStmt:
			e.alter(defaultDB, s, st.ifExists, follow, unknown)
		case *ast.DropTableStmt:
			if s.IsView || s.TemporaryKeyword != ast.TemporaryNone {
				continue
			}
			for _, tn := range s.Tables {
				if t := tableOf(defaultDB, tn); e.cur().covers(t.db) {
					e.set(t, jsonTable{})
				}
			}
		case *ast.RenameTableStmt:
			for _, tt := range s.TableToTables {
				from, to := tableOf(defaultDB, tt.OldTable), tableOf(defaultDB, tt.NewTable)
				known := follow(from)
				jt := e.get(from)
				if known {
					e.set(from, jsonTable{})
				}
				if follow(to) {
					if known {
						e.set(to, jt)
					} else {
						unknown(to, "it is renamed from %s.%s, of a database the task does not follow", from.db, from.table)
					}
				}
			}
		case *ast.DropDatabaseStmt:
			if e.cur().covers(s.Name.O) {
				e.dropDatabase(s.Name.O)
			}
		case *ast.CreateDatabaseStmt:
			if !s.IfNotExists && !e.cur().covers(s.Name.O) && inScope(s.Name.O) {
				e.write().dbs[s.Name.O] = true // a new database has no tables
			}
		}
	}
	return reread
}

// alter follows an ALTER TABLE.
func (e *jsonEdit) alter(defaultDB string, s *ast.AlterTableStmt, ifExists bool, follow func(ddlTarget) bool, unknown func(ddlTarget, string, ...any)) {
	t := tableOf(defaultDB, s.Table)
	var renamed *ddlTarget
	for _, spec := range s.Specs {
		if spec.Tp == ast.AlterTableRenameTable && spec.NewTable != nil {
			to := tableOf(defaultDB, spec.NewTable)
			renamed = &to
		}
	}
	if !follow(t) {
		if renamed != nil && follow(*renamed) {
			unknown(*renamed, "it is renamed from %s.%s, of a database the task does not follow", t.db, t.table)
		}
		return
	}
	before := e.get(t)
	jt := before
	why := ""
	for _, spec := range s.Specs {
		switch spec.Tp {
		case ast.AlterTableAddColumns:
			for _, def := range spec.NewColumns {
				name, isJSON := def.Name.Name.O, colJSON(def)
				switch {
				case spec.IfNotExists && jt.has(name):
					// it exists (as JSON): nothing happens
				case spec.IfNotExists && isJSON:
					why = fmt.Sprintf("ADD COLUMN IF NOT EXISTS %s makes a JSON column unless the column exists, which the binlog does not say", name)
				default:
					jt = jt.setOwn(name, isJSON)
				}
			}
			for _, c := range spec.NewConstraints {
				jt = addConstraint(jt, c)
			}
		case ast.AlterTableAddConstraint:
			if c := spec.Constraint; c != nil && !(c.IfNotExists && c.Name != "" && slices.ContainsFunc(jt.checks, func(k api.JSONCheck) bool { return strings.EqualFold(k.Name, c.Name) })) {
				jt = addConstraint(jt, c)
			}
		case ast.AlterTableDropColumn:
			if spec.OldColumnName != nil {
				jt = jt.dropColumn(spec.OldColumnName.Name.O)
			}
		case ast.AlterTableModifyColumn:
			if len(spec.NewColumns) == 1 {
				def := spec.NewColumns[0]
				name, isJSON := def.Name.Name.O, colJSON(def)
				if spec.IfExists && isJSON && !jt.has(name) {
					why = fmt.Sprintf("MODIFY COLUMN IF EXISTS %s makes a JSON column if the column exists, which the binlog does not say", name)
					continue
				}
				jt = jt.setOwn(name, isJSON)
			}
		case ast.AlterTableChangeColumn:
			if len(spec.NewColumns) == 1 && spec.OldColumnName != nil {
				def := spec.NewColumns[0]
				from, to, isJSON := spec.OldColumnName.Name.O, def.Name.Name.O, colJSON(def)
				if spec.IfExists && isJSON && !jt.has(from) {
					why = fmt.Sprintf("CHANGE COLUMN IF EXISTS %s makes a JSON column if the column exists, which the binlog does not say", from)
					continue
				}
				jt = jt.setOwn(from, false).renameColumn(from, to).setOwn(to, isJSON)
			}
		case ast.AlterTableRenameColumn:
			if spec.OldColumnName != nil && spec.NewColumnName != nil {
				jt = jt.renameColumn(spec.OldColumnName.Name.O, spec.NewColumnName.Name.O)
			}
		case ast.AlterTableDropCheck:
			if spec.Constraint == nil {
				continue
			}
			var found bool
			jt, found = jt.dropCheck(spec.Constraint.Name)
			if !found && jt.hasUnnamedCheck() {
				why = fmt.Sprintf("it drops constraint %s, which may be a json_valid check added without a name (the server's name for it is not in the binlog)", spec.Constraint.Name)
			}
		}
	}
	if ifExists && before.empty() && !jt.empty() && why == "" {
		why = "ALTER TABLE IF EXISTS makes JSON columns if the table exists, which the binlog does not say"
	}
	dest := t
	if renamed != nil {
		e.set(t, jsonTable{})
		if !follow(*renamed) {
			return
		}
		dest = *renamed
	}
	if why != "" {
		unknown(dest, "%s", why)
		return
	}
	e.set(dest, jt)
}

// addConstraint adds a table-level json_valid check.
func addConstraint(jt jsonTable, c *ast.Constraint) jsonTable {
	if c == nil || c.Tp != ast.ConstraintCheck {
		return jt
	}
	if col := jsonValidColumn(c.Expr); col != "" {
		return jt.addCheck(c.Name, col)
	}
	return jt
}

// defsJSON is the JSON columns of a CREATE TABLE's definitions.
func defsJSON(cols []*ast.ColumnDef, constraints []*ast.Constraint) jsonTable {
	var jt jsonTable
	for _, def := range cols {
		if colJSON(def) {
			jt = jt.setOwn(def.Name.Name.O, true)
		}
	}
	for _, c := range constraints {
		jt = addConstraint(jt, c)
	}
	return jt
}

// colJSON reports whether a column definition makes a JSON column on MariaDB: its own check, if
// it has one, is json_valid of the column (the JSON type declares that check, unless the
// definition gives another one), else its type is JSON.
func colJSON(def *ast.ColumnDef) bool {
	var check ast.ExprNode
	for _, o := range def.Options {
		if o.Tp == ast.ColumnOptionCheck {
			check = o.Expr
		}
	}
	if check != nil {
		return strings.EqualFold(jsonValidColumn(check), def.Name.Name.O)
	}
	return def.Tp != nil && def.Tp.GetType() == tmysql.TypeJSON
}

// jsonValidColumn returns the column c of a check expression json_valid(c), "" for any other
// expression (information_schema's reading of checks, which the initial copy uses, matches
// the same).
func jsonValidColumn(e ast.ExprNode) string {
	f, ok := unparen(e).(*ast.FuncCallExpr)
	if !ok || f.FnName.L != "json_valid" || len(f.Args) != 1 {
		return ""
	}
	if c, ok := unparen(f.Args[0]).(*ast.ColumnNameExpr); ok && c.Name != nil {
		return c.Name.Name.O
	}
	return ""
}

func unparen(e ast.ExprNode) ast.ExprNode {
	for {
		p, ok := e.(*ast.ParenthesesExpr)
		if !ok {
			return e
		}
		e = p.Expr
	}
}

// namedTable finds the table a DDL statement the parser could not read names, so the reader can
// re-read it: "" when the statement names none it can find.
var namedTable = regexp.MustCompile("(?is)^(?:CREATE(?:\\s+OR\\s+REPLACE)?|ALTER(?:\\s+ONLINE)?(?:\\s+IGNORE)?|DROP|TRUNCATE)\\s+(?:TEMPORARY\\s+)?TABLE\\s+(?:IF\\s+(?:NOT\\s+)?EXISTS\\s+)?(`(?:[^`]|``)+`|[\\w$]+)(?:\\s*\\.\\s*(`(?:[^`]|``)+`|[\\w$]+))?")

func guessTable(defaultDB, sql string) (ddlTarget, bool) {
	m := namedTable.FindStringSubmatch(sql)
	if m == nil {
		return ddlTarget{}, false
	}
	unquote := func(s string) string {
		if strings.HasPrefix(s, "`") {
			return strings.ReplaceAll(s[1:len(s)-1], "``", "`")
		}
		return s
	}
	if m[2] != "" {
		return ddlTarget{db: unquote(m[1]), table: unquote(m[2])}, true
	}
	if defaultDB == "" {
		return ddlTarget{}, false
	}
	return ddlTarget{db: defaultDB, table: unquote(m[1])}, true
}

// followJSON follows a DDL statement at pos in the JSON column history, re-reading from the
// server what the statement leaves unknown.
func (r *Reader) followJSON(ctx context.Context, defaultDB string, st ddlStatement, pos string) error {
	if r.json == nil {
		return nil
	}
	e := jsonEdit{base: r.json}
	var reread []jsonReread
	if st.stmts != nil {
		reread = e.apply(defaultDB, st, r.cfg.Scope.Database)
	} else {
		// A statement the parser cannot read may have changed any column of the table it
		// names, or, when it names none the reader can find, of its database.
		t, ok := guessTable(defaultDB, st.sql)
		if !ok {
			t = ddlTarget{db: defaultDB}
		}
		switch {
		case t.db == "":
		case e.cur().covers(t.db):
			reread = append(reread, jsonReread{ddlTarget: t, why: "the worker cannot parse the statement"})
		case r.cfg.Scope.Database(t.db):
			reread = append(reread, jsonReread{ddlTarget: ddlTarget{db: t.db}}) // met for the first time
		}
	}
	return r.reread(ctx, &e, reread, pos, st.sql)
}

// jsonOf returns the JSON columns of table db.name, reading the database's from the server when
// the reader meets it for the first time.
func (r *Reader) jsonOf(ctx context.Context, db, name string) (jsonTable, error) {
	if r.json == nil {
		return jsonTable{}, nil
	}
	if !r.json.covers(db) {
		e := jsonEdit{base: r.json}
		if err := r.reread(ctx, &e, []jsonReread{{ddlTarget: ddlTarget{db: db}}}, "", ""); err != nil {
			return jsonTable{}, err
		}
	}
	return r.json.of(db, name), nil
}

// reread reads what rs names from the server into e, and makes the result the reader's history.
// A DDL statement's rereads are warnings: the server's definition is today's, which later
// statements in the backlog may have changed again.
func (r *Reader) reread(ctx context.Context, e *jsonEdit, rs []jsonReread, pos, sql string) error {
	for _, rr := range rs {
		var checks []schema.JSONCheck
		if r.cfg.Describe != nil {
			var err error
			if checks, err = r.cfg.Describe.JSONChecks(ctx, []string{rr.db}, rr.table); err != nil {
				return fmt.Errorf("read the JSON columns of %s: %w", rr.ddlTarget, err)
			}
		}
		e.cover(rr.db, rr.table, checks)
		if rr.why == "" {
			r.log.Info("JSON columns of a database read from its current definition: the worker meets it with no history (a new task, or a checkpoint saved without one); from here the binlog's DDL keeps them", "database", rr.db)
			continue
		}
		r.log.Warn("JSON columns re-read from the current definition after a DDL statement the worker cannot follow: rows between this statement and a later change of these columns may be typed by today's definition",
			"table", rr.ddlTarget.String(), "pos", pos, "reason", rr.why, "sql", truncate(sql, 300))
		r.forget([]ddlTarget{rr.ddlTarget})
	}
	r.setJSON(e.done())
	return nil
}

// setJSON makes j the reader's history.
func (r *Reader) setJSON(j *JSONColumns) {
	if j == r.json {
		return
	}
	r.json = j
	if j.TooLarge() && !r.warnedTooLarge {
		r.warnedTooLarge = true
		r.log.Warn("the JSON column history is too large to save with the checkpoint: a worker that restarts reads today's definitions, so rows in a backlog written before a column changed to or from JSON may be typed by the new definition", "tables", len(j.tables), "limit_bytes", api.MaxJSONColumnsBytes)
	}
}

func (t ddlTarget) String() string {
	if t.table == "" {
		return t.db
	}
	return t.db + "." + t.table
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
