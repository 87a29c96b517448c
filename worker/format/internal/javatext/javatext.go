// Package javatext writes numbers the way Java prints them. Canal, Maxwell and Debezium are Java
// programs: Canal's values are the strings Java makes of them, and Jackson, which writes
// Maxwell's and Debezium's JSON, prints floating-point numbers and BigDecimals with Java's
// toString. A consumer comparing strings, or a parser that only knows Java's forms, sees the same
// text from dts.
package javatext

import (
	"math"
	"strconv"
)

// AppendDouble appends f as Java's Double.toString does (JDK 19 and later, the shortest
// decimal that reads back as f): "1.0", "0.001", "1.0E7", "2.2250738585072014E-308".
func AppendDouble(dst []byte, f float64) []byte { return appendFloat(dst, f, 64) }

// AppendFloat appends f as Java's Float.toString does: "1.1", "3.4028235E38".
func AppendFloat(dst []byte, f float32) []byte { return appendFloat(dst, float64(f), 32) }

func appendFloat(dst []byte, f float64, bits int) []byte {
	switch {
	case math.IsNaN(f):
		return append(dst, "NaN"...)
	case math.IsInf(f, 1):
		return append(dst, "Infinity"...)
	case math.IsInf(f, -1):
		return append(dst, "-Infinity"...)
	case f == 0:
		if math.Signbit(f) {
			return append(dst, "-0.0"...)
		}
		return append(dst, "0.0"...)
	}
	var buf, dbuf [32]byte
	e := strconv.AppendFloat(buf[:0], f, 'e', -1, bits)
	if f < 0 {
		dst = append(dst, '-')
		e = e[1:]
	}
	digits, exp := splitE(e, dbuf[:0])
	if len(digits) == 1 {
		// Java chooses among the decimals of length 1 and 2 that read back as f the one closest
		// to it (4.9E-324, not 5.0E-324).
		var buf2, dbuf2 [32]byte
		e2 := strconv.AppendFloat(buf2[:0], math.Abs(f), 'e', 1, bits)
		if v, err := strconv.ParseFloat(string(e2), bits); err == nil && v == math.Abs(f) {
			if d2, x2 := splitE(e2, dbuf2[:0]); d2[1] != '0' {
				digits, exp = d2, x2
			}
		}
	}
	if exp >= -3 && exp < 7 {
		if exp < 0 {
			dst = append(dst, '0', '.')
			for i := 0; i < -exp-1; i++ {
				dst = append(dst, '0')
			}
			return append(dst, digits...)
		}
		for i := 0; i <= exp; i++ {
			if i < len(digits) {
				dst = append(dst, digits[i])
			} else {
				dst = append(dst, '0')
			}
		}
		dst = append(dst, '.')
		if exp+1 >= len(digits) {
			return append(dst, '0')
		}
		return append(dst, digits[exp+1:]...)
	}
	dst = append(dst, digits[0], '.')
	if len(digits) == 1 {
		dst = append(dst, '0')
	} else {
		dst = append(dst, digits[1:]...)
	}
	dst = append(dst, 'E')
	return strconv.AppendInt(dst, int64(exp), 10)
}

// splitE splits Go's "d.ddde±xx" into its digits, appended to digits, and decimal exponent.
func splitE(e, digits []byte) ([]byte, int) {
	i := 0
	for ; i < len(e) && e[i] != 'e'; i++ {
		if e[i] != '.' {
			digits = append(digits, e[i])
		}
	}
	exp, neg := 0, false
	for _, c := range e[i+1:] {
		switch {
		case c == '-':
			neg = true
		case c >= '0' && c <= '9':
			exp = exp*10 + int(c-'0')
		}
	}
	if neg {
		exp = -exp
	}
	return digits, exp
}

// AppendBigDecimal appends the decimal s, written plainly as MySQL gives DECIMAL values
// ("-12.50", "0.000000"), as Java's BigDecimal.toString writes the same value and scale: plainly,
// unless the number is so small that its exponent falls below -6, then in scientific notation
// ("1E-10", "0E-10" for a zero of scale 10). s is appended unchanged when it is not such a number.
func AppendBigDecimal(dst []byte, s string) []byte {
	neg := len(s) > 0 && s[0] == '-'
	body := s
	if neg {
		body = s[1:]
	}
	dot := -1
	for i := 0; i < len(body); i++ {
		c := body[i]
		switch {
		case c == '.' && dot < 0:
			dot = i
		case c < '0' || c > '9':
			return append(dst, s...)
		}
	}
	if dot < 0 || len(body) == 0 {
		return append(dst, s...)
	}
	scale := len(body) - dot - 1
	// The unscaled value's digits, without leading zeros.
	first := -1
	n := 0
	for i := 0; i < len(body); i++ {
		if body[i] == '.' {
			continue
		}
		if first < 0 && body[i] != '0' {
			first = i
		}
		if first >= 0 {
			n++
		}
	}
	if first < 0 { // zero
		n = 1
	}
	adjusted := -scale + n - 1
	if adjusted >= -6 {
		return append(dst, s...)
	}
	if neg && first >= 0 {
		dst = append(dst, '-')
	}
	if first < 0 {
		dst = append(dst, '0')
	} else {
		wrote := 0
		for i := first; i < len(body); i++ {
			if body[i] == '.' {
				continue
			}
			dst = append(dst, body[i])
			wrote++
			if wrote == 1 && n > 1 {
				dst = append(dst, '.')
			}
		}
	}
	dst = append(dst, 'E')
	return strconv.AppendInt(dst, int64(adjusted), 10)
}
