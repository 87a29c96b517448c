package binlog

import (
	"regexp"
	"strings"

	"github.com/pingcap/tidb/pkg/parser"
	"github.com/pingcap/tidb/pkg/parser/ast"
	_ "github.com/pingcap/tidb/pkg/parser/test_driver" // value expressions in DDL defaults
)

// ddlTarget is a table (or, with table empty, a whole database) a DDL statement changes.
type ddlTarget struct {
	db    string
	table string
}

// ddlParser finds what a statement logged as a query changes. It holds a tidb parser, which is
// not safe for concurrent use; the Reader uses it from Run's goroutine only.
type ddlParser struct {
	p *parser.Parser
}

var ddlVerbs = map[string]bool{"CREATE": true, "ALTER": true, "DROP": true, "RENAME": true, "TRUNCATE": true}

// notTableDDL matches statements on objects that hold no rows: views, triggers, routines,
// events, accounts and servers. They are not delivered.
var notTableDDL = regexp.MustCompile(`(?is)^(CREATE|ALTER|DROP)\s+(OR\s+REPLACE\s+)?(ALGORITHM\s*=\s*\S+\s+)?(DEFINER\s*=\s*\S+\s+)?(SQL\s+SECURITY\s+\S+\s+)?(AGGREGATE\s+)?(VIEW|TRIGGER|PROCEDURE|FUNCTION|EVENT|USER|ROLE|SERVER)\b`)

// stripComments drops the comments and white space before a statement's first word: clients
// and migration tools prefix DDL with them, and the server logs them as sent. The content of
// an executable comment (/*!40101 ... */) is kept, as the server runs it.
func stripComments(s string) string {
	for {
		s = strings.TrimLeft(s, " \t\r\n")
		switch {
		case strings.HasPrefix(s, "/*!"):
			s = strings.TrimLeft(s[3:], "0123456789")
			if end := strings.LastIndex(s, "*/"); end >= 0 {
				s = s[:end]
			}
		case strings.HasPrefix(s, "/*"):
			end := strings.Index(s, "*/")
			if end < 0 {
				return ""
			}
			s = s[end+2:]
		case strings.HasPrefix(s, "--") || strings.HasPrefix(s, "#"):
			end := strings.IndexByte(s, '\n')
			if end < 0 {
				return ""
			}
			s = s[end+1:]
		default:
			return s
		}
	}
}

// mariadbOnly rewrites the MariaDB syntax the parser (TiDB's, of MySQL's dialect) does not know
// into what it means for the tables and their columns: CREATE OR REPLACE TABLE creates the table
// afresh, ALTER ONLINE is an ALTER, system versioning changes no column, and UUID, INET4 and INET6
// columns are fixed-length values (their type does not matter here).
var mariadbOnly = []struct {
	re   *regexp.Regexp
	with string
}{
	{regexp.MustCompile(`(?is)^CREATE\s+OR\s+REPLACE\s+((?:TEMPORARY\s+)?TABLE)\b`), "CREATE $1"},
	{regexp.MustCompile(`(?is)^ALTER\s+ONLINE\s+`), "ALTER "},
	{regexp.MustCompile(`(?is)^ALTER\s+((?:IGNORE\s+)?TABLE)\s+IF\s+EXISTS\s+`), "ALTER $1 "},
	{regexp.MustCompile(`(?is)\s+WITH(?:OUT)?\s+SYSTEM\s+VERSIONING\b`), ""},
	{regexp.MustCompile(`(?is)(\s)(?:UUID|INET4|INET6)(\s*[,)\s])`), "${1}binary(16)$2"},
}

// alterIfExists matches MariaDB's ALTER TABLE IF EXISTS, which does nothing to a missing table.
var alterIfExists = regexp.MustCompile(`(?is)^ALTER\s+(?:ONLINE\s+)?(?:IGNORE\s+)?TABLE\s+IF\s+EXISTS\s`)

// ddlStatement is a statement logged as a query that changes tables or databases.
type ddlStatement struct {
	// stmts is what the parser read; nil when it could not.
	stmts []ast.StmtNode
	// sql is the statement without leading comments, before the MariaDB rewrites.
	sql string
	// ifExists is set for MariaDB's ALTER TABLE IF EXISTS.
	ifExists bool
}

// parse reports whether sql is a DDL statement on tables or databases, and parses it.
func (d *ddlParser) parse(sql string) (ddlStatement, bool) {
	sql = stripComments(sql)
	verb := strings.ToUpper(firstWord(sql))
	if !ddlVerbs[verb] || notTableDDL.MatchString(sql) {
		return ddlStatement{}, false
	}
	st := ddlStatement{sql: sql, ifExists: alterIfExists.MatchString(sql)}
	if d.p == nil {
		d.p = parser.New()
	}
	text := sql
	for _, m := range mariadbOnly {
		text = m.re.ReplaceAllString(text, m.with)
	}
	stmts, _, err := d.p.Parse(text, "", "")
	if err != nil {
		return st, true
	}
	st.stmts = stmts
	// A statement the parser reads that changes no table or database (RENAME USER) is none.
	return st, len(st.targets("-")) > 0
}

// targets reports whether sql is a DDL statement and which tables or databases it changes.
func (d *ddlParser) targets(defaultDB, sql string) ([]ddlTarget, bool) {
	st, ok := d.parse(sql)
	if !ok {
		return nil, false
	}
	return st.targets(defaultDB), true
}

// targets lists the tables or databases the statement changes. A DDL the parser does not
// understand (a dialect corner) is attributed to the whole default database, so it is still
// delivered rather than dropped.
func (st ddlStatement) targets(defaultDB string) []ddlTarget {
	if len(st.stmts) == 0 {
		if defaultDB == "" {
			return nil
		}
		return []ddlTarget{{db: defaultDB}}
	}
	var out []ddlTarget
	add := func(tn *ast.TableName) {
		if tn == nil {
			return
		}
		out = append(out, tableOf(defaultDB, tn))
	}
	for _, st := range st.stmts {
		switch s := st.(type) {
		case *ast.CreateTableStmt:
			add(s.Table)
		case *ast.AlterTableStmt:
			add(s.Table)
			for _, spec := range s.Specs {
				if spec.NewTable != nil && spec.NewTable.Name.O != "" {
					add(spec.NewTable)
				}
			}
		case *ast.DropTableStmt:
			if s.IsView {
				continue
			}
			for _, t := range s.Tables {
				add(t)
			}
		case *ast.RenameTableStmt:
			for _, tt := range s.TableToTables {
				add(tt.OldTable)
				add(tt.NewTable)
			}
		case *ast.TruncateTableStmt:
			add(s.Table)
		case *ast.CreateIndexStmt:
			add(s.Table)
		case *ast.DropIndexStmt:
			add(s.Table)
		case *ast.CreateDatabaseStmt:
			out = append(out, ddlTarget{db: s.Name.O})
		case *ast.DropDatabaseStmt:
			out = append(out, ddlTarget{db: s.Name.O})
		case *ast.AlterDatabaseStmt:
			db := s.Name.O
			if db == "" {
				db = defaultDB
			}
			out = append(out, ddlTarget{db: db})
		}
	}
	return out
}

// tableOf names a table of a statement, in the default database when unqualified.
func tableOf(defaultDB string, tn *ast.TableName) ddlTarget {
	db := tn.Schema.O
	if db == "" {
		db = defaultDB
	}
	return ddlTarget{db: db, table: tn.Name.O}
}
