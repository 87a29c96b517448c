package filter

import (
	"strings"
	"unicode/utf8"

	"github.com/dtsrepl/dts/worker/change"
)

// fnID is a supported SQL function.
type fnID uint8

const (
	fnLower fnID = iota + 1
	fnUpper
	fnLength
	fnCharLength
	fnCoalesce
	fnIfNull
	fnAbs
	fnConcat
)

// supportedFuncs lists the functions for error messages.
const supportedFuncs = "ABS, CHAR_LENGTH, CHARACTER_LENGTH, COALESCE, CONCAT, IFNULL, LCASE, LENGTH, LOWER, UCASE, UPPER"

// lookupFunc resolves a lower-case function name to its id and argument count bounds
// (maxArgs < 0 for no limit).
func lookupFunc(name string) (id fnID, minArgs, maxArgs int, ok bool) {
	switch name {
	case "lower", "lcase":
		return fnLower, 1, 1, true
	case "upper", "ucase":
		return fnUpper, 1, 1, true
	case "length":
		return fnLength, 1, 1, true
	case "char_length", "character_length":
		return fnCharLength, 1, 1, true
	case "coalesce":
		return fnCoalesce, 1, -1, true
	case "ifnull":
		return fnIfNull, 2, 2, true
	case "abs":
		return fnAbs, 1, 1, true
	case "concat":
		return fnConcat, 1, -1, true
	}
	return 0, 0, 0, false
}

type funcNode struct {
	fn   fnID
	args []node
}

func (n *funcNode) eval(r change.Row) value {
	switch n.fn {
	case fnCoalesce:
		for _, a := range n.args {
			if v := a.eval(r); v.k != kNull {
				return v
			}
		}
		return value{}
	case fnIfNull:
		if v := n.args[0].eval(r); v.k != kNull {
			return v
		}
		return n.args[1].eval(r)
	case fnConcat:
		return n.concat(r)
	}
	v := n.args[0].eval(r)
	if v.k == kNull {
		return v
	}
	switch n.fn {
	case fnLower, fnUpper:
		return changeCase(toText(v), n.fn == fnUpper)
	case fnLength:
		return intVal(int64(toText(v).textLen()))
	case fnCharLength:
		t := toText(v)
		if t.k == kBytes {
			return intVal(int64(len(t.b)))
		}
		return intVal(int64(utf8.RuneCountInString(t.s)))
	case fnAbs:
		return abs(v)
	}
	return value{}
}

// changeCase is LOWER/UPPER. MySQL leaves binary strings alone, and the result keeps the
// operand's collation, so LOWER(col) still compares case-sensitively when col does.
func changeCase(v value, upper bool) value {
	if v.k != kStr {
		return v
	}
	s := strings.ToLower(v.s)
	if upper {
		s = strings.ToUpper(v.s)
	}
	return value{k: kStr, s: s, ci: v.ci}
}

// concat is CONCAT: NULL if any argument is NULL, binary if any argument is binary, and
// case-insensitive only if every text argument is.
func (n *funcNode) concat(r change.Row) value {
	var sb strings.Builder
	binary, ci := false, true
	for _, a := range n.args {
		v := a.eval(r)
		if v.k == kNull {
			return value{}
		}
		if v.isText() {
			ci = ci && (v.k == kBytes || v.ci)
		}
		t := toText(v)
		if t.k == kBytes {
			binary = true
			sb.Write(t.b)
		} else {
			sb.WriteString(t.s)
		}
	}
	if binary {
		return value{k: kBytes, b: []byte(sb.String())}
	}
	return strVal(sb.String(), ci)
}
