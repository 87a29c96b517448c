package debezium

import (
	"encoding/binary"
	"math"
)

// Debezium's temporal logical types count from the epoch in UTC, the zone it reads DATE and
// DATETIME values in (they have none): io.debezium.time.Date in days, Timestamp in
// milliseconds, MicroTimestamp in microseconds, MicroTime in microseconds since midnight.

// epochDays is the day number of "YYYY-MM-DD..." since 1970-01-01; false for a zero or invalid
// date ("0000-00-00", "2021-00-10"), which Debezium cannot represent.
func epochDays(s string) (int64, bool) {
	if len(s) < 10 || s[4] != '-' || s[7] != '-' {
		return 0, false
	}
	y, ok1 := digits(s[0:4])
	m, ok2 := digits(s[5:7])
	d, ok3 := digits(s[8:10])
	if !ok1 || !ok2 || !ok3 || y == 0 || m < 1 || m > 12 || d < 1 || d > 31 {
		return 0, false
	}
	return daysFromCivil(y, m, d), true
}

// epochMicros is "YYYY-MM-DD HH:MM:SS[.ffffff]" in microseconds since the epoch, read as UTC.
func epochMicros(s string) (int64, bool) {
	days, ok := epochDays(s)
	if !ok {
		return 0, false
	}
	if len(s) < 19 {
		return days * 86_400_000_000, true
	}
	h, ok1 := digits(s[11:13])
	mi, ok2 := digits(s[14:16])
	sec, ok3 := digits(s[17:19])
	if !ok1 || !ok2 || !ok3 {
		return 0, false
	}
	return (days*86400+h*3600+mi*60+sec)*1_000_000 + fraction(s[19:]), true
}

// timeMicros is a TIME value, "[-]HHH:MM:SS[.ffffff]", in microseconds: negative and past 24
// hours as MySQL allows it (Debezium documents only 00:00:00 to 23:59:59.999999 as captured
// correctly; the others are the same arithmetic).
func timeMicros(s string) int64 {
	neg := false
	if len(s) > 0 && s[0] == '-' {
		neg, s = true, s[1:]
	}
	var parts [3]int64
	p := 0
	i := 0
	for ; i < len(s) && s[i] != '.'; i++ {
		if s[i] == ':' {
			p++
			if p > 2 {
				break
			}
			continue
		}
		parts[p] = parts[p]*10 + int64(s[i]-'0')
	}
	v := (parts[0]*3600+parts[1]*60+parts[2])*1_000_000 + fraction(s[i:])
	if neg {
		return -v
	}
	return v
}

// fraction reads ".ffffff" as microseconds.
func fraction(s string) int64 {
	if len(s) < 2 || s[0] != '.' {
		return 0
	}
	var us int64
	n := 0
	for _, c := range []byte(s[1:]) {
		if n == 6 || c < '0' || c > '9' {
			break
		}
		us = us*10 + int64(c-'0')
		n++
	}
	for ; n < 6; n++ {
		us *= 10
	}
	return us
}

func digits(s string) (int64, bool) {
	var v int64
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		v = v*10 + int64(c-'0')
	}
	return v, true
}

// daysFromCivil is the days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
// algorithm).
func daysFromCivil(y, m, d int64) int64 {
	if m <= 2 {
		y--
	}
	era := floorDiv(y, 400)
	yoe := y - era*400
	mp := (m + 9) % 12
	doy := (153*mp+2)/5 + d - 1
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	return era*146097 + doe - 719468
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if (a%b != 0) && (a < 0) != (b < 0) {
		q--
	}
	return q
}

// wkbPoint reads a WKB point's coordinates.
func wkbPoint(b []byte) (x, y float64, ok bool) {
	if len(b) < 21 {
		return 0, 0, false
	}
	var order binary.ByteOrder = binary.BigEndian
	if b[0] == 1 {
		order = binary.LittleEndian
	}
	if order.Uint32(b[1:5]) != 1 {
		return 0, 0, false
	}
	return math.Float64frombits(order.Uint64(b[5:13])), math.Float64frombits(order.Uint64(b[13:21])), true
}
