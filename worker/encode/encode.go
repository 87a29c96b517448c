// Package encode writes row changes as Kafka message values and keys, in JSON, by hand:
// encoding every row through reflection would cost more than reading the binlog.
package encode

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/dtsrepl/dts/worker/change"
)

// Options shape the messages of a task.
type Options struct {
	// Flat puts the row's columns at the top level with __db, __table, __op, __ts_ms and
	// __deleted instead of nesting them under "data".
	Flat bool
	// Exclude lists column names (case-insensitive) left out of every message. A table whose
	// message key would need an excluded column cannot be encoded: see KeyExcluded.
	Exclude []string
}

// Encoder writes messages. It caches per-table decisions and is not safe for concurrent use.
type Encoder struct {
	flat    bool
	exclude map[string]bool
	masks   map[*change.Table][]bool
}

// New returns an Encoder.
func New(o Options) *Encoder {
	e := &Encoder{flat: o.Flat, masks: map[*change.Table][]bool{}}
	if len(o.Exclude) > 0 {
		e.exclude = map[string]bool{}
		for _, c := range o.Exclude {
			e.exclude[strings.ToLower(strings.TrimSpace(c))] = true
		}
	}
	return e
}

// mask returns which columns of t go into messages.
func (e *Encoder) mask(t *change.Table) []bool {
	if m, ok := e.masks[t]; ok {
		return m
	}
	m := make([]bool, len(t.Columns))
	for i, c := range t.Columns {
		m[i] = !e.exclude[strings.ToLower(c.Name)]
	}
	if len(e.masks) >= 4096 {
		clear(e.masks)
	}
	e.masks[t] = m
	return m
}

// Included reports, by column index, which columns of t go into messages (kafka.exclude_columns
// leaves the others out of every format). The slice is shared: do not modify it.
func (e *Encoder) Included(t *change.Table) []bool { return e.mask(t) }

// KeyExcluded names a column of t's primary key that is excluded, "" if none. Such a table's
// rows cannot be sent: the key carries the primary key, and excluded means excluded everywhere.
func (e *Encoder) KeyExcluded(t *change.Table) string {
	if e.exclude == nil {
		return ""
	}
	for _, i := range t.PK {
		if e.exclude[strings.ToLower(t.Columns[i].Name)] {
			return t.Columns[i].Name
		}
	}
	return ""
}

// Value appends ev's message value to dst. commit and xid mark the last row of a transaction.
func (e *Encoder) Value(dst []byte, ev *change.Event) []byte {
	if ev.Kind == change.DDL {
		return e.ddl(dst, ev)
	}
	if e.flat {
		return e.flatValue(dst, ev)
	}
	t := ev.Table
	dst = append(dst, `{"database":`...)
	dst = AppendString(dst, t.Schema)
	dst = append(dst, `,"table":`...)
	dst = AppendString(dst, t.Name)
	dst = append(dst, `,"type":"`...)
	dst = append(dst, ev.Kind.String()...)
	dst = append(dst, `","ts":`...)
	dst = strconv.AppendInt(dst, ev.Time.Unix(), 10)
	dst = e.where(dst, ev)
	dst = append(dst, `,"data":`...)
	dst = e.row(dst, t, ev.Image())
	if ev.Kind == change.Update {
		dst = append(dst, `,"old":{`...)
		m := e.mask(t)
		first := true
		for i, c := range t.Columns {
			if !m[i] || Equal(ev.Before[i], ev.After[i]) {
				continue
			}
			if !first {
				dst = append(dst, ',')
			}
			first = false
			dst = AppendString(dst, c.Name)
			dst = append(dst, ':')
			dst = AppendValue(dst, &t.Columns[i], ev.Before[i])
		}
		dst = append(dst, '}')
	}
	return append(dst, '}')
}

// where writes gtid, pos, xid and commit, each only when known.
func (e *Encoder) where(dst []byte, ev *change.Event) []byte {
	if ev.GTID != "" {
		dst = append(dst, `,"gtid":`...)
		dst = AppendString(dst, ev.GTID)
	}
	if ev.Pos != "" {
		dst = append(dst, `,"pos":`...)
		dst = AppendString(dst, ev.Pos)
	}
	if ev.Commit {
		if ev.XID != 0 {
			dst = append(dst, `,"xid":`...)
			dst = strconv.AppendUint(dst, ev.XID, 10)
		}
		dst = append(dst, `,"commit":true`...)
	}
	return dst
}

func (e *Encoder) row(dst []byte, t *change.Table, row change.Row) []byte {
	dst = append(dst, '{')
	dst = e.columns(dst, t, row, true)
	return append(dst, '}')
}

// columns writes "name":value pairs of the row's included columns.
func (e *Encoder) columns(dst []byte, t *change.Table, row change.Row, first bool) []byte {
	m := e.mask(t)
	for i := range t.Columns {
		if !m[i] {
			continue
		}
		if !first {
			dst = append(dst, ',')
		}
		first = false
		dst = AppendString(dst, t.Columns[i].Name)
		dst = append(dst, ':')
		dst = AppendValue(dst, &t.Columns[i], row[i])
	}
	return dst
}

var flatOps = [...]string{change.Insert: "c", change.Update: "u", change.Delete: "d", change.Snapshot: "r", change.DDL: "ddl"}

func (e *Encoder) flatValue(dst []byte, ev *change.Event) []byte {
	t := ev.Table
	dst = append(dst, '{')
	start := len(dst)
	dst = e.columns(dst, t, ev.Image(), true)
	if len(dst) > start {
		dst = append(dst, ',')
	}
	dst = append(dst, `"__db":`...)
	dst = AppendString(dst, t.Schema)
	dst = append(dst, `,"__table":`...)
	dst = AppendString(dst, t.Name)
	dst = append(dst, `,"__op":"`...)
	dst = append(dst, flatOps[ev.Kind]...)
	dst = append(dst, `","__ts_ms":`...)
	dst = strconv.AppendInt(dst, ev.Time.UnixMilli(), 10)
	dst = append(dst, `,"__deleted":`...)
	dst = strconv.AppendBool(dst, ev.Kind == change.Delete)
	return append(dst, '}')
}

func (e *Encoder) ddl(dst []byte, ev *change.Event) []byte {
	table := ""
	if ev.Table != nil {
		table = ev.Table.Name
	}
	if e.flat {
		dst = append(dst, `{"__db":`...)
		dst = AppendString(dst, ev.Schema)
		dst = append(dst, `,"__table":`...)
		dst = AppendString(dst, table)
		dst = append(dst, `,"__op":"ddl","__ts_ms":`...)
		dst = strconv.AppendInt(dst, ev.Time.UnixMilli(), 10)
		dst = append(dst, `,"__sql":`...)
		dst = AppendString(dst, ev.SQL)
		return append(dst, '}')
	}
	dst = append(dst, `{"database":`...)
	dst = AppendString(dst, ev.Schema)
	if table != "" {
		dst = append(dst, `,"table":`...)
		dst = AppendString(dst, table)
	}
	dst = append(dst, `,"type":"ddl","ts":`...)
	dst = strconv.AppendInt(dst, ev.Time.Unix(), 10)
	dst = e.where(dst, ev)
	dst = append(dst, `,"sql":`...)
	dst = AppendString(dst, ev.SQL)
	return append(dst, '}')
}

// Key appends ev's message key, {"database":..,"table":..,"pk":{..}}, and reports whether there
// is one: rows of tables without a primary key have no key (a shared key would let log
// compaction delete them).
func (e *Encoder) Key(dst []byte, ev *change.Event) ([]byte, bool) {
	t := ev.Table
	if t == nil {
		return dst, false
	}
	if !ev.Kind.Rows() {
		dst = append(dst, `{"database":`...)
		dst = AppendString(dst, t.Schema)
		dst = append(dst, `,"table":`...)
		dst = AppendString(dst, t.Name)
		return append(dst, '}'), true
	}
	if len(t.PK) == 0 {
		return dst, false
	}
	row := ev.Image()
	dst = append(dst, `{"database":`...)
	dst = AppendString(dst, t.Schema)
	dst = append(dst, `,"table":`...)
	dst = AppendString(dst, t.Name)
	dst = append(dst, `,"pk":{`...)
	for n, i := range t.PK {
		if n > 0 {
			dst = append(dst, ',')
		}
		dst = AppendString(dst, t.Columns[i].Name)
		dst = append(dst, ':')
		dst = AppendValue(dst, &t.Columns[i], row[i])
	}
	return append(dst, "}}"...), true
}

// AppendValue appends one column value as JSON: integers as numbers (unsigned exact), DECIMAL
// and temporal values as strings, bytes as base64, JSON columns as JSON, NULL as null.
func AppendValue(dst []byte, c *change.Column, v any) []byte {
	switch x := v.(type) {
	case nil:
		return append(dst, "null"...)
	case int64:
		return strconv.AppendInt(dst, x, 10)
	case uint64:
		return strconv.AppendUint(dst, x, 10)
	case string:
		if c.Type == change.TypeJSON && json.Valid([]byte(x)) {
			return append(dst, x...)
		}
		return AppendString(dst, x)
	case []byte:
		dst = append(dst, '"')
		dst = base64.StdEncoding.AppendEncode(dst, x)
		return append(dst, '"')
	case float64:
		return appendFloat(dst, x, 64)
	case float32:
		return appendFloat(dst, float64(x), 32)
	case int:
		return strconv.AppendInt(dst, int64(x), 10)
	case bool:
		return strconv.AppendBool(dst, x)
	}
	// Values the reader never produces; keep the message valid JSON.
	b, err := json.Marshal(v)
	if err != nil {
		return append(dst, "null"...)
	}
	return append(dst, b...)
}

// appendFloat writes a float like encoding/json does; NaN and infinities, which MySQL cannot
// store, become null.
func appendFloat(dst []byte, f float64, bits int) []byte {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return append(dst, "null"...)
	}
	abs := math.Abs(f)
	format := byte('f')
	if abs != 0 {
		if bits == 64 && (abs < 1e-6 || abs >= 1e21) || bits == 32 && (float32(abs) < 1e-6 || float32(abs) >= 1e21) {
			format = 'e'
		}
	}
	dst = strconv.AppendFloat(dst, f, format, -1, bits)
	if format == 'e' {
		// clean up e-09 to e-9
		n := len(dst)
		if n >= 4 && dst[n-4] == 'e' && dst[n-3] == '-' && dst[n-2] == '0' {
			dst[n-2] = dst[n-1]
			dst = dst[:n-1]
		}
	}
	return dst
}

const hexDigits = "0123456789abcdef"

// AppendString appends s as a JSON string. Invalid UTF-8 becomes U+FFFD, as encoding/json does.
func AppendString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		// Eight plain ASCII bytes at a time: most text needs no escaping at all.
		for i+8 <= len(s) && plain8(uint64(s[i])|uint64(s[i+1])<<8|uint64(s[i+2])<<16|uint64(s[i+3])<<24|
			uint64(s[i+4])<<32|uint64(s[i+5])<<40|uint64(s[i+6])<<48|uint64(s[i+7])<<56) {
			i += 8
		}
		if i >= len(s) {
			break
		}
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i += size
			start = i
			continue
		}
		// U+2028 and U+2029 break JavaScript consumers; encoding/json escapes them too.
		if r == '\u2028' || r == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// plain8 reports whether none of the eight bytes of w needs escaping or decoding: each is
// ASCII, not a control character, not '"' and not '\\'. (The tests of "a byte is zero" and
// "a byte is below n" of Hacker's Delight, 6-1, exact for bytes below 0x80.)
func plain8(w uint64) bool {
	const ones, high = 0x0101010101010101, 0x8080808080808080
	quote := w ^ (ones * '"')
	backslash := w ^ (ones * '\\')
	special := (w - ones*0x20) | (quote-ones)&^quote | (backslash-ones)&^backslash
	return (special|w)&high == 0
}

// Equal reports whether two row values are the same.
func Equal(a, b any) bool {
	switch x := a.(type) {
	case nil:
		return b == nil
	case []byte:
		y, ok := b.([]byte)
		return ok && bytes.Equal(x, y)
	case int64:
		y, ok := b.(int64)
		return ok && x == y
	case uint64:
		y, ok := b.(uint64)
		return ok && x == y
	case string:
		y, ok := b.(string)
		return ok && x == y
	case float64:
		y, ok := b.(float64)
		return ok && x == y
	case float32:
		y, ok := b.(float32)
		return ok && x == y
	}
	return false
}

// DTS is the dts message format (kafka.format "dts", the default): one message per row change
// or DDL, keyed by the Key, valued by the Value; the copy's table boundaries make no message.
type DTS struct {
	Enc  *Encoder
	vbuf []byte
}

// Encode implements the worker's message format.
func (d *DTS) Encode(ev *change.Event, key []byte, send func(key, value []byte) error) error {
	if !ev.Kind.Rows() && ev.Kind != change.DDL {
		return nil
	}
	d.vbuf = d.Enc.Value(d.vbuf[:0], ev)
	return send(key, d.vbuf)
}

// AppendMarkerKey appends the key of an alter marker: markers need one, as a compacted topic
// refuses records without a key, and one per version keeps each version's markers apart when the
// topic is compacted.
func AppendMarkerKey(dst []byte, version int64) []byte {
	dst = append(dst, `{"type":"alter","version":`...)
	dst = strconv.AppendInt(dst, version, 10)
	return append(dst, '}')
}

// AppendMarker appends an alter marker: the spec version in effect from pos on, and the one
// before it.
func AppendMarker(dst []byte, version, previous int64, pos string, at time.Time) []byte {
	dst = append(dst, `{"type":"alter","version":`...)
	dst = strconv.AppendInt(dst, version, 10)
	dst = append(dst, `,"previous_version":`...)
	dst = strconv.AppendInt(dst, previous, 10)
	dst = append(dst, `,"pos":`...)
	dst = AppendString(dst, pos)
	dst = append(dst, `,"ts":`...)
	dst = strconv.AppendInt(dst, at.Unix(), 10)
	return append(dst, '}')
}
