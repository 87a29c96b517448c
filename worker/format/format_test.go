package format

import (
	"errors"
	"reflect"
	"testing"

	"github.com/dtsrepl/dts/api"
	"github.com/dtsrepl/dts/worker/encode"
	"github.com/dtsrepl/dts/worker/format/canal"
	"github.com/dtsrepl/dts/worker/format/debezium"
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
