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

// targets reports whether sql is a DDL statement and which tables or databases it changes.
// A DDL the parser does not understand (a dialect corner) is attributed to the whole default
// database, so it is still delivered rather than dropped.
func (d *ddlParser) targets(defaultDB, sql string) ([]ddlTarget, bool) {
	sql = stripComments(sql)
	verb := strings.ToUpper(firstWord(sql))
	if !ddlVerbs[verb] || notTableDDL.MatchString(sql) {
		return nil, false
	}
	if d.p == nil {
		d.p = parser.New()
	}
	stmts, _, err := d.p.Parse(sql, "", "")
	if err != nil || len(stmts) == 0 {
		if defaultDB == "" {
			return nil, true
		}
		return []ddlTarget{{db: defaultDB}}, true
	}
	var out []ddlTarget
	add := func(tn *ast.TableName) {
		if tn == nil {
			return
		}
		db := tn.Schema.O
		if db == "" {
			db = defaultDB
		}
		out = append(out, ddlTarget{db: db, table: tn.Name.O})
	}
	for _, st := range stmts {
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
	return out, len(out) > 0
}
