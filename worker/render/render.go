// Package render turns a task's changes into the Kafka messages dts sends: whether the row
// filters keep a change, its topic and partition hash, and its key and value in the task's
// format. The worker's emitter sends what it renders; the dispatcher's preview shows the same
// messages without sending them. One definition, so a preview is exactly what the task sends.
package render

import (
	"errors"
	"fmt"

	"github.com/dtsrepl/dts/api"
	"github.com/dtsrepl/dts/worker/change"
	"github.com/dtsrepl/dts/worker/encode"
	"github.com/dtsrepl/dts/worker/filter"
	"github.com/dtsrepl/dts/worker/format"
	"github.com/dtsrepl/dts/worker/route"
)

// ErrKeyExcluded: a change's primary key has a column kafka.exclude_columns excludes, and the
// message key carries the primary key.
var ErrKeyExcluded = errors.New("an excluded column is part of the primary key")

// Renderer renders the changes of one task. Not safe for concurrent use.
type Renderer struct {
	rows   *filter.Set
	enc    *encode.Encoder // the dts key, which routing hashes whatever the format
	router *route.Router
	format format.Format
	kbuf   []byte
}

// New returns the Renderer of a spec, with its filters compiled.
func New(spec *api.TaskSpec) (*Renderer, error) {
	rows, err := filter.Compile(spec.Filters)
	if err != nil {
		return nil, fmt.Errorf("task filters: %w", err)
	}
	enc := encode.New(encode.Options{Flat: spec.Kafka.FlatFormat, Exclude: spec.Kafka.ExcludeColumns})
	f, err := format.New(spec.Kafka, enc)
	if err != nil {
		return nil, err
	}
	return &Renderer{rows: rows, enc: enc, router: route.New(spec.Kafka), format: f}, nil
}

// Topic is the topic of a table's changes under the task's routing ("" for a database-level
// DDL when topics are per table).
func (r *Renderer) Topic(db, table string) string { return r.router.Topic(db, table) }

// DTS reports whether the task writes dts's own format (the only one with alter markers).
func (r *Renderer) DTS() bool {
	_, ok := r.format.(*encode.DTS)
	return ok
}

// Filters is the task's compiled filters (the table scope comes from them).
func (r *Renderer) Filters() *filter.Set { return r.rows }

// Keep reports whether the row filters keep ev (DDL and the copy's table marks are kept).
func (r *Renderer) Keep(ev *change.Event) (bool, error) { return r.rows.Keep(ev) }

// Render calls send for each message of ev, with its topic and partition hash. A database-level
// DDL has no message when topics are per table.
func (r *Renderer) Render(ev *change.Event, send func(topic string, hash uint32, key, value []byte) error) error {
	if ev.Kind.Rows() {
		if col := r.enc.KeyExcluded(ev.Table); col != "" {
			return fmt.Errorf("%w: kafka.exclude_columns excludes %s, which is part of the primary key of %s: the message key carries the primary key, so its values would still reach Kafka. Remove %s from exclude_columns, or stream the table with another task that excludes no key column", ErrKeyExcluded, col, ev.Table, col)
		}
	}
	key, hasKey := r.enc.Key(r.kbuf[:0], ev)
	r.kbuf = key
	topic, hash := r.router.Route(ev, key)
	if topic == "" {
		return nil
	}
	if !hasKey {
		key = nil
	}
	return r.format.Encode(ev, key, func(k, v []byte) error { return send(topic, hash, k, v) })
}
