package filter

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/pingcap/tidb/pkg/parser"
	"github.com/pingcap/tidb/pkg/parser/ast"
	"github.com/pingcap/tidb/pkg/parser/format"
	"github.com/pingcap/tidb/pkg/parser/opcode"
	"github.com/pingcap/tidb/pkg/parser/test_driver"
)

// wrapper turns a filter into a statement the parser accepts; the expression is its WHERE.
const wrapper = "SELECT 1 FROM t WHERE "

// maxExprLen bounds the text we hand the parser.
const maxExprLen = 64 << 10

// maxDepth bounds nesting, which bounds recursion when binding and evaluating.
const maxDepth = 1000

// parseFilter parses and checks a filter expression.
func parseFilter(text string) (*expr, error) {
	if len(text) > maxExprLen {
		return nil, fmt.Errorf("is %d bytes long; the limit is %d", len(text), maxExprLen)
	}
	if !utf8.ValidString(text) {
		return nil, errors.New("is not valid UTF-8")
	}
	if err := checkLexical(text); err != nil {
		return nil, err
	}
	where, err := parseWhere(text)
	if err != nil {
		return nil, err
	}
	return convert(where, 0)
}

// checkLexical rejects what the parser would accept but a filter must not hold: a ';' that
// starts another statement, and comments, which can hide SQL (/*! ... */ is executed by MySQL
// and by the parser). It skips quoted strings and identifiers, where both are plain text.
func checkLexical(s string) error {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '\'', '"', '`':
			i = skipQuoted(s, i)
		case ';':
			return fmt.Errorf("must be a single expression: ';' at character %d is not allowed", charPos(s, i))
		case '#':
			return fmt.Errorf("comments are not allowed ('#' at character %d)", charPos(s, i))
		case '/':
			if i+1 < len(s) && s[i+1] == '*' {
				return fmt.Errorf("comments are not allowed ('/*' at character %d)", charPos(s, i))
			}
		case '-':
			if i+1 < len(s) && s[i+1] == '-' && (i+2 == len(s) || s[i+2] <= ' ') {
				return fmt.Errorf("comments are not allowed ('--' at character %d)", charPos(s, i))
			}
		}
	}
	return nil
}

// skipQuoted returns the index of the quote closing the one at s[i], or the last index when
// it is unterminated (the parser then reports it). Quotes double to escape themselves, and a
// backslash escapes in strings but not in `identifiers`.
func skipQuoted(s string, i int) int {
	q := s[i]
	for j := i + 1; j < len(s); j++ {
		switch s[j] {
		case '\\':
			if q != '`' {
				j++
			}
		case q:
			if j+1 < len(s) && s[j+1] == q {
				j++
				continue
			}
			return j
		}
	}
	return len(s) - 1
}

// charPos is the 1-based character position of byte offset i.
func charPos(s string, i int) int {
	return utf8.RuneCountInString(s[:min(i, len(s))]) + 1
}

// parseWhere runs the parser on the wrapped expression and returns the WHERE node, after making
// sure nothing but the expression was written.
func parseWhere(text string) (ast.ExprNode, error) {
	sql := wrapper + text
	stmts, err := parseSQL(sql)
	if err != nil {
		return nil, syntaxError(text, sql, err)
	}
	if len(stmts) != 1 {
		return nil, errors.New("must be a single expression")
	}
	sel, ok := stmts[0].(*ast.SelectStmt)
	if !ok || sel.Where == nil {
		return nil, errors.New("must be a single expression, not a query")
	}
	if clause := extraClause(sel); clause != "" {
		return nil, fmt.Errorf("must be a single expression: %s is not allowed", clause)
	}
	return sel.Where, nil
}

// parseSQL guards the third-party parser: a filter is operator input, and a crash in the
// parser must become a rejected filter, not a dead dispatcher.
func parseSQL(sql string) (stmts []ast.StmtNode, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("parser failed: %v", r)
		}
	}()
	stmts, _, err = parser.New().ParseSQL(sql)
	return stmts, err
}

// extraClause names a clause written after the expression, such as ORDER BY.
func extraClause(sel *ast.SelectStmt) string {
	switch {
	case sel.GroupBy != nil:
		return "GROUP BY"
	case sel.Having != nil:
		return "HAVING"
	case len(sel.WindowSpecs) > 0:
		return "WINDOW"
	case sel.OrderBy != nil:
		return "ORDER BY"
	case sel.Limit != nil:
		return "LIMIT"
	case sel.LockInfo != nil && sel.LockInfo.LockType != ast.SelectLockNone:
		return "a locking clause"
	case sel.SelectIntoOpt != nil:
		return "INTO"
	case sel.Distinct, sel.With != nil, len(sel.TableHints) > 0, sel.IsInBraces, sel.AfterSetOperator != nil,
		sel.Kind != ast.SelectStmtKindSelect:
		return "a query"
	}
	return ""
}

// syntaxError rewrites a parser error so that positions count from the start of the filter and
// the wrapper statement never shows. The parser reports `line L column C near "REST"`, where
// REST is the statement from the offending token on.
func syntaxError(text, sql string, err error) error {
	msg := err.Error()
	if i := strings.Index(msg, ` near "`); i >= 0 && strings.HasPrefix(msg, "line ") {
		rest := msg[i+len(` near "`):]
		near, total := rest, -1
		if j := strings.LastIndex(rest, `"`); j >= 0 {
			near = rest[:j]
			if k := strings.Index(rest[j:], "(total length "); k >= 0 {
				if n, err := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(rest[j+k+len("(total length "):]), ")")); err == nil {
					total = n
				}
			}
		}
		off := len(sql) - len(near)
		if total >= 0 {
			off = len(sql) - total
		}
		if off >= len(wrapper) && off <= len(sql) && strings.HasPrefix(sql[off:], near) {
			off -= len(wrapper)
			if off >= len(text) {
				return errors.New("syntax error: the expression ends too early")
			}
			return fmt.Errorf("syntax error at character %d near %q", charPos(text, off), clip(text[off:], 40))
		}
	}
	if i := strings.Index(msg, "near "); i >= 0 && strings.HasPrefix(msg, "line ") {
		msg = msg[i:]
	}
	// Drop the parser's internal error code, "[types:1367]".
	if strings.HasPrefix(msg, "[") {
		if i := strings.IndexByte(msg, ']'); i > 0 {
			msg = msg[i+1:]
		}
	}
	return fmt.Errorf("syntax error: %s", strings.TrimSpace(strings.ReplaceAll(msg, wrapper, "")))
}

// clip shortens s to about n bytes on a character boundary.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "..."
}

// convert checks a parsed expression node and builds its expr.
func convert(n ast.ExprNode, depth int) (*expr, error) {
	if depth > maxDepth {
		return nil, fmt.Errorf("is nested more than %d levels deep", maxDepth)
	}
	d := depth + 1
	switch n := n.(type) {
	case *ast.ParenthesesExpr:
		return convert(n.Expr, d)
	case *test_driver.ValueExpr:
		v, err := literal(n)
		if err != nil {
			return nil, err
		}
		return &expr{op: eConst, val: v}, nil
	case *test_driver.ParamMarkerExpr:
		return nil, errors.New("parameters (?) are not supported; write the value")
	case *ast.ColumnNameExpr:
		if n.Name.Table.O != "" || n.Name.Schema.O != "" {
			return nil, fmt.Errorf("qualified column name %s is not supported; write the column name alone (%s)",
				n.Name.OrigColName(), n.Name.Name.O)
		}
		return &expr{op: eColumn, name: n.Name.Name.O, hasCol: true}, nil
	case *ast.BinaryOperationExpr:
		return convertBinary(n, d)
	case *ast.UnaryOperationExpr:
		x, err := convert(n.V, d)
		if err != nil {
			return nil, err
		}
		switch n.Op {
		case opcode.Not, opcode.Not2:
			return newExpr(eNot, x), nil
		case opcode.Minus:
			return newExpr(eNeg, x), nil
		case opcode.Plus:
			return x, nil
		}
		return nil, fmt.Errorf("operator %s is not supported", opText(n.Op))
	case *ast.PatternInExpr:
		if n.Sel != nil {
			return nil, errors.New("subqueries are not supported")
		}
		args, err := convertAll(append([]ast.ExprNode{n.Expr}, n.List...), d)
		if err != nil {
			return nil, err
		}
		e := newExpr(eIn, args...)
		e.not = n.Not
		return e, nil
	case *ast.BetweenExpr:
		args, err := convertAll([]ast.ExprNode{n.Expr, n.Left, n.Right}, d)
		if err != nil {
			return nil, err
		}
		e := newExpr(eBetween, args...)
		e.not = n.Not
		return e, nil
	case *ast.IsNullExpr:
		x, err := convert(n.Expr, d)
		if err != nil {
			return nil, err
		}
		e := newExpr(eIsNull, x)
		e.not = n.Not
		return e, nil
	case *ast.IsTruthExpr:
		x, err := convert(n.Expr, d)
		if err != nil {
			return nil, err
		}
		e := newExpr(eIsTruth, x)
		e.want, e.not = n.True > 0, n.Not
		return e, nil
	case *ast.PatternLikeOrIlikeExpr:
		return convertLike(n, d)
	case *ast.PatternRegexpExpr:
		return convertRegexp(n, d)
	case *ast.FuncCallExpr:
		return convertFunc(n, d)
	case *ast.SubqueryExpr, *ast.ExistsSubqueryExpr, *ast.CompareSubqueryExpr:
		return nil, errors.New("subqueries are not supported")
	case *ast.AggregateFuncExpr:
		return nil, fmt.Errorf("aggregate function %s is not supported", strings.ToUpper(n.F))
	case *ast.WindowFuncExpr:
		return nil, fmt.Errorf("window function %s is not supported", strings.ToUpper(n.Name))
	case *ast.VariableExpr:
		at := "@"
		if n.IsSystem {
			at = "@@"
		}
		return nil, fmt.Errorf("variable %s%s is not supported; write the value", at, n.Name)
	case *ast.RowExpr:
		return nil, errors.New("row constructors such as (a, b) are not supported")
	case *ast.CaseExpr:
		return nil, errors.New("CASE is not supported")
	case *ast.FuncCastExpr:
		return nil, errors.New("CAST and CONVERT are not supported")
	case *ast.SetCollationExpr:
		return nil, errors.New("COLLATE is not supported")
	case *ast.DefaultExpr:
		return nil, errors.New("DEFAULT is not supported")
	}
	return nil, fmt.Errorf("%s is not supported", describe(n))
}

func convertAll(ns []ast.ExprNode, depth int) ([]*expr, error) {
	out := make([]*expr, len(ns))
	for i, n := range ns {
		e, err := convert(n, depth)
		if err != nil {
			return nil, err
		}
		out[i] = e
	}
	return out, nil
}

func convertBinary(n *ast.BinaryOperationExpr, depth int) (*expr, error) {
	var e *expr
	switch n.Op {
	case opcode.LogicAnd:
		e = &expr{op: eAnd}
	case opcode.LogicOr:
		e = &expr{op: eOr}
	case opcode.LogicXor:
		e = &expr{op: eXor}
	case opcode.EQ:
		e = &expr{op: eCmp, cmp: cmpEQ}
	case opcode.NE:
		e = &expr{op: eCmp, cmp: cmpNE}
	case opcode.LT:
		e = &expr{op: eCmp, cmp: cmpLT}
	case opcode.LE:
		e = &expr{op: eCmp, cmp: cmpLE}
	case opcode.GT:
		e = &expr{op: eCmp, cmp: cmpGT}
	case opcode.GE:
		e = &expr{op: eCmp, cmp: cmpGE}
	case opcode.NullEQ:
		e = &expr{op: eNullEq}
	case opcode.Plus:
		e = &expr{op: eArith, arith: opAdd}
	case opcode.Minus:
		e = &expr{op: eArith, arith: opSub}
	case opcode.Mul:
		e = &expr{op: eArith, arith: opMul}
	case opcode.Div:
		e = &expr{op: eArith, arith: opDiv}
	case opcode.IntDiv:
		e = &expr{op: eArith, arith: opIntDiv}
	case opcode.Mod:
		e = &expr{op: eArith, arith: opMod}
	default:
		return nil, fmt.Errorf("operator %s is not supported", opText(n.Op))
	}
	args, err := convertAll([]ast.ExprNode{n.L, n.R}, depth)
	if err != nil {
		return nil, err
	}
	e.args = args
	e.hasCol = args[0].hasCol || args[1].hasCol
	return e, nil
}

func convertLike(n *ast.PatternLikeOrIlikeExpr, depth int) (*expr, error) {
	if !n.IsLike {
		return nil, errors.New("ILIKE is not supported; LIKE is case-insensitive on case-insensitive columns")
	}
	if n.Escape >= utf8.RuneSelf {
		return nil, errors.New("the ESCAPE character must be a single ASCII character")
	}
	args, err := convertAll([]ast.ExprNode{n.Expr, n.Pattern}, depth)
	if err != nil {
		return nil, err
	}
	e := newExpr(eLike, args...)
	e.not = n.Not
	e.esc = rune(n.Escape)
	if n.Escape == 0 {
		e.esc = -1
	}
	if !args[1].hasCol {
		p, err := constValue(args[1])
		if err != nil {
			return nil, err
		}
		p = toText(p)
		if p.k == kNull {
			e.likeNull = true
		} else {
			e.like = compileLike(p.textString(), e.esc)
			e.likeBinary = p.k == kBytes
		}
	}
	return e, nil
}

func convertRegexp(n *ast.PatternRegexpExpr, depth int) (*expr, error) {
	args, err := convertAll([]ast.ExprNode{n.Expr, n.Pattern}, depth)
	if err != nil {
		return nil, err
	}
	if args[1].hasCol {
		return nil, errors.New("the REGEXP pattern must be a constant string, not a column")
	}
	p, err := constValue(args[1])
	if err != nil {
		return nil, err
	}
	e := newExpr(eRegexp, args[0])
	e.not = n.Not
	p = toText(p)
	if p.k == kNull {
		e.reNull = true
		return e, nil
	}
	pat := p.textString()
	if e.re, err = regexp.Compile(pat); err != nil {
		return nil, fmt.Errorf("bad regular expression %q in REGEXP: %w", pat, err)
	}
	if e.reCI, err = regexp.Compile("(?i)" + pat); err != nil {
		return nil, fmt.Errorf("bad regular expression %q in REGEXP: %w", pat, err)
	}
	return e, nil
}

func convertFunc(n *ast.FuncCallExpr, depth int) (*expr, error) {
	name := strings.ToUpper(n.FnName.O)
	if n.Tp == ast.FuncCallExprTypeGeneric || n.Schema.O != "" {
		return nil, fmt.Errorf("function %s.%s is not supported (supported: %s)", n.Schema.O, n.FnName.O, supportedFuncs)
	}
	id, minArgs, maxArgs, ok := lookupFunc(n.FnName.L)
	if !ok {
		if !isIdentifier(n.FnName.L) {
			// The parser names the function behind syntax such as DATE '2021-01-01' internally;
			// show the syntax instead.
			return nil, fmt.Errorf("%s is not supported", describe(n))
		}
		return nil, fmt.Errorf("function %s is not supported (supported: %s)", name, supportedFuncs)
	}
	switch {
	case len(n.Args) < minArgs || maxArgs >= 0 && len(n.Args) > maxArgs:
		want := strconv.Itoa(minArgs)
		switch {
		case maxArgs < 0:
			want = "at least " + want
		case maxArgs != minArgs:
			want += " to " + strconv.Itoa(maxArgs)
		}
		noun := "arguments"
		if want == "1" {
			noun = "argument"
		}
		return nil, fmt.Errorf("%s takes %s %s, got %d", name, want, noun, len(n.Args))
	}
	args, err := convertAll(n.Args, depth)
	if err != nil {
		return nil, err
	}
	e := newExpr(eFunc, args...)
	e.fn = id
	return e, nil
}

// literal converts a parsed constant.
func literal(v *test_driver.ValueExpr) (value, error) {
	switch v.Kind() {
	case test_driver.KindNull:
		return value{}, nil
	case test_driver.KindInt64:
		return intVal(v.GetInt64()), nil
	case test_driver.KindUint64:
		return uintVal(v.GetUint64()), nil
	case test_driver.KindFloat32:
		return floatVal(float64(v.GetFloat32())), nil
	case test_driver.KindFloat64:
		return floatVal(v.GetFloat64()), nil
	case test_driver.KindString:
		if v.Type.GetCharset() == "binary" {
			return value{k: kBytes, b: []byte(v.GetString())}, nil
		}
		return strVal(v.GetString(), true), nil
	case test_driver.KindBytes:
		return value{k: kBytes, b: append([]byte(nil), v.GetBytes()...)}, nil
	case test_driver.KindBinaryLiteral:
		return value{k: kBytes, b: append([]byte(nil), v.GetBinaryLiteral()...), hex: true}, nil
	case test_driver.KindMysqlDecimal:
		if d := v.GetMysqlDecimal(); d != nil {
			if s := d.String(); isDecText(s) {
				return decVal(s), nil
			}
		}
	}
	return value{}, fmt.Errorf("literal %s is not supported", describe(v))
}

func isIdentifier(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c == '_' || c == '$' || isDigit(c) || c >= 'a' && c <= 'z') {
			return false
		}
	}
	return s != ""
}

func opText(op opcode.Op) string {
	var sb strings.Builder
	op.Format(&sb)
	return sb.String()
}

// describe shows a node as SQL for error messages.
func describe(n ast.Node) string {
	var sb strings.Builder
	if err := n.Restore(format.NewRestoreCtx(format.DefaultRestoreFlags, &sb)); err != nil || sb.Len() == 0 {
		return strings.TrimPrefix(fmt.Sprintf("%T", n), "*ast.")
	}
	return clip(sb.String(), 60)
}
