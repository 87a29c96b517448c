package filter

import (
	"cmp"
	"math"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// kind is the class of a value during evaluation.
type kind uint8

const (
	kNull  kind = iota
	kInt        // n holds an int64
	kUint       // n holds a uint64
	kFloat      // n holds the bits of a float64
	kDec        // s holds exact decimal text, [+-]digits[.digits]
	kStr        // s holds text
	kBytes      // b holds a binary string
)

// Temporal classes of text that came from a temporal column: they decide how the text compares
// with other text and what number it stands for.
const (
	tcNone uint8 = iota
	tcDate
	tcDateTime
	tcTime
)

// value is one SQL value during evaluation. It is a plain struct rather than an interface so
// that reading a column and comparing it with a literal does not allocate.
type value struct {
	s  string
	b  []byte
	n  uint64
	k  kind
	ci bool  // text compares case-insensitively (literals, and columns with a _ci collation)
	tc uint8 // temporal class of the column the text came from
	// hex marks a hexadecimal or bit literal, which MySQL treats as a number in numeric context
	// and as a binary string elsewhere.
	hex bool
}

func intVal(i int64) value { return value{k: kInt, n: uint64(i)} }

// uintVal keeps values that fit BIGINT signed, so the common integer paths stay on int64.
func uintVal(u uint64) value {
	if u <= math.MaxInt64 {
		return value{k: kInt, n: u}
	}
	return value{k: kUint, n: u}
}

// floatVal turns the non-finite results MySQL reports as errors into NULL.
func floatVal(f float64) value {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return value{}
	}
	return value{k: kFloat, n: math.Float64bits(f)}
}

func decVal(s string) value { return value{k: kDec, s: s} }

func strVal(s string, ci bool) value { return value{k: kStr, s: s, ci: ci} }

func boolVal(b bool) value {
	if b {
		return value{k: kInt, n: 1}
	}
	return value{k: kInt}
}

func (v value) i() int64   { return int64(v.n) }
func (v value) f() float64 { return math.Float64frombits(v.n) }

// isText reports a string or binary string, which compare as text with each other.
func (v value) isText() bool { return v.k == kStr || v.k == kBytes }

// tri is an SQL truth value.
type tri int8

const (
	triNull tri = iota - 1
	triFalse
	triTrue
)

func triVal(t tri) value {
	if t == triNull {
		return value{}
	}
	return boolVal(t == triTrue)
}

// truth is the value's SQL truth: NULL is unknown, numbers are true when non-zero, and text is
// converted to a number first, as MySQL does.
func (v value) truth() tri {
	switch v.k {
	case kNull:
		return triNull
	case kInt, kUint:
		if v.n != 0 {
			return triTrue
		}
		return triFalse
	case kFloat:
		if v.f() != 0 {
			return triTrue
		}
		return triFalse
	case kDec:
		_, ip, fp := decSplit(v.s)
		if ip != "" || fp != "" {
			return triTrue
		}
		return triFalse
	default:
		return toNum(v).truth()
	}
}

// toNum converts a value for numeric context: numbers stay as they are, temporal text becomes
// the number MySQL gives it (20210101 for a date), hex literals their unsigned value, and other
// text its numeric prefix.
func toNum(v value) value {
	switch v.k {
	case kStr:
		if v.tc != tcNone {
			if n, ok := temporalNumber(v.s, v.tc); ok {
				return n
			}
		}
		return numPrefix(v.s)
	case kBytes:
		if v.hex {
			return uintVal(beUint(v.b))
		}
		return numPrefix(string(v.b))
	}
	return v
}

// beUint reads a big-endian unsigned number, saturating past 64 bits as MySQL does.
func beUint(b []byte) uint64 {
	for len(b) > 0 && b[0] == 0 {
		b = b[1:]
	}
	if len(b) > 8 {
		return math.MaxUint64
	}
	var u uint64
	for _, c := range b {
		u = u<<8 | uint64(c)
	}
	return u
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'
}

// numPrefix converts text to a number the way MySQL does: leading space is skipped, the longest
// numeric prefix is used, and text without one is 0. Integers stay exact, decimals stay exact
// text, and only an exponent makes a float.
func numPrefix(s string) value {
	i := 0
	for i < len(s) && isSpace(s[i]) {
		i++
	}
	start := i
	if i < len(s) && (s[i] == '+' || s[i] == '-') {
		i++
	}
	ds := i
	for i < len(s) && isDigit(s[i]) {
		i++
	}
	intDigits := i - ds
	dot := false
	if i < len(s) && s[i] == '.' {
		j := i + 1
		for j < len(s) && isDigit(s[j]) {
			j++
		}
		if intDigits > 0 || j > i+1 {
			dot = true
			i = j
		}
	}
	if intDigits == 0 && !dot {
		return intVal(0)
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		j := i + 1
		if j < len(s) && (s[j] == '+' || s[j] == '-') {
			j++
		}
		es := j
		for j < len(s) && isDigit(s[j]) {
			j++
		}
		if j > es {
			f, _ := strconv.ParseFloat(s[start:j], 64)
			if math.IsInf(f, 0) {
				f = math.Copysign(math.MaxFloat64, f)
			}
			return floatVal(f)
		}
	}
	text := s[start:i]
	if !dot {
		if v, ok := parseInt(text); ok {
			return v
		}
	}
	return decVal(text)
}

// parseInt parses [+-]digits exactly into an int64 or uint64, without allocating.
func parseInt(s string) (value, bool) {
	neg := false
	if s != "" && (s[0] == '+' || s[0] == '-') {
		neg = s[0] == '-'
		s = s[1:]
	}
	mag, ok := parseUint(s)
	if !ok {
		return value{}, false
	}
	if !neg {
		return uintVal(mag), true
	}
	if mag > 1<<63 {
		return value{}, false
	}
	return intVal(-int64(mag)), true
}

// parseUint parses digits into a uint64; an empty string is 0.
func parseUint(s string) (uint64, bool) {
	var u uint64
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !isDigit(c) {
			return 0, false
		}
		d := uint64(c - '0')
		if u > math.MaxUint64/10 || u*10 > math.MaxUint64-d {
			return 0, false
		}
		u = u*10 + d
	}
	return u, true
}

// isDecText reports whether s is plain decimal text: [+-]digits[.digits] with at least one digit.
func isDecText(s string) bool {
	if s != "" && (s[0] == '+' || s[0] == '-') {
		s = s[1:]
	}
	digits, dots := 0, 0
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case isDigit(c):
			digits++
		case c == '.':
			dots++
		default:
			return false
		}
	}
	return digits > 0 && dots <= 1
}

// decSplit splits decimal text into its sign, integer digits without leading zeros and fraction
// digits without trailing zeros. Zero is never negative.
func decSplit(s string) (neg bool, ip, fp string) {
	if s != "" && (s[0] == '-' || s[0] == '+') {
		neg = s[0] == '-'
		s = s[1:]
	}
	ip = s
	if i := strings.IndexByte(s, '.'); i >= 0 {
		ip, fp = s[:i], s[i+1:]
	}
	ip = strings.TrimLeft(ip, "0")
	fp = strings.TrimRight(fp, "0")
	if ip == "" && fp == "" {
		neg = false
	}
	return neg, ip, fp
}

// decScale is the number of fraction digits decimal text is written with.
func decScale(s string) int {
	if i := strings.IndexByte(s, '.'); i >= 0 {
		return len(s) - i - 1
	}
	return 0
}

// cmpDec compares two decimal texts exactly, without converting them.
func cmpDec(a, b string) int {
	an, ai, af := decSplit(a)
	bn, bi, bf := decSplit(b)
	if an != bn {
		if an {
			return -1
		}
		return 1
	}
	c := cmpMag(ai, af, bi, bf)
	if an {
		c = -c
	}
	return c
}

// cmpMag compares magnitudes given as normalized integer and fraction digits: a longer integer
// part is larger, and fraction digits compare lexically once trailing zeros are gone.
func cmpMag(ai, af, bi, bf string) int {
	if len(ai) != len(bi) {
		if len(ai) < len(bi) {
			return -1
		}
		return 1
	}
	if c := strings.Compare(ai, bi); c != 0 {
		return c
	}
	return strings.Compare(af, bf)
}

// cmpDecInt compares decimal text with the integer of sign ineg and magnitude imag.
func cmpDecInt(dec string, ineg bool, imag uint64) int {
	dn, di, df := decSplit(dec)
	if imag == 0 {
		ineg = false
	}
	if dn != ineg {
		if dn {
			return -1
		}
		return 1
	}
	var c int
	dm, ok := parseUint(di)
	switch {
	case !ok:
		c = 1
	case dm != imag:
		c = cmp.Compare(dm, imag)
	case df != "":
		c = 1
	}
	if dn {
		c = -c
	}
	return c
}

// intParts splits an integer value into sign and magnitude, so int64 and uint64 compare exactly.
func intParts(v value) (neg bool, mag uint64) {
	if v.k == kInt && v.i() < 0 {
		return true, uint64(-v.i())
	}
	return false, v.n
}

func cmpInts(a, b value) int {
	an, am := intParts(a)
	bn, bm := intParts(b)
	switch {
	case an && !bn:
		return -1
	case !an && bn:
		return 1
	case an:
		return cmp.Compare(bm, am)
	}
	return cmp.Compare(am, bm)
}

// asFloat converts a numeric value to float64, as MySQL does when either side is a float.
func asFloat(v value) float64 {
	switch v.k {
	case kInt:
		return float64(v.i())
	case kUint:
		return float64(v.n)
	case kFloat:
		return v.f()
	case kDec:
		f, _ := strconv.ParseFloat(v.s, 64)
		return f
	}
	return 0
}

// compare orders two non-NULL values the way MySQL compares them in a WHERE clause: text with
// text as text, anything else as numbers.
func compare(a, b value) int {
	if a.k == kInt && b.k == kInt {
		return cmp.Compare(a.i(), b.i())
	}
	if a.isText() && b.isText() {
		return compareText(a, b)
	}
	return compareNum(toNum(a), toNum(b))
}

func compareNum(a, b value) int {
	switch {
	case a.k == kFloat || b.k == kFloat:
		return cmp.Compare(asFloat(a), asFloat(b))
	case a.k == kDec && b.k == kDec:
		return cmpDec(a.s, b.s)
	case a.k == kDec:
		n, m := intParts(b)
		return cmpDecInt(a.s, n, m)
	case b.k == kDec:
		n, m := intParts(a)
		return -cmpDecInt(b.s, n, m)
	}
	return cmpInts(a, b)
}

func compareText(a, b value) int {
	if (a.tc != tcNone || b.tc != tcNone) && a.k == kStr && b.k == kStr {
		if c, ok := compareTemporal(a, b); ok {
			return c
		}
	}
	if a.k == kBytes || b.k == kBytes {
		return cmpBinary(a, b)
	}
	if a.ci && b.ci {
		return cmpFold(a.s, b.s)
	}
	return strings.Compare(a.s, b.s)
}

// cmpBinary compares bytewise; a binary operand makes the whole comparison binary in MySQL.
func cmpBinary(a, b value) int {
	x, y := a.s, b.s
	xb, yb := a.k == kBytes, b.k == kBytes
	n := len(x)
	if xb {
		n = len(a.b)
	}
	m := len(y)
	if yb {
		m = len(b.b)
	}
	for i := 0; i < n && i < m; i++ {
		var cx, cy byte
		if xb {
			cx = a.b[i]
		} else {
			cx = x[i]
		}
		if yb {
			cy = b.b[i]
		} else {
			cy = y[i]
		}
		if cx != cy {
			if cx < cy {
				return -1
			}
			return 1
		}
	}
	return cmp.Compare(int64(n), int64(m))
}

// foldRune maps a character to its case-insensitive weight.
func foldRune(r rune) rune {
	if r < utf8.RuneSelf {
		if 'a' <= r && r <= 'z' {
			return r - 'a' + 'A'
		}
		return r
	}
	return unicode.ToUpper(r)
}

// cmpFold compares text case-insensitively, with an ASCII fast path.
func cmpFold(a, b string) int {
	i, j := 0, 0
	for i < len(a) && j < len(b) {
		ca, cb := a[i], b[j]
		if ca < utf8.RuneSelf && cb < utf8.RuneSelf {
			if ca != cb {
				if fa, fb := foldRune(rune(ca)), foldRune(rune(cb)); fa != fb {
					return cmp.Compare(int64(fa), int64(fb))
				}
			}
			i++
			j++
			continue
		}
		ra, wa := utf8.DecodeRuneInString(a[i:])
		rb, wb := utf8.DecodeRuneInString(b[j:])
		if fa, fb := foldRune(ra), foldRune(rb); fa != fb {
			return cmp.Compare(int64(fa), int64(fb))
		}
		i += wa
		j += wb
	}
	return cmp.Compare(int64(len(a)-i), int64(len(b)-j))
}

// toText converts a value for string context, as MySQL prints numbers.
func toText(v value) value {
	switch v.k {
	case kStr, kBytes, kNull:
		return v
	case kInt:
		return strVal(strconv.FormatInt(v.i(), 10), true)
	case kUint:
		return strVal(strconv.FormatUint(v.n, 10), true)
	case kFloat:
		s := strconv.FormatFloat(v.f(), 'g', -1, 64)
		return strVal(strings.Replace(s, "e+", "e", 1), true)
	case kDec:
		return strVal(v.s, true)
	}
	return v
}

// textLen is the length of a text value in bytes.
func (v value) textLen() int {
	if v.k == kBytes {
		return len(v.b)
	}
	return len(v.s)
}

// textString is the text of a text value; binary strings are copied.
func (v value) textString() string {
	if v.k == kBytes {
		return string(v.b)
	}
	return v.s
}
