// Package ddl tells what a schema change statement does, as far as message formats name it:
// Canal's event types (CREATE, ALTER, ERASE, CINDEX...), Maxwell's (table-create,
// database-drop...), Debezium's table change types (CREATE, ALTER, DROP). The binlog reader has
// already decided that the statement is a DDL on a table or database in scope; this reads only
// its leading words.
package ddl

import "strings"

// Kind is what a DDL statement does.
type Kind uint8

// Kinds of DDL.
const (
	Other Kind = iota
	CreateTable
	AlterTable
	AlterTableRename   // ALTER TABLE t RENAME [TO] u
	AlterTableAddIndex // ALTER TABLE t ADD INDEX / KEY / UNIQUE / FULLTEXT / SPATIAL / CONSTRAINT .. UNIQUE
	AlterTableDropIndex
	DropTable
	RenameTable
	TruncateTable
	CreateIndex
	DropIndex
	CreateDatabase
	AlterDatabase
	DropDatabase
)

// Classify returns the kind of the statement sql.
func Classify(sql string) Kind {
	s := scanner{s: sql}
	verb := s.word()
	switch verb {
	case "CREATE":
		w := s.word()
		if w == "OR" { // OR REPLACE
			s.word()
			w = s.word()
		}
		for w == "TEMPORARY" || w == "UNIQUE" || w == "FULLTEXT" || w == "SPATIAL" || w == "ONLINE" || w == "OFFLINE" {
			w = s.word()
		}
		switch w {
		case "TABLE":
			return CreateTable
		case "INDEX":
			return CreateIndex
		case "DATABASE", "SCHEMA":
			return CreateDatabase
		}
	case "ALTER":
		w := s.word()
		for w == "ONLINE" || w == "OFFLINE" || w == "IGNORE" {
			w = s.word()
		}
		switch w {
		case "TABLE":
			return alterTable(&s)
		case "DATABASE", "SCHEMA":
			return AlterDatabase
		}
	case "DROP":
		w := s.word()
		if w == "TEMPORARY" {
			w = s.word()
		}
		switch w {
		case "TABLE", "TABLES":
			return DropTable
		case "INDEX":
			return DropIndex
		case "DATABASE", "SCHEMA":
			return DropDatabase
		}
	case "RENAME":
		return RenameTable
	case "TRUNCATE":
		return TruncateTable
	}
	return Other
}

// alterTable classifies an ALTER TABLE by its first operation, as Canal does.
func alterTable(s *scanner) Kind {
	if save := s.i; s.word() != "IF" { // MariaDB: ALTER TABLE IF EXISTS t
		s.i = save
	} else {
		s.word()
	}
	s.name()
	switch s.word() {
	case "RENAME":
		switch s.word() {
		case "COLUMN", "INDEX", "KEY":
			return AlterTable
		}
		return AlterTableRename
	case "ADD":
		switch s.word() {
		case "INDEX", "KEY", "UNIQUE", "FULLTEXT", "SPATIAL":
			return AlterTableAddIndex
		case "CONSTRAINT":
			for i := 0; i < 3; i++ {
				if s.word() == "UNIQUE" {
					return AlterTableAddIndex
				}
			}
		}
	case "DROP":
		switch s.word() {
		case "INDEX", "KEY":
			return AlterTableDropIndex
		}
	}
	return AlterTable
}

// scanner reads the words of a statement, skipping white space and comments.
type scanner struct {
	s string
	i int
}

func (s *scanner) skip() {
	for s.i < len(s.s) {
		switch c := s.s[s.i]; {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			s.i++
		case strings.HasPrefix(s.s[s.i:], "/*!"): // executable comment: its content runs
			s.i += 3
			for s.i < len(s.s) && s.s[s.i] >= '0' && s.s[s.i] <= '9' {
				s.i++
			}
		case strings.HasPrefix(s.s[s.i:], "*/"):
			s.i += 2
		case strings.HasPrefix(s.s[s.i:], "/*"):
			end := strings.Index(s.s[s.i+2:], "*/")
			if end < 0 {
				s.i = len(s.s)
				return
			}
			s.i += end + 4
		case strings.HasPrefix(s.s[s.i:], "--") || c == '#':
			end := strings.IndexByte(s.s[s.i:], '\n')
			if end < 0 {
				s.i = len(s.s)
				return
			}
			s.i += end + 1
		default:
			return
		}
	}
}

// word returns the next bare word in upper case, "" at a quoted name, a symbol or the end.
func (s *scanner) word() string {
	s.skip()
	start := s.i
	for s.i < len(s.s) && wordByte(s.s[s.i]) {
		s.i++
	}
	if s.i == start {
		if s.i < len(s.s) && s.s[s.i] != '`' && s.s[s.i] != '"' {
			s.i++ // a symbol
		}
		return ""
	}
	return strings.ToUpper(s.s[start:s.i])
}

// name skips a possibly qualified, possibly quoted table name.
func (s *scanner) name() {
	for {
		s.skip()
		if s.i < len(s.s) && (s.s[s.i] == '`' || s.s[s.i] == '"') {
			q := s.s[s.i]
			s.i++
			for s.i < len(s.s) {
				if s.s[s.i] == q {
					if s.i+1 < len(s.s) && s.s[s.i+1] == q {
						s.i += 2
						continue
					}
					s.i++
					break
				}
				s.i++
			}
		} else {
			for s.i < len(s.s) && wordByte(s.s[s.i]) {
				s.i++
			}
		}
		if s.i < len(s.s) && s.s[s.i] == '.' {
			s.i++
			continue
		}
		return
	}
}

func wordByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '$' || c >= 0x80
}
