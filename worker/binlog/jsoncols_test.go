package binlog

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/go-mysql-org/go-mysql/client"
	"github.com/go-mysql-org/go-mysql/mysql"

	"github.com/dtsrepl/dts/api"
	"github.com/dtsrepl/dts/internal/testenv"
	"github.com/dtsrepl/dts/worker/schema"
)

// describeJSON renders a history as "db.table: columns; checks" lines, sorted.
func describeJSON(j *JSONColumns) string {
	var lines []string
	for k, t := range j.tables {
		line := k.db + "." + k.table + ":"
		if len(t.own) > 0 {
			line += " " + strings.Join(t.own, ",")
		}
		for _, c := range t.checks {
			line += fmt.Sprintf(" check[%s]=%s", c.Name, c.Column)
		}
		lines = append(lines, line)
	}
	slices.Sort(lines)
	dbs := slices.Sorted(maps.Keys(j.dbs))
	return "dbs " + strings.Join(dbs, ",") + "\n" + strings.Join(lines, "\n")
}

func TestJSONColumnsFollowDDL(t *testing.T) {
	// Every test starts from database shop covered, with shop.j holding JSON column doc, a
	// table-level check chk on column raw and one unnamed on column other; database later is
	// in scope but not met yet; database elsewhere is out of scope.
	start := []schema.JSONCheck{
		{DB: "shop", Table: "j", Name: "doc", Column: "doc", ColumnLevel: true},
		{DB: "shop", Table: "j", Name: "chk", Column: "raw"},
		{DB: "shop", Table: "j", Name: "CONSTRAINT_1", Column: "other"},
	}
	const base = "dbs shop\nshop.j: doc check[CONSTRAINT_1]=other check[chk]=raw"
	tests := []struct {
		name   string
		sql    []string
		want   string   // the history after the statements
		reread []string // what they leave to re-read: "db.table (why)", or "db" for a database met first
	}{
		{name: "nothing", want: base},

		// CREATE TABLE
		{name: "JSON type", sql: []string{"CREATE TABLE t (id INT, a JSON, b LONGTEXT)"}, want: base + "\nshop.t: a"},
		{name: "column check, as SHOW CREATE TABLE writes MariaDB's JSON", sql: []string{"CREATE TABLE `t` (\n  `id` int(11) NOT NULL,\n  `a` longtext CHARACTER SET utf8mb4 COLLATE utf8mb4_bin DEFAULT NULL CHECK (json_valid(`a`)),\n  `b` longtext DEFAULT NULL\n)"}, want: base + "\nshop.t: a"},
		{name: "JSON type with another column check is text", sql: []string{"CREATE TABLE t (a JSON CHECK (a <> ''), b JSON CHECK ((json_valid(b))))"}, want: base + "\nshop.t: b"},
		{name: "a column check on another column is not the column's", sql: []string{"CREATE TABLE t (a LONGTEXT CHECK (json_valid(b)), b LONGTEXT)"}, want: base},
		{name: "table checks, named and not", sql: []string{"CREATE TABLE t (a LONGTEXT, b LONGTEXT, c LONGTEXT, CONSTRAINT n CHECK (json_valid(a)), CHECK (json_valid(t.b)), CHECK (json_valid(a) AND json_valid(c)))"}, want: base + "\nshop.t: check[]=b check[n]=a"},
		{name: "qualified table", sql: []string{"CREATE TABLE shop.t (a JSON)"}, want: base + "\nshop.t: a"},
		{name: "create or replace", sql: []string{"CREATE TABLE t (a JSON)", "CREATE OR REPLACE TABLE t (a LONGTEXT, b JSON) WITH SYSTEM VERSIONING"}, want: base + "\nshop.t: b"},
		{name: "MariaDB column types", sql: []string{"CREATE TABLE t (id UUID DEFAULT uuid(), ip INET6, a JSON)"}, want: base + "\nshop.t: a"},
		{name: "like", sql: []string{"CREATE TABLE t LIKE j"}, want: base + "\nshop.t: doc check[CONSTRAINT_1]=other check[chk]=raw"},
		{name: "like a table of a database not followed", sql: []string{"CREATE TABLE t LIKE elsewhere.x"}, want: base, reread: []string{"shop.t"}},
		{name: "as select", sql: []string{"CREATE TABLE t AS SELECT doc FROM j"}, want: base, reread: []string{"shop.t"}},
		{name: "if not exists, existing JSON table", sql: []string{"CREATE TABLE IF NOT EXISTS j (x JSON)"}, want: base},
		{name: "if not exists, no JSON either way", sql: []string{"CREATE TABLE IF NOT EXISTS t (x INT)"}, want: base},
		{name: "if not exists, JSON unless it exists", sql: []string{"CREATE TABLE IF NOT EXISTS t (x JSON)"}, want: base, reread: []string{"shop.t"}},
		{name: "temporary", sql: []string{"CREATE TEMPORARY TABLE t (x JSON)", "DROP TEMPORARY TABLE j"}, want: base},

		// ALTER TABLE
		{name: "modify to JSON and back", sql: []string{"ALTER TABLE j MODIFY x JSON", "ALTER TABLE j MODIFY doc LONGTEXT"}, want: "dbs shop\nshop.j: x check[CONSTRAINT_1]=other check[chk]=raw"},
		{name: "a table check survives a modify", sql: []string{"ALTER TABLE j MODIFY raw LONGTEXT"}, want: base},
		{name: "modify, column names ignore case", sql: []string{"ALTER TABLE j MODIFY COLUMN DOC TEXT"}, want: "dbs shop\nshop.j: check[CONSTRAINT_1]=other check[chk]=raw"},
		{name: "change renames and retypes", sql: []string{"ALTER TABLE j CHANGE doc d2 JSON, CHANGE raw r2 LONGTEXT"}, want: "dbs shop\nshop.j: d2 check[CONSTRAINT_1]=other check[chk]=r2"},
		{name: "change to text", sql: []string{"ALTER TABLE j CHANGE COLUMN doc d2 LONGTEXT"}, want: "dbs shop\nshop.j: check[CONSTRAINT_1]=other check[chk]=raw"},
		{name: "rename column keeps JSON", sql: []string{"ALTER TABLE j RENAME COLUMN doc TO d2, RENAME COLUMN raw TO r2"}, want: "dbs shop\nshop.j: d2 check[CONSTRAINT_1]=other check[chk]=r2"},
		{name: "add columns", sql: []string{"ALTER TABLE j ADD COLUMN x JSON, ADD y LONGTEXT, ADD (z JSON, w INT)"}, want: "dbs shop\nshop.j: doc,x,z check[CONSTRAINT_1]=other check[chk]=raw"},
		{name: "add to a table without JSON", sql: []string{"ALTER TABLE plain ADD COLUMN x JSON"}, want: base + "\nshop.plain: x"},
		{name: "drop columns with their checks", sql: []string{"ALTER TABLE j DROP COLUMN doc, DROP raw"}, want: "dbs shop\nshop.j: check[CONSTRAINT_1]=other"},
		{name: "drop every JSON column", sql: []string{"ALTER TABLE j DROP doc, DROP raw, DROP other"}, want: "dbs shop\n"},
		{name: "add and drop a named check", sql: []string{"ALTER TABLE plain ADD CONSTRAINT n CHECK (json_valid(x))", "ALTER TABLE j DROP CONSTRAINT chk"}, want: "dbs shop\nshop.j: doc check[CONSTRAINT_1]=other\nshop.plain: check[n]=x"},
		{name: "add an unnamed check", sql: []string{"ALTER TABLE plain ADD CHECK (json_valid(x))", "ALTER TABLE plain2 ADD CONSTRAINT CHECK (json_valid(y))"}, want: base + "\nshop.plain2: check[]=y\nshop.plain: check[]=x"},
		{name: "drop a check of a server-given name", sql: []string{"ALTER TABLE j DROP CONSTRAINT CONSTRAINT_1"}, want: "dbs shop\nshop.j: doc check[chk]=raw"},
		{name: "drop a constraint that may be an unnamed check", sql: []string{"CREATE TABLE t (a LONGTEXT, CHECK (json_valid(a)))", "ALTER TABLE t DROP CONSTRAINT CONSTRAINT_1"}, want: base + "\nshop.t: check[]=a", reread: []string{"shop.t"}},
		{name: "drop a constraint of a table with only named checks", sql: []string{"ALTER TABLE j DROP CONSTRAINT fk_other"}, want: base},
		{name: "add column if not exists, existing", sql: []string{"ALTER TABLE j ADD COLUMN IF NOT EXISTS doc LONGTEXT"}, want: base},
		{name: "add column if not exists, JSON unless it exists", sql: []string{"ALTER TABLE j ADD COLUMN IF NOT EXISTS x JSON"}, want: base, reread: []string{"shop.j"}},
		{name: "modify if exists", sql: []string{"ALTER TABLE j MODIFY COLUMN IF EXISTS doc LONGTEXT", "ALTER TABLE j MODIFY COLUMN IF EXISTS x JSON"}, want: "dbs shop\nshop.j: check[CONSTRAINT_1]=other check[chk]=raw", reread: []string{"shop.j"}},
		{name: "alter table if exists", sql: []string{"ALTER TABLE IF EXISTS gone ADD COLUMN x JSON", "ALTER TABLE IF EXISTS j ADD COLUMN x JSON"}, want: "dbs shop\nshop.j: doc,x check[CONSTRAINT_1]=other check[chk]=raw", reread: []string{"shop.gone"}},
		{name: "alter online", sql: []string{"ALTER ONLINE TABLE j MODIFY doc TEXT"}, want: "dbs shop\nshop.j: check[CONSTRAINT_1]=other check[chk]=raw"},
		{name: "alter and rename", sql: []string{"ALTER TABLE j ADD x JSON, RENAME TO k"}, want: "dbs shop\nshop.k: doc,x check[CONSTRAINT_1]=other check[chk]=raw"},
		{name: "other changes", sql: []string{"ALTER TABLE j ADD INDEX (id), ENGINE=InnoDB, CONVERT TO CHARACTER SET utf8mb4", "TRUNCATE j", "CREATE INDEX i ON j (id)"}, want: base},

		// tables and databases
		{name: "rename table", sql: []string{"RENAME TABLE j TO k"}, want: "dbs shop\nshop.k: doc check[CONSTRAINT_1]=other check[chk]=raw"},
		{name: "gh-ost cut-over", sql: []string{"CREATE TABLE `_j_gho` LIKE `j`", "ALTER TABLE `_j_gho` MODIFY doc LONGTEXT", "RENAME TABLE `shop`.`j` TO `shop`.`_j_del`, `shop`.`_j_gho` TO `shop`.`j`", "DROP TABLE IF EXISTS `_j_del`"}, want: "dbs shop\nshop.j: check[CONSTRAINT_1]=other check[chk]=raw"},
		{name: "swap through a third name", sql: []string{"CREATE TABLE t (a JSON)", "RENAME TABLE j TO tmp, t TO j, tmp TO t"}, want: "dbs shop\nshop.j: a\nshop.t: doc check[CONSTRAINT_1]=other check[chk]=raw"},
		{name: "rename to a database not followed", sql: []string{"RENAME TABLE j TO elsewhere.j"}, want: "dbs shop\n"},
		{name: "rename from a database not followed", sql: []string{"RENAME TABLE elsewhere.x TO shop.x", "ALTER TABLE elsewhere.y RENAME TO shop.y"}, want: base, reread: []string{"shop.x", "shop.y"}},
		{name: "drop table", sql: []string{"DROP TABLE IF EXISTS plain, j"}, want: "dbs shop\n"},
		{name: "drop database", sql: []string{"DROP DATABASE shop"}, want: "dbs shop\n"},
		{name: "create database in scope", sql: []string{"CREATE DATABASE later", "CREATE TABLE later.t (a JSON)"}, want: "dbs later,shop\nlater.t: a\nshop.j: doc check[CONSTRAINT_1]=other check[chk]=raw"},
		{name: "create database if not exists", sql: []string{"CREATE DATABASE IF NOT EXISTS later"}, want: base},
		{name: "create database out of scope", sql: []string{"CREATE DATABASE elsewhere", "CREATE TABLE elsewhere.t (a JSON)"}, want: base},
		{name: "a database in scope met first", sql: []string{"ALTER TABLE later.t MODIFY a JSON"}, want: base, reread: []string{"later"}},
		{name: "a database out of scope", sql: []string{"ALTER TABLE elsewhere.t MODIFY a JSON", "DROP TABLE elsewhere.j"}, want: base},
	}
	inScope := func(db string) bool { return db == "shop" || db == "later" }
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := jsonEdit{base: NewJSONColumns()}
			e.cover("shop", "", start)
			cur := e.done()
			var p ddlParser
			var reread []string
			for _, q := range tt.sql {
				st, ok := p.parse(q)
				if !ok || st.stmts == nil {
					t.Fatalf("%q: DDL %v, parsed %v", q, ok, st.stmts != nil)
				}
				e := jsonEdit{base: cur}
				for _, r := range e.apply("shop", st, inScope) {
					reread = append(reread, r.ddlTarget.String())
					if r.table != "" && r.why == "" {
						t.Errorf("%q: re-reads %s without saying why", q, r.ddlTarget)
					}
				}
				cur = e.done()
			}
			if got := describeJSON(cur); got != tt.want {
				t.Errorf("history\n%s\nwant\n%s", got, tt.want)
			}
			if !slices.Equal(reread, tt.reread) {
				t.Errorf("re-read %q, want %q", reread, tt.reread)
			}
		})
	}
}

func TestJSONColumnsUnchangedIsSame(t *testing.T) {
	e := jsonEdit{base: NewJSONColumns()}
	e.cover("shop", "", []schema.JSONCheck{{DB: "shop", Table: "j", Name: "doc", Column: "doc", ColumnLevel: true}})
	cur := e.done()
	var p ddlParser
	for _, q := range []string{"ALTER TABLE plain ADD COLUMN x INT", "ALTER TABLE j MODIFY doc JSON", "DROP TABLE nothing", "CREATE INDEX i ON j (id)"} {
		st, _ := p.parse(q)
		e := jsonEdit{base: cur}
		e.apply("shop", st, func(string) bool { return true })
		if next := e.done(); next != cur {
			t.Errorf("%q made a new history: a checkpoint's history would be copied for nothing", q)
		}
	}
}

func TestJSONColumnsSaved(t *testing.T) {
	// 1,024 shards with the same JSON column save as one entry; the round trip keeps all.
	var checks []schema.JSONCheck
	for i := range 1024 {
		checks = append(checks, schema.JSONCheck{DB: "shard", Table: fmt.Sprintf("orders_%d", i), Name: "extra", Column: "extra", ColumnLevel: true})
	}
	checks = append(checks,
		schema.JSONCheck{DB: "shard", Table: "other", Name: "doc", Column: "doc", ColumnLevel: true},
		schema.JSONCheck{DB: "shard", Table: "other", Name: "n", Column: "raw"})
	e := jsonEdit{base: NewJSONColumns()}
	e.cover("shard", "", checks)
	e.cover("empty", "", nil)
	j := e.done()
	s := j.Saved()
	if s == nil {
		t.Fatal("nothing saved")
	}
	if len(s.Tables) != 2 || len(s.Tables[0].Tables) != 1024 || !slices.Equal(s.Databases, []string{"empty", "shard"}) {
		t.Fatalf("saved %d groups (first of %d tables), databases %q", len(s.Tables), len(s.Tables[0].Tables), s.Databases)
	}
	b, _ := json.Marshal(s)
	if len(b) > 32<<10 {
		t.Errorf("1,025 tables take %d bytes", len(b))
	}
	var back api.JSONColumns
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if l := LoadJSONColumns(&back); !l.Equal(j) {
		t.Errorf("round trip changed the history:\n%s\nwant\n%s", describeJSON(l), describeJSON(j))
	}
	if LoadJSONColumns(nil) != nil || (*JSONColumns)(nil).Saved() != nil {
		t.Error("no history must load and save as none")
	}

	// Tables with different JSON columns each need an entry: past the bound, nothing is saved.
	checks = nil
	for i := range 4000 {
		checks = append(checks, schema.JSONCheck{DB: "wide", Table: fmt.Sprintf("t%d", i), Name: "c", Column: fmt.Sprintf("column_%d", i), ColumnLevel: true})
	}
	e = jsonEdit{base: NewJSONColumns()}
	e.cover("wide", "", checks)
	j = e.done()
	if j.Saved() != nil || !j.TooLarge() {
		t.Fatalf("a history of %d tables saved", len(j.tables))
	}
	var logs strings.Builder
	r := &Reader{log: slog.New(slog.NewTextHandler(&logs, nil))}
	r.setJSON(j)
	r.setJSON(LoadJSONColumns(&back))
	r.setJSON(j)
	if n := strings.Count(logs.String(), "too large to save"); n != 1 {
		t.Errorf("warned %d times that the history is too large: %s", n, logs.String())
	}
}

func TestGuessTable(t *testing.T) {
	tests := []struct {
		sql, want string
	}{
		{"ALTER TABLE t FOOBAR", "shop.t"},
		{"alter online ignore table `a``b`.`c d` weird", "a`b.c d"},
		{"CREATE OR REPLACE TABLE IF NOT EXISTS other.t (x FOO)", "other.t"},
		{"CREATE TABLE $t (a NEWTYPE)", "shop.$t"},
		{"DROP TABLE t FORCE", "shop.t"},
		{"RENAME TABLE a TO b FOO", ""},
		{"ALTER DATABASE x FOO", ""},
	}
	for _, tt := range tests {
		got, ok := guessTable("shop", tt.sql)
		if !ok {
			got = ddlTarget{}
		}
		if got.String() != tt.want {
			t.Errorf("guessTable(%q) = %q, want %q", tt.sql, got, tt.want)
		}
	}
}

// TestFollowJSONUnparsed: a DDL statement the parser cannot read makes the reader re-read the
// table it names, with a warning naming the table and the position; never a failure.
func TestFollowJSONUnparsed(t *testing.T) {
	var logs strings.Builder
	d := fakeDescriber{checks: []schema.JSONCheck{{DB: "shop", Table: "t", Name: "a", Column: "a", ColumnLevel: true}}}
	e := jsonEdit{base: NewJSONColumns()}
	e.cover("shop", "", nil)
	r := NewReader(Config{Server: &Server{Flavor: mysql.MariaDBFlavor}, Describe: d, JSONColumns: e.done(), Scope: allScope{},
		Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	st, ok := r.ddl.parse("ALTER TABLE t ADD COLUMN a JSON, ADD PERIOD FOR SYSTEM_TIME(s, e)")
	if !ok || st.stmts != nil {
		t.Fatalf("the statement parsed (%v, %v): pick another the parser cannot read", ok, st.stmts != nil)
	}
	if err := r.followJSON(context.Background(), "shop", st, "mysql-bin.000001:42"); err != nil {
		t.Fatal(err)
	}
	if got := describeJSON(r.json); got != "dbs shop\nshop.t: a" {
		t.Errorf("history\n%s", got)
	}
	if l := logs.String(); !strings.Contains(l, "level=WARN") || !strings.Contains(l, "table=shop.t") || !strings.Contains(l, "pos=mysql-bin.000001:42") {
		t.Errorf("warning: %s", l)
	}
}

type allScope struct{}

func (allScope) Table(string, string) bool { return true }
func (allScope) Database(string) bool      { return true }

// connDescriber reads definitions on one connection.
type connDescriber struct{ c *client.Conn }

func (d connDescriber) Describe(_ context.Context, db, table string) (*schema.Table, error) {
	return schema.Describe(d.c, db, table)
}

func (d connDescriber) JSONChecks(_ context.Context, dbs []string, table string) ([]schema.JSONCheck, error) {
	return schema.JSONChecks(d.c, dbs, table)
}

// jsonProjection is what a history says of each table's columns: which are JSON by their own
// definition and which by a table-level check (the names the server gives unnamed checks aside).
func jsonProjection(j *JSONColumns) string {
	var lines []string
	for k, t := range j.tables {
		var checks []string
		for _, c := range t.checks {
			checks = append(checks, strings.ToLower(c.Column))
		}
		slices.Sort(checks)
		own := slices.Clone(t.own)
		for i := range own {
			own[i] = strings.ToLower(own[i])
		}
		slices.Sort(own)
		lines = append(lines, fmt.Sprintf("%s own=%s checks=%s", k, strings.Join(own, ","), strings.Join(checks, ",")))
	}
	slices.Sort(lines)
	return strings.Join(lines, "\n")
}

// TestJSONColumnsMatchServer runs DDL statements on a real MariaDB and follows each in the
// history: after every statement the history says what the server's information_schema says.
func TestJSONColumnsMatchServer(t *testing.T) {
	db := testenv.StartMariaDB(t)
	db.Exec(t, "CREATE DATABASE shop")
	c := db.Conn(t)
	if err := c.UseDB("shop"); err != nil {
		t.Fatal(err)
	}
	start, err := ReadJSONColumns(c, []string{"shop"})
	if err != nil {
		t.Fatal(err)
	}
	r := NewReader(Config{Server: &Server{Flavor: mysql.MariaDBFlavor}, Describe: connDescriber{c}, JSONColumns: start,
		Scope: allScope{}, Logger: slog.New(slog.DiscardHandler)})
	for i, q := range []string{
		"CREATE TABLE t (id INT PRIMARY KEY, a JSON, b LONGTEXT CHECK (json_valid(b)), c LONGTEXT, d LONGTEXT, e JSON CHECK (e <> ''), CONSTRAINT named CHECK (json_valid(c)), CHECK (json_valid(d)))",
		"ALTER TABLE t MODIFY a LONGTEXT",
		"ALTER TABLE t CHANGE b b2 LONGTEXT",
		"ALTER TABLE t RENAME COLUMN c TO c2",
		"ALTER TABLE t MODIFY c2 LONGTEXT",
		"ALTER TABLE t ADD COLUMN f JSON, ADD COLUMN g LONGTEXT, ADD CONSTRAINT gchk CHECK (json_valid(g))",
		"ALTER TABLE t DROP CONSTRAINT gchk",
		"ALTER TABLE t DROP COLUMN d",
		"ALTER TABLE t ADD CONSTRAINT CHECK (json_valid(a))",
		"ALTER TABLE t DROP CONSTRAINT CONSTRAINT_1",
		"ALTER TABLE t MODIFY a JSON",
		"CREATE TABLE u LIKE t",
		"CREATE TABLE v AS SELECT * FROM t",
		"RENAME TABLE t TO t_old, u TO t",
		"ALTER TABLE t RENAME COLUMN f TO f2, RENAME TO w",
		"CREATE OR REPLACE TABLE v (x JSON)",
		"ALTER TABLE IF EXISTS nothere ADD COLUMN z JSON",
		"ALTER TABLE w ADD COLUMN IF NOT EXISTS f2 LONGTEXT",
		"ALTER TABLE w ADD COLUMN IF NOT EXISTS h JSON",
		"ALTER TABLE w MODIFY COLUMN IF EXISTS nope JSON",
		"CREATE TABLE IF NOT EXISTS w (q JSON)",
		"DROP TABLE t_old",
		"ALTER ONLINE TABLE w RENAME COLUMN f2 TO f3",
		"CREATE TABLE x (id UUID, ip INET6, j JSON) WITH SYSTEM VERSIONING",
		// the parser cannot read this one: the table it names is re-read
		"ALTER TABLE v ADD COLUMN k JSON, DROP FOREIGN KEY IF EXISTS fk",
	} {
		if _, err := c.Execute(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		st, ok := r.ddl.parse(q)
		if !ok {
			t.Fatalf("%s: not DDL", q)
		}
		if err := r.followJSON(context.Background(), "shop", st, fmt.Sprintf("stmt-%d", i)); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		server, err := ReadJSONColumns(c, []string{"shop"})
		if err != nil {
			t.Fatal(err)
		}
		if got, want := jsonProjection(r.json), jsonProjection(server); got != want {
			t.Fatalf("after %s:\nhistory\n%s\nserver\n%s", q, got, want)
		}
	}
}
