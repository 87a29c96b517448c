package filter

import (
	"regexp"
)

// exprOp is the operation of a compiled expression node.
type exprOp uint8

const (
	eConst exprOp = iota + 1
	eColumn
	eAnd
	eOr
	eXor
	eNot
	eCmp     // args[0] cmp args[1]
	eNullEq  // <=>
	eIn      // args[0] IN (args[1:]...)
	eBetween // args[0] BETWEEN args[1] AND args[2]
	eIsNull
	eIsTruth // IS TRUE when want, IS FALSE otherwise
	eLike    // args[0] LIKE args[1]
	eRegexp  // args[0] REGEXP a literal pattern
	eArith
	eNeg
	eFunc
)

// cmpOp is a comparison operator.
type cmpOp uint8

const (
	cmpEQ cmpOp = iota + 1
	cmpNE
	cmpLT
	cmpLE
	cmpGT
	cmpGE
)

// test turns a three-way comparison into the operator's result.
func (op cmpOp) test(c int) bool {
	switch op {
	case cmpEQ:
		return c == 0
	case cmpNE:
		return c != 0
	case cmpLT:
		return c < 0
	case cmpLE:
		return c <= 0
	case cmpGT:
		return c > 0
	case cmpGE:
		return c >= 0
	}
	return false
}

// expr is a checked filter expression with column references still by name. It is shared by
// every table the filter selects and never modified after Compile, so bound programs may keep
// pointers into it.
type expr struct {
	op     exprOp
	cmp    cmpOp
	arith  arithOp
	fn     fnID
	not    bool // NOT IN, NOT BETWEEN, IS NOT, NOT LIKE, NOT REGEXP
	want   bool
	args   []*expr
	name   string // column name
	val    value  // literal
	hasCol bool   // refers to a column, so it cannot be folded to a constant

	// LIKE: esc is the escape character (-1 for none); a constant pattern is compiled once into
	// like, and likeNull records a NULL pattern.
	esc        rune
	like       *likePattern
	likeBinary bool
	likeNull   bool

	// REGEXP: the pattern compiled for case-sensitive and case-insensitive operands.
	re, reCI *regexp.Regexp
	reNull   bool
}

func newExpr(op exprOp, args ...*expr) *expr {
	e := &expr{op: op, args: args}
	for _, a := range args {
		e.hasCol = e.hasCol || a.hasCol
	}
	return e
}

// constValue evaluates an expression without columns, at compile time.
func constValue(e *expr) (value, error) {
	n, err := bindNode(e, nil)
	if err != nil {
		return value{}, err
	}
	return n.eval(nil), nil
}
