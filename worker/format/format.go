// Package format picks a task's message format (kafka.format): dts's own (encode.DTS), or the
// messages of the tool a task replaces, so that existing consumers read dts's output unchanged:
// Canal's flat messages (canal), Maxwell's (maxwell) or Debezium's change events (debezium).
// Every format is routed and partitioned alike, by the emitter, from the dts key.
package format

import (
	"errors"
	"fmt"

	"github.com/dtsrepl/dts/api"
	"github.com/dtsrepl/dts/worker/change"
	"github.com/dtsrepl/dts/worker/encode"
	"github.com/dtsrepl/dts/worker/format/canal"
	"github.com/dtsrepl/dts/worker/format/debezium"
	"github.com/dtsrepl/dts/worker/format/maxwell"
)

// Format writes the messages of a change: send is called once per message, with its key (nil:
// none) and value (nil: a tombstone). key is the change's dts key, nil when its table has no
// primary key. The slices passed to send may be reused once it returns.
type Format interface {
	Encode(ev *change.Event, key []byte, send func(key, value []byte) error) error
}

// ErrUnknown is a kafka.format dts does not know.
var ErrUnknown = errors.New("unknown message format")

var (
	_ Format = (*encode.DTS)(nil)
	_ Format = (*canal.Format)(nil)
	_ Format = (*maxwell.Format)(nil)
	_ Format = (*debezium.Format)(nil)
)

// New returns the format kafka.format names; enc writes dts's keys and values and knows which
// columns kafka.exclude_columns leaves out of every format.
func New(kafka api.Kafka, enc *encode.Encoder) (Format, error) {
	switch kafka.Format {
	case "", api.FormatDTS:
		return &encode.DTS{Enc: enc}, nil
	case api.FormatCanal:
		return canal.New(enc), nil
	case api.FormatMaxwell:
		return maxwell.New(enc), nil
	case api.FormatDebezium:
		return debezium.New(enc, debezium.Options{
			Schema:     kafka.DebeziumSchema,
			Tombstones: kafka.DebeziumTombstones == nil || *kafka.DebeziumTombstones,
			Decimal:    kafka.DebeziumDecimal,
		}), nil
	}
	return nil, fmt.Errorf("kafka.format %q: %w", kafka.Format, ErrUnknown)
}
