package change

import (
	"testing"
)

func TestKindString(t *testing.T) {
	tests := []struct {
		kind Kind
		want string
	}{
		{Insert, "insert"},
		{Update, "update"},
		{Delete, "delete"},
		{Snapshot, "snapshot"},
		{DDL, "ddl"},
		{CopyBegin, "copy-begin"},
		{CopyEnd, "copy-end"},
		{0, "unknown"},
		{CopyEnd + 1, "unknown"},
	}
	for _, tt := range tests {
		if got := tt.kind.String(); got != tt.want {
			t.Errorf("Kind(%d).String() = %q, want %q", tt.kind, got, tt.want)
		}
	}
}

func TestColumnTypeString(t *testing.T) {
	tests := []struct {
		typ  ColumnType
		want string
	}{
		{TypeInt, "int"},
		{TypeFloat, "float"},
		{TypeDecimal, "decimal"},
		{TypeString, "string"},
		{TypeBinary, "binary"},
		{TypeJSON, "json"},
		{TypeDate, "date"},
		{TypeDateTime, "datetime"},
		{TypeTimestamp, "timestamp"},
		{TypeTime, "time"},
		{TypeYear, "year"},
		{TypeEnum, "enum"},
		{TypeSet, "set"},
		{TypeBit, "bit"},
		{TypeGeometry, "geometry"},
		{0, "unknown"},
		{TypeGeometry + 1, "unknown"},
	}
	for _, tt := range tests {
		if got := tt.typ.String(); got != tt.want {
			t.Errorf("ColumnType(%d).String() = %q, want %q", tt.typ, got, tt.want)
		}
	}
}

func TestColumnIndex(t *testing.T) {
	tbl := &Table{Schema: "shop", Name: "orders", Columns: []Column{{Name: "id"}, {Name: "Status"}, {Name: "ÄÖ"}, {Name: "status_2"}}}
	tests := []struct {
		name string
		want int
	}{
		{"id", 0},
		{"ID", 0},
		{"status", 1},
		{"STATUS", 1},
		{"Status", 1},
		{"äö", 2},
		{"status_2", 3},
		{"stat", -1},
		{"", -1},
		{"missing", -1},
	}
	for _, tt := range tests {
		if got := tbl.ColumnIndex(tt.name); got != tt.want {
			t.Errorf("ColumnIndex(%q) = %d, want %d", tt.name, got, tt.want)
		}
	}
	if got := (&Table{}).ColumnIndex("id"); got != -1 {
		t.Errorf("ColumnIndex on a table without columns = %d, want -1", got)
	}
}

func TestEventImage(t *testing.T) {
	before, after := Row{int64(1), "old"}, Row{int64(1), "new"}
	tests := []struct {
		kind Kind
		want Row
	}{
		{Insert, after},
		{Update, after},
		{Snapshot, after},
		{Delete, before},
	}
	for _, tt := range tests {
		ev := &Event{Kind: tt.kind, Before: before, After: after}
		got := ev.Image()
		if len(got) != len(tt.want) || got[1] != tt.want[1] {
			t.Errorf("%v: Image() = %v, want %v", tt.kind, got, tt.want)
		}
	}
	if got := (&Event{Kind: Delete, After: after}).Image(); got != nil {
		t.Errorf("Delete without Before: Image() = %v, want nil", got)
	}
}

func TestFrac(t *testing.T) {
	tests := []struct {
		in   string
		dec  int
		want string
	}{
		{"2024-01-02 03:04:05", 0, "2024-01-02 03:04:05"},
		{"2024-01-02 03:04:05.123456", 0, "2024-01-02 03:04:05"},
		{"2024-01-02 03:04:05.", 0, "2024-01-02 03:04:05"},
		{"2024-01-02 03:04:05", 3, "2024-01-02 03:04:05.000"},
		{"2024-01-02 03:04:05", 6, "2024-01-02 03:04:05.000000"},
		{"2024-01-02 03:04:05.1", 3, "2024-01-02 03:04:05.100"},
		{"2024-01-02 03:04:05.12", 2, "2024-01-02 03:04:05.12"},
		{"2024-01-02 03:04:05.123456", 3, "2024-01-02 03:04:05.123"},
		{"2024-01-02 03:04:05.999999", 1, "2024-01-02 03:04:05.9"}, // truncates, never rounds
		{"2024-01-02 03:04:05.", 2, "2024-01-02 03:04:05.00"},
		{"0000-00-00 00:00:00", 2, "0000-00-00 00:00:00.00"},
		{"12:34:56", 0, "12:34:56"},
		{"12:34:56", 1, "12:34:56.0"},
		{"-838:59:59.5", 2, "-838:59:59.50"},
		{"-838:59:59.000000", 0, "-838:59:59"},
		{"838:59:59.123", 6, "838:59:59.123000"},
		{"", 0, ""},
		// More digits than MySQL has, as only a hostile server sends: padded all the same.
		{"12:34:56", 12, "12:34:56.000000000000"},
		{"12:34:56.5", 11, "12:34:56.50000000000"},
		{"12:34:56.123456789012", 10, "12:34:56.1234567890"},
	}
	for _, tt := range tests {
		if got := Frac(tt.in, tt.dec); got != tt.want {
			t.Errorf("Frac(%q, %d) = %q, want %q", tt.in, tt.dec, got, tt.want)
		}
	}
}
