package worker

import (
	"errors"
	"testing"

	"github.com/dtsrepl/dts/api"
	"github.com/dtsrepl/dts/worker/change"
	"github.com/dtsrepl/dts/worker/encode"
	"github.com/dtsrepl/dts/worker/format"
)

// A format validation would have refused (a spec from a newer dts) fails the task at its first
// change, permanently: retrying cannot help.
func TestNewFormatUnknown(t *testing.T) {
	f := newFormat(api.Kafka{Format: "avro"}, encode.New(encode.Options{}))
	err := f.Encode(&change.Event{Kind: change.Insert}, nil, func(k, v []byte) error {
		t.Fatal("sent a message")
		return nil
	})
	if !isPermanent(err) || !errors.Is(err, format.ErrUnknown) {
		t.Fatalf("Encode: %v, want a permanent ErrUnknown", err)
	}
	if _, ok := newFormat(api.Kafka{Format: "canal"}, encode.New(encode.Options{})).(failedFormat); ok {
		t.Fatal("canal is unknown")
	}
}
