package change

import (
	"fmt"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"

	"golang.org/x/text/encoding/charmap"
)

func TestIntValue(t *testing.T) {
	tests := []struct {
		name     string
		v        any
		unsigned bool
		bits     uint
		want     any
		ok       bool
	}{
		{"signed TINY", int8(-1), false, 8, int64(-1), true},
		{"signed TINY min", int8(math.MinInt8), false, 8, int64(math.MinInt8), true},
		{"unsigned TINY given signed", int8(-1), true, 8, uint64(255), true},
		{"unsigned TINY 128 given signed", int8(math.MinInt8), true, 8, uint64(128), true},
		{"unsigned TINY small", int8(5), true, 8, uint64(5), true},
		{"unsigned SHORT given signed", int16(-1), true, 16, uint64(65535), true},
		{"unsigned SHORT 32768", int16(math.MinInt16), true, 16, uint64(32768), true},
		{"signed INT24", int32(-8388608), false, 24, int64(-8388608), true},
		{"unsigned INT24 given sign-extended", int32(-1), true, 24, uint64(16777215), true},
		{"unsigned INT24 8388608", int32(-8388608), true, 24, uint64(8388608), true},
		{"unsigned LONG given signed", int32(-1), true, 32, uint64(4294967295), true},
		{"unsigned LONG 2^31", int32(math.MinInt32), true, 32, uint64(2147483648), true},
		{"signed LONGLONG min", int64(math.MinInt64), false, 64, int64(math.MinInt64), true},
		{"unsigned LONGLONG given signed", int64(-1), true, 64, uint64(math.MaxUint64), true},
		{"unsigned LONGLONG 2^63", int64(math.MinInt64), true, 64, uint64(1 << 63), true},
		{"unsigned, width unknown", int64(-2), true, 0, uint64(math.MaxUint64 - 1), true},
		{"already unsigned uint8", uint8(200), true, 8, uint64(200), true},
		{"already unsigned uint16", uint16(65535), true, 16, uint64(65535), true},
		{"already unsigned uint32 for INT24", uint32(16777215), true, 24, uint64(16777215), true},
		{"already unsigned uint64", uint64(math.MaxUint64), true, 64, uint64(math.MaxUint64), true},
		{"go-mysql's unsigned wins over the schema", uint32(7), false, 32, uint64(7), true},
		{"not an integer: string", "1", false, 32, nil, false},
		{"not an integer: float", 1.0, false, 32, nil, false},
		{"not an integer: int", 1, false, 32, nil, false},
	}
	for _, tt := range tests {
		got, ok := intValue(tt.v, tt.unsigned, tt.bits)
		if ok != tt.ok || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s: intValue(%T(%v), %v, %d) = %T(%v), %v; want %T(%v), %v", tt.name, tt.v, tt.v, tt.unsigned, tt.bits, got, got, ok, tt.want, tt.want, tt.ok)
		}
	}
}

func TestNormalizeBinlogValues(t *testing.T) {
	members := []string{"small", "it's", "large"}
	var set64 []string
	for i := range 64 {
		set64 = append(set64, string(rune('a'+i%26))+strings.Repeat("x", i/26))
	}
	tests := []struct {
		name string
		c    Normalizer
		in   any
		want any
		ok   bool
	}{
		{"int signed", Normalizer{Type: TypeInt, Bits: 32}, int32(-5), int64(-5), true},
		{"int unsigned from signed", Normalizer{Type: TypeInt, Unsigned: true, Bits: 8}, int8(-56), uint64(200), true},
		{"int wrong type", Normalizer{Type: TypeInt, Bits: 32}, "5", nil, false},
		{"float32 as is", Normalizer{Type: TypeFloat}, float32(1.1), float32(1.1), true},
		{"float64 as is", Normalizer{Type: TypeFloat}, 2.5, 2.5, true},
		{"decimal string as is", Normalizer{Type: TypeDecimal}, "12.50", "12.50", true},
		{"year int", Normalizer{Type: TypeYear}, 2024, int64(2024), true},
		{"year zero", Normalizer{Type: TypeYear}, 0, int64(0), true},
		{"year int64", Normalizer{Type: TypeYear}, int64(1999), int64(1999), true},
		{"year wrong type", Normalizer{Type: TypeYear}, "2024", nil, false},
		{"bit", Normalizer{Type: TypeBit}, int64(5), uint64(5), true},
		{"BIT(64) all ones", Normalizer{Type: TypeBit}, int64(-1), uint64(math.MaxUint64), true},
		{"bit uint64", Normalizer{Type: TypeBit}, uint64(3), uint64(3), true},
		{"bit from a result set's bytes", Normalizer{Type: TypeBit}, []byte{1, 2}, uint64(258), true},
		{"date as is", Normalizer{Type: TypeDate}, "2024-02-29", "2024-02-29", true},
		{"zero date as is", Normalizer{Type: TypeDate}, "0000-00-00", "0000-00-00", true},
		{"datetime(3) from 6 digits", Normalizer{Type: TypeDateTime, Decimals: 3}, "2024-01-02 03:04:05.123456", "2024-01-02 03:04:05.123", true},
		{"datetime(3) from none", Normalizer{Type: TypeDateTime, Decimals: 3}, "2024-01-02 03:04:05", "2024-01-02 03:04:05.000", true},
		{"datetime(0)", Normalizer{Type: TypeDateTime}, "2024-01-02 03:04:05", "2024-01-02 03:04:05", true},
		{"timestamp(6)", Normalizer{Type: TypeTimestamp, Decimals: 6}, "1970-01-01 00:00:01.5", "1970-01-01 00:00:01.500000", true},
		{"zero timestamp(2)", Normalizer{Type: TypeTimestamp, Decimals: 2}, "0000-00-00 00:00:00", "0000-00-00 00:00:00.00", true},
		{"negative time(1)", Normalizer{Type: TypeTime, Decimals: 1}, "-838:59:59", "-838:59:59.0", true},
		{"time(0) drops a fraction", Normalizer{Type: TypeTime}, "12:00:00.000000", "12:00:00", true},
		{"temporal wrong type", Normalizer{Type: TypeDateTime}, int64(1), nil, false},
		{"enum first member", Normalizer{Type: TypeEnum, Members: members}, int64(1), "small", true},
		{"enum member with a quote", Normalizer{Type: TypeEnum, Members: members}, int64(2), "it's", true},
		{"enum last member", Normalizer{Type: TypeEnum, Members: members}, int64(3), "large", true},
		{"enum invalid value 0", Normalizer{Type: TypeEnum, Members: members}, int64(0), "", true},
		{"enum index past the members", Normalizer{Type: TypeEnum, Members: members}, int64(4), "4", true},
		{"enum without members", Normalizer{Type: TypeEnum}, int64(2), "2", true},
		{"enum by name", Normalizer{Type: TypeEnum, Members: members}, "small", "small", true},
		{"set none", Normalizer{Type: TypeSet, Members: members}, int64(0), "", true},
		{"set one", Normalizer{Type: TypeSet, Members: members}, int64(2), "it's", true},
		{"set several in member order", Normalizer{Type: TypeSet, Members: members}, int64(5), "small,large", true},
		{"set all", Normalizer{Type: TypeSet, Members: members}, int64(7), "small,it's,large", true},
		{"set bits past the members ignored", Normalizer{Type: TypeSet, Members: members}, int64(9), "small", true},
		{"set of 64, last member", Normalizer{Type: TypeSet, Members: set64}, int64(math.MinInt64), set64[63], true},
		{"set without members", Normalizer{Type: TypeSet}, int64(5), "5", true},
		{"set wrong type", Normalizer{Type: TypeSet, Members: members}, uint64(1), nil, false},
		{"set by names", Normalizer{Type: TypeSet, Members: members}, "small,large", "small,large", true},
		{"string from bytes", Normalizer{Type: TypeString}, []byte("héllo"), "héllo", true},
		{"string as is", Normalizer{Type: TypeString}, "x", "x", true},
		{"empty string from bytes", Normalizer{Type: TypeString}, []byte{}, "", true},
		{"json from bytes", Normalizer{Type: TypeJSON}, []byte(`{"a":1}`), `{"a":1}`, true},
		{"string wrong type", Normalizer{Type: TypeString}, int64(1), nil, false},
		{"binary as is", Normalizer{Type: TypeBinary}, []byte{1, 2}, []byte{1, 2}, true},
		{"binary from string", Normalizer{Type: TypeBinary}, "ab", []byte("ab"), true},
		{"BINARY(4) padded with zero bytes", Normalizer{Type: TypeBinary, PadTo: 4}, []byte("ab"), []byte("ab\x00\x00"), true},
		{"BINARY(4) from string padded", Normalizer{Type: TypeBinary, PadTo: 4}, "ab", []byte("ab\x00\x00"), true},
		{"BINARY(4) empty value", Normalizer{Type: TypeBinary, PadTo: 4}, []byte{}, []byte{0, 0, 0, 0}, true},
		{"BINARY(4) full", Normalizer{Type: TypeBinary, PadTo: 4}, []byte("abcd"), []byte("abcd"), true},
		{"BINARY(4) trailing zero kept", Normalizer{Type: TypeBinary, PadTo: 4}, []byte("ab\x00"), []byte("ab\x00\x00"), true},
		{"geometry as is", Normalizer{Type: TypeGeometry}, []byte{0, 0, 0, 0, 1}, []byte{0, 0, 0, 0, 1}, true},
		{"binary wrong type", Normalizer{Type: TypeBinary}, int64(1), nil, false},
		{"unknown type class", Normalizer{}, int64(1), nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var orig []byte
			if b, ok := tt.in.([]byte); ok {
				orig = append([]byte(nil), b...)
			}
			got, ok := tt.c.convert(tt.in)
			if ok != tt.ok || !reflect.DeepEqual(got, tt.want) {
				t.Errorf("convert(%T(%v)) = %T(%q), %v; want %T(%q), %v", tt.in, tt.in, got, got, ok, tt.want, tt.want, tt.ok)
			}
			if orig != nil && !reflect.DeepEqual(orig, tt.in) {
				t.Errorf("convert modified its input to %q", tt.in)
			}
		})
	}
}

// TestSameValueBothWays feeds the same stored value through the normalizer as the binlog reader
// configures it (go-mysql's decoded value) and as the initial copy does (the result set's
// value): both must give the same Row value, or a row's key, partition and message would depend
// on how it arrived.
func TestSameValueBothWays(t *testing.T) {
	members := []string{"small", "it's", "large"}
	at := time.Date(2024, 1, 2, 3, 4, 5, 123456000, time.UTC)
	tests := []struct {
		name       string
		binlog     Normalizer
		fromBinlog any
		copy       Normalizer
		fromResult any
		want       any
	}{
		{"INT UNSIGNED, sign-extended in the binlog", Normalizer{Type: TypeInt, Unsigned: true, Bits: 32}, int32(-1),
			Normalizer{Type: TypeInt, Unsigned: true}, uint64(4294967295), uint64(4294967295)},
		{"BIGINT, text protocol", Normalizer{Type: TypeInt, Bits: 64}, int64(-5), Normalizer{Type: TypeInt}, []byte("-5"), int64(-5)},
		{"BIGINT, binary protocol", Normalizer{Type: TypeInt, Bits: 64}, int64(-5), Normalizer{Type: TypeInt}, int64(-5), int64(-5)},
		{"FLOAT", Normalizer{Type: TypeFloat}, float32(1.5), Normalizer{Type: TypeFloat, Float32: true}, 1.5, float32(1.5)},
		{"FLOAT as text", Normalizer{Type: TypeFloat}, float32(0.1), Normalizer{Type: TypeFloat, Float32: true}, []byte("0.1"), float32(0.1)},
		{"DOUBLE", Normalizer{Type: TypeFloat}, 2.25, Normalizer{Type: TypeFloat}, []byte("2.25"), 2.25},
		{"DECIMAL", Normalizer{Type: TypeDecimal}, "12.50", Normalizer{Type: TypeDecimal}, []byte("12.50"), "12.50"},
		{"DATE", Normalizer{Type: TypeDate}, "2024-02-29", Normalizer{Type: TypeDate}, []byte("2024-02-29"), "2024-02-29"},
		{"DATETIME(3)", Normalizer{Type: TypeDateTime, Decimals: 3}, at, Normalizer{Type: TypeDateTime, Decimals: 3}, []byte("2024-01-02 03:04:05.123"), "2024-01-02 03:04:05.123"},
		{"zero TIMESTAMP(2)", Normalizer{Type: TypeTimestamp, Decimals: 2}, "0000-00-00 00:00:00", Normalizer{Type: TypeTimestamp, Decimals: 2}, []byte("0000-00-00 00:00:00.00"), "0000-00-00 00:00:00.00"},
		{"TIME(1)", Normalizer{Type: TypeTime, Decimals: 1}, "-838:59:59", Normalizer{Type: TypeTime, Decimals: 1}, []byte("-838:59:59.0"), "-838:59:59.0"},
		{"YEAR", Normalizer{Type: TypeYear}, 2024, Normalizer{Type: TypeYear}, uint64(2024), int64(2024)},
		{"ENUM", Normalizer{Type: TypeEnum, Members: members}, int64(2), Normalizer{Type: TypeEnum}, []byte("it's"), "it's"},
		{"SET", Normalizer{Type: TypeSet, Members: members}, int64(5), Normalizer{Type: TypeSet}, []byte("small,large"), "small,large"},
		{"BIT(16)", Normalizer{Type: TypeBit}, int64(258), Normalizer{Type: TypeBit}, []byte{1, 2}, uint64(258)},
		{"BINARY(4)", Normalizer{Type: TypeBinary, PadTo: 4, Alias: true}, []byte("ab"), Normalizer{Type: TypeBinary}, []byte("ab\x00\x00"), []byte("ab\x00\x00")},
		{"latin1 text", Normalizer{Type: TypeString, Text: charmap.ISO8859_1, Alias: true}, []byte{'c', 0xe9}, Normalizer{Type: TypeString}, []byte("cé"), "cé"},
		{"JSON", Normalizer{Type: TypeJSON, Alias: true}, []byte(`{"a":1}`), Normalizer{Type: TypeJSON}, []byte(`{"a":1}`), `{"a":1}`},
	}
	for _, tt := range tests {
		a, err := tt.binlog.Normalize(tt.fromBinlog)
		if err != nil {
			t.Errorf("%s: from the binlog: %v", tt.name, err)
		}
		b, err := tt.copy.Normalize(tt.fromResult)
		if err != nil {
			t.Errorf("%s: from a result set: %v", tt.name, err)
		}
		if !reflect.DeepEqual(a, tt.want) || !reflect.DeepEqual(b, tt.want) {
			t.Errorf("%s: from the binlog %T(%v), from a result set %T(%v); want %T(%v) both ways", tt.name, a, a, b, b, tt.want, tt.want)
		}
	}
}

// TestNormalizeDoesNotAliasResultSets: a result set reuses its buffer row after row, so values
// taken from it must be copies.
func TestNormalizeDoesNotAliasResultSets(t *testing.T) {
	buf := []byte("abc")
	for _, n := range []Normalizer{{Type: TypeString}, {Type: TypeBinary}, {Type: TypeDecimal}} {
		v, err := n.Normalize(buf)
		if err != nil {
			t.Fatal(err)
		}
		before := fmt.Sprint(v)
		buf[0] = 'X'
		if after := fmt.Sprint(v); after != before {
			t.Errorf("%v: value changed with the buffer: %q -> %q", n.Type, before, after)
		}
		buf[0] = 'a'
	}
}
