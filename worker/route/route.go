// Package route decides where a change goes in Kafka: its topic (topic_mode) and the hash that
// picks its partition (partition_mode). Changes with the same hash land in the same partition,
// in order.
package route

import (
	"github.com/dtsrepl/dts/api"
	"github.com/dtsrepl/dts/worker/change"
	"github.com/dtsrepl/dts/worker/encode"
)

// Router routes the changes of one task. It caches per-table decisions and is not safe for
// concurrent use.
type Router struct {
	topic     string
	topicMode int
	hasMode   bool
	partition string
	columns   []string
	fallback  string

	tables map[*change.Table]*tableRoute
	topics map[[2]string]string
	buf    []byte
}

type tableRoute struct {
	topic     string
	tableHash uint32
	// cols are the partition columns' indexes; nil when the table lacks one (fallback applies).
	cols []int
	mode string
}

// New returns a Router for a task's kafka settings.
func New(k api.Kafka) *Router {
	r := &Router{
		topic:     k.Topic,
		partition: k.PartitionMode,
		columns:   k.PartitionColumns,
		fallback:  k.ProducerPartitionByFallback,
		tables:    map[*change.Table]*tableRoute{},
		topics:    map[[2]string]string{},
	}
	r.topicMode, r.hasMode = k.TopicModeValue()
	if r.partition == "" {
		r.partition = api.PartitionByTable
	}
	if r.fallback == "" {
		r.fallback = api.PartitionByTable
	}
	return r
}

// Topic returns the topic of a table's changes; table may be empty for a database-level DDL,
// which has no topic when topics are per table ("").
func (r *Router) Topic(db, table string) string {
	if !r.hasMode {
		return r.topic
	}
	k := [2]string{db, table}
	if t, ok := r.topics[k]; ok {
		return t
	}
	var t string
	switch {
	case r.topicMode == api.TopicModeDatabase:
		t = api.TopicName(db)
	case table != "":
		t = api.TopicName(db + "_" + table)
	}
	if len(r.topics) >= 4096 {
		clear(r.topics)
	}
	r.topics[k] = t
	return t
}

func (r *Router) route(t *change.Table) *tableRoute {
	if tr, ok := r.tables[t]; ok {
		return tr
	}
	tr := &tableRoute{topic: r.Topic(t.Schema, t.Name), tableHash: Hash([]byte(t.Schema + "." + t.Name)), mode: r.partition}
	if tr.mode == api.PartitionByColumn {
		for _, name := range r.columns {
			i := t.ColumnIndex(name)
			if i < 0 {
				tr.cols = nil
				tr.mode = r.fallback
				break
			}
			tr.cols = append(tr.cols, i)
		}
	}
	if tr.mode == api.PartitionByPrimaryKey && len(t.PK) == 0 {
		tr.mode = api.PartitionByTable
	}
	if len(r.tables) >= 4096 {
		clear(r.tables)
	}
	r.tables[t] = tr
	return tr
}

// Route returns the topic and partition hash of a change. key is the message key the encoder
// wrote for it (the primary key), reused for primary_key partitioning.
func (r *Router) Route(ev *change.Event, key []byte) (string, uint32) {
	if ev.Table == nil || ev.Kind == change.DDL && ev.Table.Columns == nil {
		var table string
		if ev.Table != nil {
			table = ev.Table.Name
		}
		return r.Topic(ev.Schema, table), Hash([]byte(ev.Schema + "." + table))
	}
	tr := r.route(ev.Table)
	if !ev.Kind.Rows() { // a DDL or a copy boundary of a table: with its table's rows
		return tr.topic, tr.tableHash
	}
	switch tr.mode {
	case api.PartitionByPrimaryKey:
		return tr.topic, Hash(key)
	case api.PartitionByColumn:
		row := ev.Image()
		b := r.buf[:0]
		for n, i := range tr.cols {
			if n > 0 {
				b = append(b, 0)
			}
			b = encode.AppendValue(b, &ev.Table.Columns[i], row[i])
		}
		r.buf = b
		return tr.topic, Hash(b)
	}
	return tr.topic, tr.tableHash
}

// Hash is 32-bit FNV-1a, the partition hash of dts messages.
func Hash(b []byte) uint32 {
	const (
		offset = 2166136261
		prime  = 16777619
	)
	h := uint32(offset)
	for _, c := range b {
		h ^= uint32(c)
		h *= prime
	}
	return h
}
