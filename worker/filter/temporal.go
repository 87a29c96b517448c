package filter

import (
	"cmp"

	"github.com/dtsrepl/dts/worker/change"
)

// temporalClass is how text from a column of type t compares: as a date and time, as a time
// of day, or as plain text.
func temporalClass(t change.ColumnType) uint8 {
	switch t {
	case change.TypeDate:
		return tcDate
	case change.TypeDateTime, change.TypeTimestamp:
		return tcDateTime
	case change.TypeTime:
		return tcTime
	}
	return tcNone
}

// compareTemporal compares two texts as times when at least one came from a temporal column
// and both parse; otherwise MySQL falls back to comparing them as strings, and so do we.
func compareTemporal(a, b value) (int, bool) {
	cls := a.tc
	if cls == tcNone {
		cls = b.tc
	} else if b.tc != tcNone && b.tc != cls {
		if a.tc == tcTime || b.tc == tcTime {
			return 0, false
		}
		cls = tcDateTime
	}
	parse := parseDateTime
	if cls == tcTime {
		parse = parseTime
	}
	x, ok := parse(a.s)
	if !ok {
		return 0, false
	}
	y, ok := parse(b.s)
	if !ok {
		return 0, false
	}
	return cmp.Compare(x.key(), y.key()), true
}

// moment is a parsed date, datetime or time. A time uses only the clock fields, with hours
// unbounded, and neg for negative times.
type moment struct {
	year, month, day   int64
	hour, minute, sec  int64
	micro              int64
	neg, hasDate, time bool
}

// key orders moments of the same class.
func (m moment) key() int64 {
	if m.time {
		k := ((m.hour*60+m.minute)*60+m.sec)*1_000_000 + m.micro
		if m.neg {
			k = -k
		}
		return k
	}
	return (((((m.year*13+m.month)*32+m.day)*24+m.hour)*60+m.minute)*60+m.sec)*1_000_000 + m.micro
}

// temporalNumber is the number MySQL gives temporal text in numeric context: 20210102 for a
// date, 20210102150405 for a datetime, 150405 for a time.
func temporalNumber(s string, cls uint8) (value, bool) {
	parse := parseDateTime
	if cls == tcTime {
		parse = parseTime
	}
	m, ok := parse(s)
	if !ok {
		return value{}, false
	}
	var n int64
	switch {
	case m.time:
		n = m.hour*10000 + m.minute*100 + m.sec
	case cls == tcDate:
		return intVal(m.year*10000 + m.month*100 + m.day), true
	default:
		n = ((m.year*10000+m.month*100+m.day)*100+m.hour)*10000 + m.minute*100 + m.sec
	}
	if m.micro != 0 {
		f := float64(n) + float64(m.micro)/1e6
		if m.neg {
			f = -f
		}
		return floatVal(f), true
	}
	if m.neg {
		n = -n
	}
	return intVal(n), true
}

// digits reads up to max digits at s[i:], returning the number, the next index and how many
// digits were read.
func digits(s string, i, max int) (int64, int, int) {
	var n int64
	j := i
	for j < len(s) && j-i < max && isDigit(s[j]) {
		n = n*10 + int64(s[j]-'0')
		j++
	}
	return n, j, j - i
}

func isPunct(c byte) bool {
	return c > ' ' && c < 0x7f && !isDigit(c) && !(c >= 'a' && c <= 'z') && !(c >= 'A' && c <= 'Z')
}

func trimSpace(s string) string {
	for s != "" && isSpace(s[0]) {
		s = s[1:]
	}
	for s != "" && isSpace(s[len(s)-1]) {
		s = s[:len(s)-1]
	}
	return s
}

// parseDateTime parses the date and datetime forms MySQL accepts in comparisons:
// "2021-01-02", "2021-01-02 15:04:05.123456" (any punctuation as delimiter, T before the time,
// two-digit years), "20210102" and "20210102150405".
func parseDateTime(s string) (moment, bool) {
	s = trimSpace(s)
	var m moment
	m.hasDate = true
	if len(s) == 8 || len(s) >= 14 && (len(s) == 14 || s[14] == '.') {
		if m, ok := parseCompactDateTime(s); ok {
			return m, true
		}
	}
	y, i, n := digits(s, 0, 4)
	if n != 4 && n != 2 {
		return m, false
	}
	if n == 2 {
		if y < 70 {
			y += 2000
		} else {
			y += 1900
		}
	}
	m.year = y
	fields := [2]*int64{&m.month, &m.day}
	for _, f := range fields {
		if i >= len(s) || !isPunct(s[i]) {
			return m, false
		}
		var k int
		*f, i, k = digits(s, i+1, 2)
		if k == 0 {
			return m, false
		}
	}
	if i < len(s) {
		if s[i] != ' ' && s[i] != 'T' {
			return m, false
		}
		for i < len(s) && s[i] == ' ' {
			i++
		}
		if i < len(s) && s[i] == 'T' {
			i++
		}
		var ok bool
		if i, ok = parseClock(s, i, &m, 2); !ok || i != len(s) {
			return m, false
		}
	}
	return m, m.valid()
}

func parseCompactDateTime(s string) (moment, bool) {
	m := moment{hasDate: true}
	var i, n int
	m.year, i, n = digits(s, 0, 4)
	m.month, i, _ = digits(s, i, 2)
	m.day, i, _ = digits(s, i, 2)
	if n != 4 || i != 8 {
		return m, false
	}
	if len(s) > 8 {
		m.hour, i, _ = digits(s, i, 2)
		m.minute, i, _ = digits(s, i, 2)
		m.sec, i, _ = digits(s, i, 2)
		if i != 14 {
			return m, false
		}
		var ok bool
		if i, ok = parseFraction(s, i, &m); !ok || i != len(s) {
			return m, false
		}
	}
	return m, m.valid()
}

// parseClock reads h[:m[:s[.frac]]] at s[i:] with at most maxHour hour digits.
func parseClock(s string, i int, m *moment, maxHour int) (int, bool) {
	var k int
	m.hour, i, k = digits(s, i, maxHour)
	if k == 0 {
		return i, false
	}
	for _, f := range [2]*int64{&m.minute, &m.sec} {
		if i >= len(s) || s[i] != ':' {
			return i, true
		}
		*f, i, k = digits(s, i+1, 2)
		if k == 0 {
			return i, false
		}
	}
	return parseFraction(s, i, m)
}

// parseFraction reads an optional .ffffff; digits past microseconds are ignored.
func parseFraction(s string, i int, m *moment) (int, bool) {
	if i >= len(s) || s[i] != '.' {
		return i, true
	}
	i++
	start := i
	var us int64
	for i < len(s) && isDigit(s[i]) {
		if i-start < 6 {
			us = us*10 + int64(s[i]-'0')
		}
		i++
	}
	if i == start {
		return i, false
	}
	for n := i - start; n < 6; n++ {
		us *= 10
	}
	m.micro = us
	return i, true
}

// parseTime parses the TIME forms: "[-]838:59:59[.ffffff]", "[-]D hh:mm:ss", "hh:mm" and the
// compact "[-]hhmmss", "mmss", "ss".
func parseTime(s string) (moment, bool) {
	s = trimSpace(s)
	m := moment{time: true}
	i := 0
	if i < len(s) && s[i] == '-' {
		m.neg = true
		i++
	}
	rest := s[i:]
	switch {
	case containsByte(rest, ' '):
		d, j, k := digits(s, i, 2)
		if k == 0 || j >= len(s) || s[j] != ' ' {
			return m, false
		}
		for j < len(s) && s[j] == ' ' {
			j++
		}
		var ok bool
		if j, ok = parseClock(s, j, &m, 3); !ok || j != len(s) {
			return m, false
		}
		m.hour += d * 24
	case containsByte(rest, ':'):
		j, ok := parseClock(s, i, &m, 3)
		if !ok || j != len(s) {
			return m, false
		}
	default:
		n, j, k := digits(s, i, 7)
		if k == 0 {
			return m, false
		}
		m.hour, m.minute, m.sec = n/10000, n/100%100, n%100
		var ok bool
		if j, ok = parseFraction(s, j, &m); !ok || j != len(s) {
			return m, false
		}
	}
	if m.minute > 59 || m.sec > 59 {
		return m, false
	}
	return m, true
}

func containsByte(s string, c byte) bool {
	for i := 0; i < len(s); i++ {
		if s[i] == c {
			return true
		}
	}
	return false
}

// valid accepts MySQL's zero dates and zero parts but not out-of-range fields.
func (m moment) valid() bool {
	return m.month <= 12 && m.day <= 31 && m.hour <= 23 && m.minute <= 59 && m.sec <= 59
}
