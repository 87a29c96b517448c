package render

import (
	"errors"
	"testing"

	"github.com/dtsrepl/dts/api"
	"github.com/dtsrepl/dts/worker/format"
)

// A format validation would have refused (a spec stored by a newer dts) is an error when the
// task starts, not messages nobody asked for; a known one is rendered, and only dts's own
// format has alter markers.
func TestNewFormat(t *testing.T) {
	if _, err := New(&api.TaskSpec{Kafka: api.Kafka{Format: "avro"}}); !errors.Is(err, format.ErrUnknown) {
		t.Fatalf("New(avro): %v, want ErrUnknown", err)
	}
	for f, dts := range map[string]bool{"": true, api.FormatDTS: true, api.FormatCanal: false, api.FormatMaxwell: false, api.FormatDebezium: false} {
		r, err := New(&api.TaskSpec{Kafka: api.Kafka{Format: f}})
		if err != nil {
			t.Fatalf("New(%q): %v", f, err)
		}
		if r.DTS() != dts {
			t.Errorf("New(%q).DTS() = %v, want %v", f, r.DTS(), dts)
		}
	}
}
