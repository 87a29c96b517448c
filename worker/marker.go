package worker

import (
	"context"
	"fmt"
	"slices"
	"sync/atomic"
	"time"

	"github.com/go-mysql-org/go-mysql/client"

	"github.com/dtsrepl/dts/api"
	"github.com/dtsrepl/dts/worker/encode"
	"github.com/dtsrepl/dts/worker/filter"
	"github.com/dtsrepl/dts/worker/render"
	"github.com/dtsrepl/dts/worker/schema"
)

// An alter that changes what the task sends takes effect at a transaction boundary: the
// checkpoint the new spec's first attempt starts from. There the worker writes a marker record,
// {"type":"alter",...} with the new and the previous spec version and the boundary's position,
// to every partition of every topic the task wrote under the old spec and will write under the
// new one, so a consumer of any partition knows where the old rules end. Only the dts format has
// markers: consumers of the other formats would take them for rows.

// maxTopics bounds the topics a status remembers for the markers.
const maxTopics = 1000

// cutOver writes the markers of a spec change, when the version applied before this attempt is
// another, and records the new version as applied from start. It waits until Kafka has them.
func (p *pipeline) cutOver(ctx context.Context, conn *client.Conn, rend *render.Renderer, scope *filter.Scope, e *emitter, start Checkpoint) error {
	prevVersion := int64(0)
	var prevTopics []string
	if p.prev != nil {
		prevVersion, prevTopics = p.prev.AppliedVersion, p.prev.Topics
	}
	if prevVersion == p.task.Version {
		e.topics.seed(prevTopics)
		return nil
	}
	if prevVersion != 0 && rend.DTS() {
		topics, err := p.topics(conn, rend, scope)
		if err != nil {
			return err
		}
		for _, t := range prevTopics {
			if !slices.Contains(topics, t) {
				topics = append(topics, t)
			}
		}
		key := encode.AppendMarkerKey(nil, p.task.Version)
		value := encode.AppendMarker(nil, p.task.Version, prevVersion, start.Pos.String(), time.Now())
		if err := e.sendMarkers(ctx, topics, key, value, start); err != nil {
			return fmt.Errorf("alter markers: %w", err)
		}
		if e.txn == nil {
			dctx, cancel := context.WithTimeout(ctx, time.Minute)
			err := e.tracker.Drain(dctx)
			cancel()
			if err != nil {
				return fmt.Errorf("alter markers: waiting for Kafka: %w", err)
			}
		}
		p.log.Info("alter markers written", "version", p.task.Version, "previous_version", prevVersion, "pos", start.Pos.String(), "topics", len(topics))
	}
	p.report.update(func(st *api.Status) {
		st.AppliedVersion, st.AppliedPos, st.AppliedAt, st.Topics = p.task.Version, start.Pos.String(), time.Now().UTC(), nil
	})
	return nil
}

// topics lists the topics the spec writes for the tables it selects now.
func (p *pipeline) topics(conn *client.Conn, rend *render.Renderer, scope *filter.Scope) ([]string, error) {
	all, err := schema.Tables(conn, filter.Databases(p.task.Spec.Filters))
	if err != nil {
		return nil, err
	}
	var out []string
	for _, t := range all {
		if !scope.Table(t.DB, t.Name) {
			continue
		}
		if topic := rend.Topic(t.DB, t.Name); topic != "" && !slices.Contains(out, topic) {
			out = append(out, topic)
		}
	}
	return out, nil
}

// sendMarkers sends value to every partition of topics, in a batch of its own sealed at c.
func (e *emitter) sendMarkers(ctx context.Context, topics []string, key, value []byte, c Checkpoint) error {
	defer e.lock()()
	for _, topic := range topics {
		parts, err := e.prod.Partitions(topic)
		if err != nil {
			return err
		}
		for _, part := range parts {
			if e.txn != nil {
				if err := e.beginTxn(len(key) + len(value)); err != nil {
					return err
				}
			} else if e.batch == nil {
				e.batch = e.tracker.Open()
			}
			e.batch.Add()
			// The partitioner takes hash modulo the partition count: the partition's own number
			// selects it.
			if err := e.prod.Send(ctx, topic, key, value, uint32(part), e.batch, nil); err != nil {
				return err
			}
		}
	}
	c.Sent = e.sent
	if e.txn != nil {
		if !e.txn.open {
			return nil
		}
		e.txn.sealed, e.txn.inSource = &c, false
		return e.commitTxn(ctx)
	}
	if e.batch != nil {
		e.batch.Seal(c)
		e.batch = nil
	}
	return nil
}

// topicSet remembers the topics the emitter wrote, for the next spec change's markers. The
// emitter adds on its goroutine; the reporter reads the published list.
type topicSet struct {
	names     map[string]struct{}
	published atomic.Pointer[[]string]
}

func (s *topicSet) seed(names []string) {
	for _, n := range names {
		s.add(n)
	}
}

func (s *topicSet) add(name string) {
	if _, ok := s.names[name]; ok || len(s.names) >= maxTopics {
		return
	}
	if s.names == nil {
		s.names = map[string]struct{}{}
	}
	s.names[name] = struct{}{}
	out := make([]string, 0, len(s.names))
	for n := range s.names {
		out = append(out, n)
	}
	slices.Sort(out)
	s.published.Store(&out)
}

// list is the topics written so far, sorted.
func (s *topicSet) list() []string {
	if l := s.published.Load(); l != nil {
		return *l
	}
	return nil
}
