package format

import (
	"errors"
	"reflect"
	"testing"

	"github.com/dtsrepl/dts/api"
	"github.com/dtsrepl/dts/worker/encode"
	"github.com/dtsrepl/dts/worker/format/canal"
	"github.com/dtsrepl/dts/worker/format/debezium"
	"github.com/dtsrepl/dts/worker/format/formattest"
	"github.com/dtsrepl/dts/worker/format/maxwell"
)

func TestNew(t *testing.T) {
	enc := encode.New(encode.Options{})
	tests := []struct {
		format string
		want   Format
	}{
		{"", &encode.DTS{}},
		{"dts", &encode.DTS{}},
		{"canal", &canal.Format{}},
		{"maxwell", &maxwell.Format{}},
		{"debezium", &debezium.Format{}},
	}
	for _, tt := range tests {
		f, err := New(api.Kafka{Format: tt.format}, enc)
		if err != nil {
			t.Fatalf("%q: %v", tt.format, err)
		}
		if reflect.TypeOf(f) != reflect.TypeOf(tt.want) {
			t.Errorf("%q: %T, want %T", tt.format, f, tt.want)
		}
	}
	if _, err := New(api.Kafka{Format: "avro"}, enc); !errors.Is(err, ErrUnknown) {
		t.Errorf("unknown format: %v, want ErrUnknown", err)
	}
}

// BenchmarkFormats encodes the insert of the type test table's row (29 columns, one of every
// type class) in each format: the CPU a format's encoding costs per row, without decoding or
// producing. go test -bench Formats -benchmem ./worker/format
func BenchmarkFormats(b *testing.B) {
	ev := formattest.Cases()[0].Event
	send := func(k, v []byte) error { return nil }
	for _, k := range []api.Kafka{{Format: "dts"}, {Format: "canal"}, {Format: "maxwell"}, {Format: "debezium"},
		{Format: "debezium", DebeziumSchema: true}} {
		name := k.Format
		if k.DebeziumSchema {
			name += "-schema"
		}
		b.Run(name, func(b *testing.B) {
			enc := encode.New(encode.Options{})
			f, err := New(k, enc)
			if err != nil {
				b.Fatal(err)
			}
			key, _ := enc.Key(nil, ev)
			b.ReportAllocs()
			for b.Loop() {
				if err := f.Encode(ev, key, send); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
