// Package filter decides which tables a task streams and which rows of them it keeps.
//
// A task's filters each name a database, select tables of it by exact name or by a regular
// expression between slashes, and may carry a MySQL boolean expression that a row must satisfy.
// A table is streamed when any filter selects it, and a row is kept when any selecting filter
// keeps it. Expressions are checked once by Compile, bound to each table's column layout the
// first time a row of that layout is seen, and then evaluated per row without allocating on
// the common paths.
package filter

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"sync"

	"github.com/dtsrepl/dts/api"
	"github.com/dtsrepl/dts/worker/change"
)

// maxCache bounds each cache of a Set. Schema changes make new *change.Table values, so a
// long-running task would otherwise grow its caches without end; resetting is cheap because
// entries are rebuilt on demand.
const maxCache = 4096

// Set is a task's compiled filters, compiled once per spec. Not safe for concurrent use (the
// pipeline's goroutine filters rows with it); Scope gives the table selection to other
// goroutines.
type Set struct {
	filters []*compiled
	dbs     map[string]struct{}
	scope   map[tableKey]bool
	tables  map[*change.Table]*binding
}

// compiled is one checked filter.
type compiled struct {
	db   string
	name string         // exact table name, when re is nil and all is false
	re   *regexp.Regexp // anchored table name pattern
	all  bool           // empty match: every table of db
	text string         // the expression as written, for messages
	expr *expr          // nil keeps every row
}

func (f *compiled) selects(db, table string) bool {
	switch {
	case db != f.db:
		return false
	case f.all:
		return true
	case f.re != nil:
		return f.re.MatchString(table)
	}
	return table == f.name
}

type tableKey struct{ db, table string }

// binding is what a Set knows about one table layout: whether it is in scope, and the filter
// programs bound to its columns. err is kept so every row of a table reports the same problem.
type binding struct {
	inScope bool
	keepAll bool
	progs   []node
	err     error
}

// Compile checks and compiles a task's filters. Errors are *api.Error values (code -400) naming the field,
// e.g. "task.filters[1].match: bad regular expression: ..." or "task.filters[0].filter: ...".
func Compile(filters []api.Filter) (*Set, error) {
	s := &Set{
		dbs:    make(map[string]struct{}),
		scope:  make(map[tableKey]bool),
		tables: make(map[*change.Table]*binding),
	}
	for i, f := range filters {
		field := fmt.Sprintf("task.filters[%d]", i)
		if strings.TrimSpace(f.DBName) == "" {
			return nil, api.FieldError(field+".dbname", "is required")
		}
		c := &compiled{db: f.DBName, text: strings.TrimSpace(f.Filter)}
		if err := c.compileMatch(f.Match); err != nil {
			return nil, api.FieldError(field+".match", "%v", err)
		}
		if c.text != "" {
			e, err := parseFilter(c.text)
			if err != nil {
				return nil, api.FieldError(field+".filter", "%v", err)
			}
			if !isCondition(e) {
				return nil, api.FieldError(field+".filter", "must be a condition (a comparison, IN, LIKE, REGEXP, IS, BETWEEN, or such joined with AND, OR, NOT), not a value such as %q: the truth of a value would decide silently which rows are kept", c.text)
			}
			c.expr = e
		}
		s.filters = append(s.filters, c)
		s.dbs[c.db] = struct{}{}
	}
	return s, nil
}

func (c *compiled) compileMatch(m string) error {
	switch {
	case m == "":
		c.all = true
	case strings.HasPrefix(m, "/"):
		if len(m) < 2 || !strings.HasSuffix(m, "/") {
			return fmt.Errorf("a regular expression must be written between slashes, as /orders_\\d+/; got %q", m)
		}
		re := m[1 : len(m)-1]
		if re == "" {
			return errors.New("empty regular expression //; leave match empty to select every table")
		}
		// Compile the expression alone first so the error quotes what the operator wrote.
		if _, err := regexp.Compile(re); err != nil {
			return fmt.Errorf("bad regular expression: %w", err)
		}
		anchored, err := regexp.Compile("^(?:" + re + ")$")
		if err != nil {
			return fmt.Errorf("bad regular expression: %w", err)
		}
		c.re = anchored
	default:
		c.name = m
	}
	return nil
}

// Table reports whether any filter selects table of database db.
func (s *Set) Table(db, table string) bool {
	key := tableKey{db, table}
	if in, ok := s.scope[key]; ok {
		return in
	}
	in := false
	for _, f := range s.filters {
		if f.selects(db, table) {
			in = true
			break
		}
	}
	if len(s.scope) >= maxCache {
		clear(s.scope)
	}
	s.scope[key] = in
	return in
}

// Scope is a Set's table selection, safe for concurrent use: the binlog reader consults it from
// its own goroutines while the pipeline filters rows with the Set. It shares the compiled
// filters and keeps a cache of its own.
type Scope struct {
	mu sync.Mutex
	s  *Set
}

// Scope returns the table selection of s.
func (s *Set) Scope() *Scope {
	return &Scope{s: &Set{filters: s.filters, dbs: s.dbs, scope: make(map[tableKey]bool), tables: make(map[*change.Table]*binding)}}
}

// Table reports whether any filter selects table of database db.
func (sc *Scope) Table(db, table string) bool {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	return sc.s.Table(db, table)
}

// Database reports whether any filter names database db.
func (sc *Scope) Database(db string) bool { return sc.s.Database(db) }

// Unmatched returns the indexes of the filters that select none of the tables, in filter order.
func (s *Set) Unmatched(tables []api.TableRef) []int {
	var out []int
	for i, f := range s.filters {
		found := false
		for _, t := range tables {
			if f.selects(t.DB, t.Table) {
				found = true
				break
			}
		}
		if !found {
			out = append(out, i)
		}
	}
	return out
}

// Database reports whether any filter names database db (used for database-level DDL).
func (s *Set) Database(db string) bool {
	_, ok := s.dbs[db]
	return ok
}

// Keep reports whether a change passes the row filters. Row kinds: Insert and Snapshot test After;
// Delete tests Before; Update is kept if Before OR After matches. Other kinds (DDL) return true.
// A table no filter selects returns false. An error means the expression cannot be evaluated for
// this table (for example it names a column the table does not have); the caller fails the task with it,
// so the message tells the operator what to fix: `filter "status = 1" on shop.orders: column "status" does not exist`.
func (s *Set) Keep(ev *change.Event) (bool, error) {
	if ev == nil {
		return false, errors.New("filter: nil event")
	}
	switch ev.Kind {
	case change.Insert, change.Snapshot, change.Update, change.Delete:
	default:
		return true, nil
	}
	t := ev.Table
	if t == nil {
		return false, fmt.Errorf("filter: %s event without a table", ev.Kind)
	}
	b := s.bind(t)
	switch {
	case !b.inScope:
		return false, nil
	case b.err != nil:
		return false, b.err
	case b.keepAll:
		return true, nil
	}
	switch ev.Kind {
	case change.Delete:
		return s.match(b, ev, ev.Before)
	case change.Update:
		if ev.Before == nil && ev.After == nil {
			return false, fmt.Errorf("filter: update event on %s.%s has no row image", t.Schema, t.Name)
		}
		if ev.Before != nil {
			if ok, err := s.match(b, ev, ev.Before); ok || err != nil {
				return ok, err
			}
		}
		if ev.After == nil {
			return false, nil
		}
	}
	return s.match(b, ev, ev.After)
}

// match reports whether any bound filter program holds for row.
func (s *Set) match(b *binding, ev *change.Event, row change.Row) (bool, error) {
	if len(row) != len(ev.Table.Columns) {
		return false, fmt.Errorf("filter: %s row on %s.%s has %d values but the table has %d columns",
			ev.Kind, ev.Table.Schema, ev.Table.Name, len(row), len(ev.Table.Columns))
	}
	for _, p := range b.progs {
		if p.eval(row).truth() == triTrue {
			return true, nil
		}
	}
	return false, nil
}

// bind returns the cached binding of t, building it on first sight. When a selecting filter
// keeps every row, the other filters' expressions are never evaluated for t, so they are not
// bound and cannot fail it.
func (s *Set) bind(t *change.Table) *binding {
	if b, ok := s.tables[t]; ok {
		return b
	}
	b := &binding{}
	for _, f := range s.filters {
		if !f.selects(t.Schema, t.Name) {
			continue
		}
		b.inScope = true
		if f.expr == nil {
			b.keepAll, b.progs, b.err = true, nil, nil
			break
		}
		if b.err != nil {
			continue
		}
		n, err := bindNode(f.expr, t)
		if err != nil {
			b.err = fmt.Errorf("filter %q on %s.%s: %w", f.text, t.Schema, t.Name, err)
			continue
		}
		b.progs = append(b.progs, n)
	}
	if len(s.tables) >= maxCache {
		clear(s.tables)
	}
	s.tables[t] = b
	return b
}

// isCondition reports whether e is a condition: an operator whose result is true, false or
// NULL by its meaning. A string, a number, a column or arithmetic at the top is a value whose
// truth (a string is false unless it starts with a non-zero number) is rarely what was meant.
// COALESCE and IFNULL are conditions when they choose among conditions, with constants as
// fallbacks (IFNULL(status > 1, FALSE)).
func isCondition(e *expr) bool {
	switch e.op {
	case eAnd, eOr, eXor, eNot, eCmp, eNullEq, eIn, eBetween, eIsNull, eIsTruth, eLike, eRegexp:
		return true
	case eFunc:
		if e.fn != fnCoalesce && e.fn != fnIfNull {
			return false
		}
		any := false
		for _, a := range e.args {
			switch {
			case isCondition(a):
				any = true
			case a.hasCol:
				return false
			}
		}
		return any
	}
	return false
}

// Databases lists the databases the filters name, in filter order, once each.
func Databases(fs []api.Filter) []string {
	seen := map[string]bool{}
	var out []string
	for _, f := range fs {
		if !seen[f.DBName] {
			seen[f.DBName] = true
			out = append(out, f.DBName)
		}
	}
	return out
}
