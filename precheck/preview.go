package precheck

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/dtsrepl/dts/api"
	"github.com/dtsrepl/dts/worker/change"
	"github.com/dtsrepl/dts/worker/filter"
	"github.com/dtsrepl/dts/worker/produce"
	"github.com/dtsrepl/dts/worker/render"
	"github.com/dtsrepl/dts/worker/route"
	"github.com/dtsrepl/dts/worker/schema"
	"github.com/dtsrepl/dts/worker/snapshot"
)

// Preview bounds.
const (
	DefaultPreviewRows = 10
	MaxPreviewRows     = 1000
	// maxPreviewTables bounds the tables one preview reads.
	maxPreviewTables = 100
)

// ErrSource wraps what keeps a preview from reading the source; IsUnreachable tells a network
// failure from the source refusing.
var ErrSource = errors.New("source")

// Preview reads up to rows rows of each table the task matches, in primary-key order as the
// initial copy reads them, and renders them with the worker's renderer: the records the task
// would send (topic, partition, key, value) and those the row filter drops. Nothing is written
// to Kafka; Kafka is only asked for the topics' partition counts, and a preview without them
// gives each record's hash instead. ctx bounds it all.
func Preview(ctx context.Context, spec *api.TaskSpec, creds *api.Credentials, taskID int64, rows int) (*api.Preview, error) {
	if rows <= 0 {
		rows = DefaultPreviewRows
	}
	rows = min(rows, MaxPreviewRows)
	rend, err := render.New(spec)
	if err != nil {
		return nil, err
	}
	d := SourceDialer(spec, creds, taskID)
	if d.Source.Username == "" {
		return nil, fmt.Errorf("%w: the task gives no source.username and the dispatcher has no default account for %s", ErrSource, d.Source.Host)
	}
	conn, _, err := d.Resolve(ctx)
	if err != nil {
		return nil, fmt.Errorf("%w %s: %w", ErrSource, d.Source.Addr(), err)
	}
	defer conn.Close()
	all, err := schema.Tables(conn, filter.Databases(spec.Filters))
	if err != nil {
		return nil, fmt.Errorf("%w %s: %w", ErrSource, d.Source.Addr(), err)
	}
	out := &api.Preview{Rows: rows, Tables: []api.PreviewTable{}}
	set := rend.Filters()
	var matched []api.TableRef
	for _, t := range all {
		if set.Table(t.DB, t.Name) {
			matched = append(matched, api.TableRef{DB: t.DB, Table: t.Name})
		}
	}
	if len(matched) > maxPreviewTables {
		out.Warnings = append(out.Warnings, fmt.Sprintf("the filters match %d tables; the first %d are previewed", len(matched), maxPreviewTables))
		matched = matched[:maxPreviewTables]
	}
	if len(matched) == 0 {
		out.Warnings = append(out.Warnings, "the filters match no table the account can see")
	}
	partitions := previewPartitions(ctx, spec, creds, taskID, matched, out)
	now := time.Now()
	for _, ref := range matched {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		pt := api.PreviewTable{DB: ref.DB, Table: ref.Table, Records: []api.PreviewRecord{}, Dropped: []api.PreviewRecord{}}
		t, err := snapshot.Open(conn, ref.DB, ref.Table)
		if errors.Is(err, schema.ErrNoTable) {
			continue // dropped since listed
		}
		if err != nil {
			return nil, fmt.Errorf("%w %s: %w", ErrSource, d.Source.Addr(), err)
		}
		n, err := t.Read(ctx, conn, nil, rows, func(row change.Row) error {
			ev := &change.Event{Kind: change.Snapshot, Table: t.Change, After: row, Time: now}
			keep, err := rend.Keep(ev)
			if err != nil {
				return tableError{fmt.Errorf("row filter: %w", err)}
			}
			return rend.Render(ev, func(topic string, hash uint32, key, value []byte) error {
				rec := record(topic, hash, key, value, partitions)
				if keep {
					pt.Records = append(pt.Records, rec)
				} else {
					pt.Dropped = append(pt.Dropped, rec)
				}
				return nil
			})
		})
		pt.RowsRead = n
		var te tableError
		switch {
		case errors.As(err, &te), errors.Is(err, render.ErrKeyExcluded):
			pt.Error = err.Error()
		case err != nil:
			return nil, fmt.Errorf("%w %s: %w", ErrSource, d.Source.Addr(), err)
		}
		out.Tables = append(out.Tables, pt)
	}
	return out, nil
}

// tableError is a problem of one table's rows that the preview reports with the table.
type tableError struct{ error }

func (e tableError) Unwrap() error { return e.error }

// previewPartitions asks Kafka for the partition counts of the matched tables' topics, within a
// step's bound; without them the preview has hashes only, and says why.
func previewPartitions(ctx context.Context, spec *api.TaskSpec, creds *api.Credentials, taskID int64, tables []api.TableRef, out *api.Preview) map[string]int {
	cfg, err := KafkaConfig(spec, creds, taskID)
	if err != nil {
		out.Warnings = append(out.Warnings, "partitions unknown: "+err.Error())
		return nil
	}
	router := route.New(spec.Kafka)
	r := &run{spec: spec}
	for _, t := range tables {
		r.tables = append(r.tables, &tableInfo{check: api.TableCheck{Topic: router.Topic(t.DB, t.Table)}})
	}
	topics := r.topics()
	cctx, cancel := context.WithTimeout(ctx, stepTimeout)
	defer cancel()
	info, err := produce.Check(cctx, cfg, topics)
	if err != nil {
		out.Warnings = append(out.Warnings, fmt.Sprintf("partitions unknown: Kafka %s: %v; each record gives its hash (partition = hash mod the topic's partition count)", spec.Kafka.Addr, err))
		return nil
	}
	m := map[string]int{}
	var missing []string
	for _, t := range topics {
		if ti, ok := info.Topics[t]; ok {
			m[t] = ti.Partitions
		} else {
			missing = append(missing, t)
		}
	}
	if len(missing) > 0 {
		slices.Sort(missing)
		out.Warnings = append(out.Warnings, "topics that do not exist yet (their records give the hash only): "+list(missing, 20))
	}
	return m
}

// record makes a preview record of a rendered message, copying the renderer's buffers.
func record(topic string, hash uint32, key, value []byte, partitions map[string]int) api.PreviewRecord {
	rec := api.PreviewRecord{Topic: topic, Hash: hash, Key: raw(key), Value: raw(value), Bytes: produce.Size(key, value)}
	if n := partitions[topic]; n > 0 {
		p := int32(hash % uint32(n))
		rec.Partition = &p
	}
	return rec
}

// raw embeds b as JSON when it is JSON, else as a JSON string; nil stays null.
func raw(b []byte) json.RawMessage {
	if b == nil {
		return json.RawMessage("null")
	}
	if json.Valid(b) {
		return json.RawMessage(slices.Clone(b))
	}
	s, _ := json.Marshal(string(b))
	return s
}
