package snapshot

import (
	"reflect"
	"testing"

	"github.com/dtsrepl/dts/worker/change"
	"github.com/dtsrepl/dts/worker/schema"
)

func TestAfter(t *testing.T) {
	tests := []struct {
		cols []string
		want string
	}{
		{[]string{"`id`"}, "((`id` > ?))"},
		{[]string{"`a`", "`b`"}, "((`a` > ?) OR (`a` = ? AND `b` > ?))"},
		{[]string{"`a`", "`b`", "`c`"}, "((`a` > ?) OR (`a` = ? AND `b` > ?) OR (`a` = ? AND `b` = ? AND `c` > ?))"},
	}
	for _, tt := range tests {
		if got := after(tt.cols); got != tt.want {
			t.Errorf("after(%v) = %s, want %s", tt.cols, got, tt.want)
		}
	}
}

// TestKeyRoundTrip checks that a chunk key survives the checkpoint with its types, so a resumed
// copy pages from exactly where it stopped.
func TestKeyRoundTrip(t *testing.T) {
	col := func(typ change.ColumnType, unsigned bool) schema.Column {
		return schema.Column{Column: change.Column{Type: typ, Unsigned: unsigned}}
	}
	desc := &schema.Table{Columns: []schema.Column{
		col(change.TypeInt, false), col(change.TypeInt, true), col(change.TypeString, false),
		col(change.TypeBinary, false), col(change.TypeDecimal, false), col(change.TypeDateTime, false),
	}}
	key := []int{0, 1, 2, 3, 4, 5}
	tests := [][]any{
		{int64(-9223372036854775808), uint64(18446744073709551615), "héllo", []byte{0, 255, 7}, "12.50", "2021-01-02 03:04:05.123"},
		{int64(1), uint64(0), "", []byte{}, "0", "0000-00-00 00:00:00"},
	}
	for _, vals := range tests {
		raw := encodeKey(vals)
		got, err := decodeKey(raw, desc, key)
		if err != nil {
			t.Fatalf("decode %s: %v", raw, err)
		}
		if !reflect.DeepEqual(got, vals) {
			t.Errorf("round trip of %v through %s gave %v", vals, raw, got)
		}
	}
	if _, err := decodeKey([]byte(`[1,2]`), desc, key); err == nil {
		t.Error("a key with the wrong number of columns decoded")
	}
}
