package worker

import (
	"github.com/dtsrepl/dts/api"
	"github.com/dtsrepl/dts/worker/change"
	"github.com/dtsrepl/dts/worker/encode"
	"github.com/dtsrepl/dts/worker/format"
)

// newFormat returns the task's message format (kafka.format). Validation refuses a format dts
// does not know, so one can only come from a spec stored by a newer dts: the task then fails
// on its first change, permanently, rather than send messages nobody asked for.
func newFormat(k api.Kafka, enc *encode.Encoder) messageFormat {
	f, err := format.New(k, enc)
	if err != nil {
		return failedFormat{err: permanent(err)}
	}
	return f
}

// failedFormat is a format that could not be made.
type failedFormat struct{ err error }

// Encode implements messageFormat: it fails every change.
func (f failedFormat) Encode(*change.Event, []byte, func(key, value []byte) error) error {
	return f.err
}
