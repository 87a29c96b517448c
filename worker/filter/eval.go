package filter

import (
	"cmp"
	"fmt"
	"math"
	"regexp"
	"time"

	"github.com/dtsrepl/dts/worker/change"
)

// node is an expression bound to one table's column layout, evaluated once per row.
type node interface {
	eval(r change.Row) value
}

// bindNode resolves an expression's column names against t, folding parts without columns to
// constants so rows do not recompute them. t is nil for compile-time evaluation.
func bindNode(e *expr, t *change.Table) (node, error) {
	n, err := build(e, t)
	if err != nil {
		return nil, err
	}
	if !e.hasCol && e.op != eConst {
		return &constNode{v: n.eval(nil)}, nil
	}
	return n, nil
}

func bindAll(es []*expr, t *change.Table) ([]node, error) {
	ns := make([]node, len(es))
	for i, e := range es {
		n, err := bindNode(e, t)
		if err != nil {
			return nil, err
		}
		ns[i] = n
	}
	return ns, nil
}

func build(e *expr, t *change.Table) (node, error) {
	switch e.op {
	case eConst:
		return &constNode{v: e.val}, nil
	case eColumn:
		if t == nil {
			return nil, fmt.Errorf("column %q needs a table", e.name)
		}
		i := t.ColumnIndex(e.name)
		if i < 0 {
			return nil, fmt.Errorf("column %q does not exist", e.name)
		}
		c := &t.Columns[i]
		return &colNode{idx: i, typ: c.Type, ci: c.CaseInsensitive, tc: temporalClass(c.Type)}, nil
	case eRegexp:
		x, err := bindNode(e.args[0], t)
		if err != nil {
			return nil, err
		}
		return &regexpNode{x: x, re: e.re, reCI: e.reCI, null: e.reNull, not: e.not}, nil
	}
	args, err := bindAll(e.args, t)
	if err != nil {
		return nil, err
	}
	switch e.op {
	case eAnd:
		return &andNode{l: args[0], r: args[1]}, nil
	case eOr:
		return &orNode{l: args[0], r: args[1]}, nil
	case eXor:
		return &xorNode{l: args[0], r: args[1]}, nil
	case eNot:
		return &notNode{x: args[0]}, nil
	case eCmp:
		if c, ok := args[1].(*constNode); ok {
			return &cmpConstNode{op: e.cmp, l: args[0], c: c.v}, nil
		}
		return &cmpNode{op: e.cmp, l: args[0], r: args[1]}, nil
	case eNullEq:
		return &nullEqNode{l: args[0], r: args[1]}, nil
	case eIn:
		if vals, ok := constValues(args[1:]); ok {
			return &inConstNode{x: args[0], vals: vals, not: e.not}, nil
		}
		return &inNode{x: args[0], list: args[1:], not: e.not}, nil
	case eBetween:
		return &betweenNode{x: args[0], lo: args[1], hi: args[2], not: e.not}, nil
	case eIsNull:
		return &isNullNode{x: args[0], not: e.not}, nil
	case eIsTruth:
		return &isTruthNode{x: args[0], want: e.want, not: e.not}, nil
	case eLike:
		return &likeNode{x: args[0], pat: args[1], like: e.like, binary: e.likeBinary, null: e.likeNull, esc: e.esc, not: e.not}, nil
	case eArith:
		return &arithNode{op: e.arith, l: args[0], r: args[1]}, nil
	case eNeg:
		return &negNode{x: args[0]}, nil
	case eFunc:
		return &funcNode{fn: e.fn, args: args}, nil
	}
	return nil, fmt.Errorf("internal error: unknown expression operation %d", e.op)
}

type constNode struct{ v value }

func (n *constNode) eval(change.Row) value { return n.v }

// colNode reads one column, turning the row's Go value into a value without allocating for the
// types change.Row documents.
type colNode struct {
	idx int
	typ change.ColumnType
	ci  bool
	tc  uint8
}

func (n *colNode) eval(r change.Row) value {
	if n.idx >= len(r) {
		return value{}
	}
	switch x := r[n.idx].(type) {
	case nil:
		return value{}
	case int64:
		return value{k: kInt, n: uint64(x)}
	case uint64:
		return value{k: kUint, n: x}
	case string:
		if n.typ == change.TypeDecimal {
			if isDecText(x) {
				return decVal(x)
			}
			return numPrefix(x)
		}
		return value{k: kStr, s: x, ci: n.ci, tc: n.tc}
	case []byte:
		if n.typ == change.TypeBit {
			return uintVal(beUint(x))
		}
		return value{k: kBytes, b: x}
	case float64:
		return value{k: kFloat, n: math.Float64bits(x)}
	case float32:
		return value{k: kFloat, n: math.Float64bits(float64(x))}
	}
	return n.other(r[n.idx])
}

// other handles Go types outside change.Row's contract, so a producer slip degrades to a
// sensible comparison rather than a crash.
func (n *colNode) other(x any) value {
	switch x := x.(type) {
	case int:
		return intVal(int64(x))
	case int8:
		return intVal(int64(x))
	case int16:
		return intVal(int64(x))
	case int32:
		return intVal(int64(x))
	case uint:
		return uintVal(uint64(x))
	case uint8:
		return uintVal(uint64(x))
	case uint16:
		return uintVal(uint64(x))
	case uint32:
		return uintVal(uint64(x))
	case bool:
		return boolVal(x)
	case time.Time:
		return value{k: kStr, s: x.Format("2006-01-02 15:04:05.999999"), tc: tcDateTime}
	case fmt.Stringer:
		return value{k: kStr, s: x.String(), ci: n.ci, tc: n.tc}
	}
	return value{k: kStr, s: fmt.Sprint(x), ci: n.ci, tc: n.tc}
}

type andNode struct{ l, r node }

func (n *andNode) eval(r change.Row) value {
	a := n.l.eval(r).truth()
	if a == triFalse {
		return boolVal(false)
	}
	b := n.r.eval(r).truth()
	if b == triFalse {
		return boolVal(false)
	}
	if a == triNull || b == triNull {
		return value{}
	}
	return boolVal(true)
}

type orNode struct{ l, r node }

func (n *orNode) eval(r change.Row) value {
	a := n.l.eval(r).truth()
	if a == triTrue {
		return boolVal(true)
	}
	b := n.r.eval(r).truth()
	if b == triTrue {
		return boolVal(true)
	}
	if a == triNull || b == triNull {
		return value{}
	}
	return boolVal(false)
}

type xorNode struct{ l, r node }

func (n *xorNode) eval(r change.Row) value {
	a := n.l.eval(r).truth()
	if a == triNull {
		return value{}
	}
	b := n.r.eval(r).truth()
	if b == triNull {
		return value{}
	}
	return boolVal(a != b)
}

type notNode struct{ x node }

func (n *notNode) eval(r change.Row) value { return triVal(not3(n.x.eval(r).truth())) }

func not3(t tri) tri {
	switch t {
	case triTrue:
		return triFalse
	case triFalse:
		return triTrue
	}
	return triNull
}

type cmpNode struct {
	op   cmpOp
	l, r node
}

func (n *cmpNode) eval(r change.Row) value {
	a := n.l.eval(r)
	if a.k == kNull {
		return value{}
	}
	b := n.r.eval(r)
	if b.k == kNull {
		return value{}
	}
	return boolVal(n.op.test(compare(a, b)))
}

// cmpConstNode is a comparison with a constant, the most common filter shape.
type cmpConstNode struct {
	op cmpOp
	l  node
	c  value
}

func (n *cmpConstNode) eval(r change.Row) value {
	a := n.l.eval(r)
	if a.k == kNull || n.c.k == kNull {
		return value{}
	}
	if a.k == kInt && n.c.k == kInt {
		return boolVal(n.op.test(cmp.Compare(a.i(), n.c.i())))
	}
	return boolVal(n.op.test(compare(a, n.c)))
}

type nullEqNode struct{ l, r node }

func (n *nullEqNode) eval(r change.Row) value {
	a, b := n.l.eval(r), n.r.eval(r)
	if a.k == kNull || b.k == kNull {
		return boolVal(a.k == b.k)
	}
	return boolVal(compare(a, b) == 0)
}

// inNode is TRUE on a match, else NULL if x or any candidate is NULL, else FALSE.
type inNode struct {
	x    node
	list []node
	not  bool
}

func (n *inNode) eval(r change.Row) value {
	x := n.x.eval(r)
	if x.k == kNull {
		return value{}
	}
	sawNull := false
	for _, e := range n.list {
		v := e.eval(r)
		if v.k == kNull {
			sawNull = true
			continue
		}
		if compare(x, v) == 0 {
			return boolVal(!n.not)
		}
	}
	if sawNull {
		return value{}
	}
	return boolVal(n.not)
}

// inConstNode is IN over a list of constants, with the same result rules as inNode.
type inConstNode struct {
	x    node
	vals []value
	not  bool
}

func (n *inConstNode) eval(r change.Row) value {
	x := n.x.eval(r)
	if x.k == kNull {
		return value{}
	}
	sawNull := false
	for i := range n.vals {
		v := &n.vals[i]
		if v.k == kNull {
			sawNull = true
			continue
		}
		if x.k == kInt && v.k == kInt {
			if x.n == v.n {
				return boolVal(!n.not)
			}
			continue
		}
		if compare(x, *v) == 0 {
			return boolVal(!n.not)
		}
	}
	if sawNull {
		return value{}
	}
	return boolVal(n.not)
}

func constValues(ns []node) ([]value, bool) {
	vals := make([]value, len(ns))
	for i, n := range ns {
		c, ok := n.(*constNode)
		if !ok {
			return nil, false
		}
		vals[i] = c.v
	}
	return vals, true
}

// betweenNode is x >= lo AND x <= hi with SQL's AND, so one NULL bound can still decide FALSE.
type betweenNode struct {
	x, lo, hi node
	not       bool
}

func (n *betweenNode) eval(r change.Row) value {
	x := n.x.eval(r)
	if x.k == kNull {
		return value{}
	}
	ge, le := triNull, triNull
	if lo := n.lo.eval(r); lo.k != kNull {
		ge = boolTri(compare(x, lo) >= 0)
	}
	if hi := n.hi.eval(r); hi.k != kNull {
		le = boolTri(compare(x, hi) <= 0)
	}
	t := triTrue
	switch {
	case ge == triFalse || le == triFalse:
		t = triFalse
	case ge == triNull || le == triNull:
		t = triNull
	}
	if n.not {
		t = not3(t)
	}
	return triVal(t)
}

func boolTri(b bool) tri {
	if b {
		return triTrue
	}
	return triFalse
}

type isNullNode struct {
	x   node
	not bool
}

func (n *isNullNode) eval(r change.Row) value {
	return boolVal((n.x.eval(r).k == kNull) != n.not)
}

type isTruthNode struct {
	x         node
	want, not bool
}

func (n *isTruthNode) eval(r change.Row) value {
	t := n.x.eval(r).truth()
	return boolVal((t == boolTri(n.want)) != n.not)
}

// likeNode uses the pattern compiled at Compile when it is a constant, and compiles a
// column-dependent pattern per row.
type likeNode struct {
	x, pat node
	like   *likePattern
	binary bool
	null   bool
	esc    rune
	not    bool
}

func (n *likeNode) eval(r change.Row) value {
	if n.null {
		return value{}
	}
	x := toText(n.x.eval(r))
	if x.k == kNull {
		return value{}
	}
	p, binary, ci := n.like, n.binary, x.ci
	if p == nil {
		pv := toText(n.pat.eval(r))
		if pv.k == kNull {
			return value{}
		}
		p, binary, ci = compileLike(pv.textString(), n.esc), pv.k == kBytes, ci && pv.ci
	}
	return boolVal(p.like(x, ci, binary) != n.not)
}

type regexpNode struct {
	x        node
	re, reCI *regexp.Regexp
	null     bool
	not      bool
}

func (n *regexpNode) eval(r change.Row) value {
	if n.null {
		return value{}
	}
	x := toText(n.x.eval(r))
	var m bool
	switch {
	case x.k == kNull:
		return value{}
	case x.k == kBytes:
		m = n.re.Match(x.b)
	case x.ci:
		m = n.reCI.MatchString(x.s)
	default:
		m = n.re.MatchString(x.s)
	}
	return boolVal(m != n.not)
}

type arithNode struct {
	op   arithOp
	l, r node
}

func (n *arithNode) eval(r change.Row) value {
	a := n.l.eval(r)
	if a.k == kNull {
		return value{}
	}
	return arith(n.op, a, n.r.eval(r))
}

type negNode struct{ x node }

func (n *negNode) eval(r change.Row) value {
	v := n.x.eval(r)
	if v.k == kNull {
		return v
	}
	return neg(v)
}
