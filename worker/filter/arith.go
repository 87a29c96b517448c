package filter

import (
	"math"
	"math/big"
	"math/bits"
	"strconv"

	"github.com/shopspring/decimal"
)

// arithOp is an arithmetic operator.
type arithOp uint8

const (
	opAdd arithOp = iota + 1
	opSub
	opMul
	opDiv    // /, which MySQL computes as a decimal (or float) even for integers
	opIntDiv // DIV
	opMod    // % and MOD
)

// maxScale is MySQL's limit on the fraction digits of a decimal result.
const maxScale = 30

// divScaleIncrement is MySQL's default div_precision_increment.
const divScaleIncrement = 4

// arith applies op. Integer arithmetic is exact and moves to decimals where it would leave the
// BIGINT ranges instead of failing as MySQL does; division by zero is NULL.
func arith(op arithOp, a, b value) value {
	if a.k == kNull || b.k == kNull {
		return value{}
	}
	a, b = toNum(a), toNum(b)
	if a.k == kFloat || b.k == kFloat {
		return floatArith(op, asFloat(a), asFloat(b))
	}
	if a.k != kDec && b.k != kDec && op != opDiv {
		if v, ok := intArith(op, a, b); ok {
			return v
		}
	}
	return decArith(op, a, b)
}

// intArith handles integer operands whose result fits BIGINT or BIGINT UNSIGNED; ok is false
// when the caller must fall back to decimals.
func intArith(op arithOp, a, b value) (value, bool) {
	if a.k == kInt && b.k == kInt {
		x, y := a.i(), b.i()
		switch op {
		case opAdd:
			if s := x + y; (x^s)&(y^s) >= 0 {
				return intVal(s), true
			}
		case opSub:
			if s := x - y; (x^y)&(x^s) >= 0 {
				return intVal(s), true
			}
		case opMul:
			if x == 0 || y == 0 {
				return intVal(0), true
			}
			p := x * y
			if p/y == x && !(x == -1 && y == math.MinInt64) && !(y == -1 && x == math.MinInt64) {
				return intVal(p), true
			}
		case opIntDiv:
			if y == 0 {
				return value{}, true
			}
			if x == math.MinInt64 && y == -1 {
				return uintVal(1 << 63), true
			}
			return intVal(x / y), true
		case opMod:
			if y == 0 {
				return value{}, true
			}
			if y == -1 {
				return intVal(0), true
			}
			return intVal(x % y), true
		}
	}
	an, x := intParts(a)
	bn, y := intParts(b)
	if an || bn {
		return value{}, false
	}
	switch op {
	case opAdd:
		if s, c := bits.Add64(x, y, 0); c == 0 {
			return uintVal(s), true
		}
	case opSub:
		if x >= y {
			return uintVal(x - y), true
		}
	case opMul:
		if hi, lo := bits.Mul64(x, y); hi == 0 {
			return uintVal(lo), true
		}
	case opIntDiv:
		if y == 0 {
			return value{}, true
		}
		return uintVal(x / y), true
	case opMod:
		if y == 0 {
			return value{}, true
		}
		return uintVal(x % y), true
	}
	return value{}, false
}

func floatArith(op arithOp, x, y float64) value {
	switch op {
	case opAdd:
		return floatVal(x + y)
	case opSub:
		return floatVal(x - y)
	case opMul:
		return floatVal(x * y)
	case opDiv:
		if y == 0 {
			return value{}
		}
		return floatVal(x / y)
	case opIntDiv:
		if y == 0 {
			return value{}
		}
		q := math.Trunc(x / y)
		if math.IsNaN(q) || math.IsInf(q, 0) {
			return value{}
		}
		if q >= -(1<<63) && q < 1<<63 {
			return intVal(int64(q))
		}
		return decResult(decimal.NewFromFloat(q), 0)
	case opMod:
		if y == 0 {
			return value{}
		}
		return floatVal(math.Mod(x, y))
	}
	return value{}
}

// decArith computes with exact decimals, keeping the result scale MySQL would give.
func decArith(op arithOp, a, b value) value {
	sa, sb := scaleOf(a), scaleOf(b)
	x, y := toDecimal(a), toDecimal(b)
	switch op {
	case opAdd:
		return decResult(x.Add(y), max(sa, sb))
	case opSub:
		return decResult(x.Sub(y), max(sa, sb))
	case opMul:
		return decResult(x.Mul(y), min(sa+sb, maxScale))
	case opDiv:
		if y.IsZero() {
			return value{}
		}
		s := min(sa+divScaleIncrement, maxScale)
		return decResult(x.DivRound(y, s), s)
	case opIntDiv:
		if y.IsZero() {
			return value{}
		}
		q, _ := x.QuoRem(y, 0)
		return decResult(q, 0)
	case opMod:
		if y.IsZero() {
			return value{}
		}
		return decResult(x.Mod(y), max(sa, sb))
	}
	return value{}
}

func scaleOf(v value) int32 {
	if v.k == kDec {
		return int32(min(decScale(v.s), maxScale))
	}
	return 0
}

// toDecimal converts a numeric value; decimal text is canonical by construction.
func toDecimal(v value) decimal.Decimal {
	switch v.k {
	case kInt:
		return decimal.NewFromInt(v.i())
	case kUint:
		return decimal.NewFromBigInt(new(big.Int).SetUint64(v.n), 0)
	case kFloat:
		return decimal.NewFromFloat(v.f())
	case kDec:
		neg, ip, fp := decSplit(v.s)
		coef, ok := new(big.Int).SetString("0"+ip+fp, 10)
		if !ok {
			return decimal.Zero
		}
		if neg {
			coef.Neg(coef)
		}
		return decimal.NewFromBigInt(coef, -int32(len(fp)))
	}
	return decimal.Zero
}

// decResult turns an exact result into a value: integers when scale is 0 and they fit.
func decResult(d decimal.Decimal, scale int32) value {
	if scale == 0 {
		bi := d.BigInt()
		switch {
		case bi.IsInt64():
			return intVal(bi.Int64())
		case bi.IsUint64():
			return uintVal(bi.Uint64())
		}
		return decVal(bi.String())
	}
	return decVal(d.StringFixed(scale))
}

// neg is unary minus; negating the extremes crosses between int64, uint64 and decimal.
func neg(v value) value {
	v = toNum(v)
	switch v.k {
	case kInt:
		if v.i() == math.MinInt64 {
			return uintVal(1 << 63)
		}
		return intVal(-v.i())
	case kUint:
		if v.n <= 1<<63 {
			return intVal(-int64(v.n))
		}
		return decVal("-" + strconv.FormatUint(v.n, 10))
	case kFloat:
		return floatVal(-v.f())
	case kDec:
		n, ip, fp := decSplit(v.s)
		body := v.s
		if body != "" && (body[0] == '-' || body[0] == '+') {
			body = body[1:]
		}
		if n || ip == "" && fp == "" {
			return decVal(body)
		}
		return decVal("-" + body)
	}
	return v
}

// abs is ABS(); the absolute value of the smallest BIGINT needs BIGINT UNSIGNED.
func abs(v value) value {
	v = toNum(v)
	switch v.k {
	case kInt:
		if v.i() < 0 {
			return neg(v)
		}
	case kFloat:
		return floatVal(math.Abs(v.f()))
	case kDec:
		if v.s != "" && (v.s[0] == '-' || v.s[0] == '+') {
			return decVal(v.s[1:])
		}
	}
	return v
}
