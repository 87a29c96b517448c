package change

import (
	"fmt"
	"strconv"
	"strings"
	"time"
	"unsafe"

	"golang.org/x/text/encoding"
)

// Normalizer turns one column's raw values into Row values of its ColumnType. It is the one
// definition of a column's value for both ways a row arrives: the binlog reader gives go-mysql's
// decoded values (integers of the column's width, time.Time, ENUM and SET as numbers, text in
// the column's charset), the initial copy gives result-set values (int64, uint64, float64, or
// the text MySQL writes for everything else). Whatever the way, the same row normalizes to the
// same values, so its key, partition and message are the same.
type Normalizer struct {
	Type     ColumnType
	Unsigned bool
	// Float32 is set for FLOAT columns (DOUBLE otherwise).
	Float32 bool
	// Decimals is the fractional-seconds precision of a temporal column.
	Decimals int
	// Members are the names of an ENUM's or SET's members, in order (for values given as
	// numbers).
	Members []string
	// Bits is an integer column's width: a value that only the schema says is unsigned comes
	// sign-extended and is cut back to it.
	Bits uint
	// PadTo is a BINARY(n) column's length: the binlog does not pad its values, MySQL does.
	PadTo int
	// Text converts text given in a legacy charset to UTF-8 (nil: the text is UTF-8).
	Text encoding.Encoding
	// Alias lets string and []byte values share memory with the input. Only for input that
	// stays untouched while the Row is in use: go-mysql allocates each row event's values anew
	// (the reader hands it a fresh buffer), while a result set reuses its buffer row after row.
	Alias bool
}

// Normalize returns v as a Row value of the column's type; nil stays nil (SQL NULL).
func (n *Normalizer) Normalize(v any) (any, error) {
	if v == nil {
		return nil, nil
	}
	nv, ok := n.convert(v)
	if !ok {
		return nil, fmt.Errorf("unexpected %T value for a %s column", v, n.Type)
	}
	return nv, nil
}

func (n *Normalizer) convert(v any) (any, bool) {
	switch n.Type {
	case TypeInt:
		if b, ok := text(v); ok {
			if n.Unsigned {
				u, err := strconv.ParseUint(b, 10, 64)
				return u, err == nil
			}
			i, err := strconv.ParseInt(b, 10, 64)
			return i, err == nil
		}
		return intValue(v, n.Unsigned, n.Bits)
	case TypeFloat:
		switch x := v.(type) {
		case float32:
			return x, true
		case float64:
			if n.Float32 {
				return float32(x), true
			}
			return x, true
		}
		if b, ok := text(v); ok {
			bits := 64
			if n.Float32 {
				bits = 32
			}
			f, err := strconv.ParseFloat(b, bits)
			if n.Float32 {
				return float32(f), err == nil
			}
			return f, err == nil
		}
		return nil, false
	case TypeDecimal, TypeDate:
		return n.strValue(v)
	case TypeYear:
		switch x := v.(type) {
		case int:
			return int64(x), true
		case int64:
			return x, true
		case uint64:
			return int64(x), true
		}
		if b, ok := text(v); ok {
			i, err := strconv.ParseInt(b, 10, 64)
			return i, err == nil
		}
		return nil, false
	case TypeBit:
		switch x := v.(type) {
		case int64:
			return uint64(x), true
		case uint64:
			return x, true
		case []byte: // a result set gives the bits as big-endian bytes
			var u uint64
			for _, c := range x {
				u = u<<8 | uint64(c)
			}
			return u, true
		}
		return nil, false
	case TypeDateTime, TypeTimestamp:
		if t, ok := v.(time.Time); ok {
			return formatTime(t.UTC(), n.Decimals), true
		}
		// Zero and partial dates ("0000-00-00 00:00:00") and result-set text.
		s, ok := n.str(v)
		if !ok {
			return nil, false
		}
		return Frac(s, n.Decimals), true
	case TypeTime:
		s, ok := n.str(v)
		if !ok {
			return nil, false
		}
		return Frac(s, n.Decimals), true
	case TypeEnum:
		if idx, ok := v.(int64); ok {
			switch {
			case idx == 0:
				return "", true // MySQL's "invalid value" member
			case int(idx) <= len(n.Members):
				return n.Members[idx-1], true
			}
			return strconv.FormatInt(idx, 10), true
		}
		return n.strValue(v)
	case TypeSet:
		if bits, ok := v.(int64); ok {
			if n.Members == nil {
				return strconv.FormatInt(bits, 10), true
			}
			var b strings.Builder
			for i, m := range n.Members {
				if bits&(1<<uint(i)) != 0 {
					if b.Len() > 0 {
						b.WriteByte(',')
					}
					b.WriteString(m)
				}
			}
			return b.String(), true
		}
		return n.strValue(v)
	case TypeString, TypeJSON:
		if _, ok := v.(string); ok && n.Text == nil {
			return v, true // as is, without boxing it again
		}
		s, ok := n.str(v)
		if !ok {
			return nil, false
		}
		if n.Text != nil {
			if u, err := n.Text.NewDecoder().String(s); err == nil {
				s = u
			}
		}
		return s, true
	case TypeBinary, TypeGeometry:
		var b []byte
		switch x := v.(type) {
		case []byte:
			b = x
			if !n.Alias {
				b = append([]byte(nil), x...)
			}
		case string:
			b = unsafe.Slice(unsafe.StringData(x), len(x))
		default:
			return nil, false
		}
		if n.PadTo > len(b) {
			p := make([]byte, n.PadTo)
			copy(p, b)
			b = p
		}
		return b, true
	}
	return nil, false
}

// str returns v as a string: a string as is, bytes aliased (Alias) or copied.
func (n *Normalizer) str(v any) (string, bool) {
	switch x := v.(type) {
	case string:
		return x, true
	case []byte:
		if n.Alias {
			return unsafe.String(unsafe.SliceData(x), len(x)), true
		}
		return string(x), true
	}
	return "", false
}

// strValue is str as a Row value: nil when v is not text.
func (n *Normalizer) strValue(v any) (any, bool) {
	if _, ok := v.(string); ok {
		return v, true // as is, without boxing it again
	}
	if s, ok := n.str(v); ok {
		return s, true
	}
	return nil, false
}

// text returns v as text to parse when it is given as text (a result set's value).
func text(v any) (string, bool) {
	if b, ok := v.([]byte); ok {
		return unsafe.String(unsafe.SliceData(b), len(b)), true
	}
	return "", false
}

func intValue(v any, unsigned bool, bits uint) (any, bool) {
	var s int64
	switch x := v.(type) {
	case int8:
		s = int64(x)
	case int16:
		s = int64(x)
	case int32:
		s = int64(x)
	case int64:
		if !unsigned {
			return v, true // already a Row value: boxing it again would allocate
		}
		s = x
	case uint8:
		return uint64(x), true
	case uint16:
		return uint64(x), true
	case uint32:
		return uint64(x), true
	case uint64:
		if !unsigned {
			return int64(x), true
		}
		return v, true
	default:
		return nil, false
	}
	if !unsigned {
		return s, true
	}
	u := uint64(s)
	if bits > 0 && bits < 64 {
		u &= 1<<bits - 1
	}
	return u, true
}

// formatTime writes "2006-01-02 15:04:05" with dec fraction digits, without fmt (a measurable
// share of decoding otherwise).
func formatTime(t time.Time, dec int) string {
	var b [26]byte
	year, month, day := t.Date()
	hour, minute, sec := t.Clock()
	put := func(i, v, n int) {
		for j := i + n - 1; j >= i; j-- {
			b[j] = byte('0' + v%10)
			v /= 10
		}
	}
	put(0, year, 4)
	b[4] = '-'
	put(5, int(month), 2)
	b[7] = '-'
	put(8, day, 2)
	b[10] = ' '
	put(11, hour, 2)
	b[13] = ':'
	put(14, minute, 2)
	b[16] = ':'
	put(17, sec, 2)
	n := 19
	if dec > 0 {
		b[19] = '.'
		put(20, t.Nanosecond()/1000, 6)
		n = 20 + dec
	}
	return string(b[:n])
}
