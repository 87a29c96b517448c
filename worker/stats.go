package worker

import (
	"sort"
	"sync"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/dtsrepl/dts/api"
	"github.com/dtsrepl/dts/worker/change"
)

// maxTableSeries bounds the tables that get Prometheus series of their own; the others share
// the series of table "*".
const maxTableSeries = 100

// tableStats counts what the task does per table. The emitter counts on its goroutine through
// counters it caches per table layout; the reporter reads them.
type tableStats struct {
	mu     sync.Mutex
	tables map[api.TableRef]*tableCounters
	series int // tables with series of their own
	rows   *prometheus.CounterVec
	bytes  *prometheus.CounterVec

	cache map[*change.Table]*tableCounters // the emitter's goroutine only
}

type tableCounters struct {
	ref                                                    api.TableRef
	inserts, updates, deletes, ddl, copied, filtered, size atomic.Uint64
	rows                                                   [change.CopyEnd + 1]prometheus.Counter
	bytes                                                  prometheus.Counter
}

func newTableStats(rows, bytes *prometheus.CounterVec) *tableStats {
	return &tableStats{tables: map[api.TableRef]*tableCounters{}, rows: rows, bytes: bytes, cache: map[*change.Table]*tableCounters{}}
}

// resume takes the counts of a saved status.
func (s *tableStats) resume(prev []api.TableStats) {
	for _, p := range prev {
		c := s.get(api.TableRef{DB: p.DB, Table: p.Table})
		c.inserts.Store(p.Inserts)
		c.updates.Store(p.Updates)
		c.deletes.Store(p.Deletes)
		c.ddl.Store(p.DDL)
		c.copied.Store(p.Copied)
		c.filtered.Store(p.Filtered)
		c.size.Store(p.Bytes)
	}
}

func (s *tableStats) get(ref api.TableRef) *tableCounters {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.tables[ref]
	if ok {
		return c
	}
	c = &tableCounters{ref: ref}
	label := "*"
	if s.series < maxTableSeries {
		label = ref.String()
		s.series++
	}
	for k := change.Insert; k <= change.CopyEnd; k++ {
		c.rows[k] = s.rows.WithLabelValues(label, k.String())
	}
	c.bytes = s.bytes.WithLabelValues(label)
	s.tables[ref] = c
	return c
}

// of returns the counters of a change's table (nil for a DDL without one).
func (s *tableStats) of(t *change.Table) *tableCounters {
	if t == nil {
		return nil
	}
	if c, ok := s.cache[t]; ok {
		return c
	}
	c := s.get(api.TableRef{DB: t.Schema, Table: t.Name})
	if len(s.cache) >= 4096 {
		clear(s.cache)
	}
	s.cache[t] = c
	return c
}

// count records a change the task keeps.
func (c *tableCounters) count(k change.Kind) {
	if c == nil {
		return
	}
	switch k {
	case change.Insert:
		c.inserts.Add(1)
	case change.Update:
		c.updates.Add(1)
	case change.Delete:
		c.deletes.Add(1)
	case change.DDL:
		c.ddl.Add(1)
	case change.Snapshot:
		c.copied.Add(1)
	}
	c.rows[k].Inc()
}

func (c *tableCounters) sent(n int) {
	if c != nil {
		c.size.Add(uint64(n))
		c.bytes.Add(float64(n))
	}
}

// view lists the busiest MaxTableStats tables by name, the others summed under table "*".
func (s *tableStats) view() []api.TableStats {
	s.mu.Lock()
	all := make([]api.TableStats, 0, len(s.tables))
	for _, c := range s.tables {
		all = append(all, api.TableStats{DB: c.ref.DB, Table: c.ref.Table, Inserts: c.inserts.Load(), Updates: c.updates.Load(),
			Deletes: c.deletes.Load(), DDL: c.ddl.Load(), Copied: c.copied.Load(), Filtered: c.filtered.Load(), Bytes: c.size.Load()})
	}
	s.mu.Unlock()
	total := func(t api.TableStats) uint64 {
		return t.Inserts + t.Updates + t.Deletes + t.DDL + t.Copied + t.Filtered
	}
	if len(all) > api.MaxTableStats {
		sort.Slice(all, func(i, j int) bool { return total(all[i]) > total(all[j]) })
		rest := api.TableStats{Table: "*"}
		for _, t := range all[api.MaxTableStats-1:] {
			rest.Inserts += t.Inserts
			rest.Updates += t.Updates
			rest.Deletes += t.Deletes
			rest.DDL += t.DDL
			rest.Copied += t.Copied
			rest.Filtered += t.Filtered
			rest.Bytes += t.Bytes
		}
		all = append(all[:api.MaxTableStats-1], rest)
	}
	sort.Slice(all, func(i, j int) bool {
		if all[i].DB != all[j].DB {
			return all[i].DB < all[j].DB
		}
		return all[i].Table < all[j].Table
	})
	return all
}
