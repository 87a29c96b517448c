package worker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"regexp"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"

	"github.com/dtsrepl/dts/api"
	"github.com/dtsrepl/dts/internal/backoff"
	"github.com/dtsrepl/dts/worker/binlog"
	"github.com/dtsrepl/dts/worker/change"
	"github.com/dtsrepl/dts/worker/produce"
	"github.com/dtsrepl/dts/worker/render"
	"github.com/dtsrepl/dts/worker/track"
)

// emitter is the pipeline's middle: it takes changes from the binlog reader (binlog.Handler)
// and from the initial copy (snapshot.Sink), filters, encodes, routes and rate-limits them,
// hands them to the producer in batches, and seals each transaction or copy chunk with the
// checkpoint it reaches. It runs on the reading goroutine; only the counters it publishes are
// read from others.
type emitter struct {
	render *render.Renderer
	// txn is the open Kafka transaction of exactly-once delivery; nil: at least once.
	txn *kafkaTxn
	// tables counts per table; topics remembers where messages went.
	tables    *tableStats
	topics    topicSet
	limit     *rateLimit
	prod      *produce.Producer
	tracker   *track.Tracker[Checkpoint]
	oversized string // kafka.oversized_rows
	log       *slog.Logger
	metrics   *metrics
	kinds     [change.CopyEnd + 1]interface{ Inc() }

	// start is where streaming starts: the checkpoint position while the copy runs.
	start binlog.Pos
	// copied is the finished copy's progress, carried by every stream checkpoint.
	copied *api.SnapshotProgress
	// json is the JSON column history at start, carried by the copy's checkpoints.
	json *binlog.JSONColumns
	// sent counts the messages sent over the task's life.
	sent    uint64
	batch   *track.Batch[Checkpoint]
	pending *change.Event
	slab    slab

	lastCommit  atomic.Int64 // unix nanoseconds when the reader last passed a commit
	lastIdle    atomic.Int64 // unix nanoseconds of the last heartbeat
	skipped     atomic.Uint64
	lastSkipped atomic.Value // string: the last row skipped as oversized
}

// Change implements binlog.Handler: a row of a table in scope, or a DDL. The last kept change
// of a transaction is held back until the transaction ends, to mark it as the commit.
func (e *emitter) Change(ctx context.Context, ev *change.Event) error {
	defer e.lock()()
	keep, err := e.keep(ev)
	if err != nil || !keep {
		return err
	}
	if e.pending != nil {
		if err := e.send(ctx, e.pending); err != nil {
			return err
		}
	}
	e.pending = ev
	return nil
}

// Commit implements binlog.Handler.
func (e *emitter) Commit(ctx context.Context, end binlog.TxnEnd) error {
	defer e.lock()()
	e.metrics.txns.Inc()
	e.lastCommit.Store(time.Now().UnixNano())
	if ev := e.pending; ev != nil {
		e.pending = nil
		ev.Commit, ev.XID = true, end.XID
		if err := e.send(ctx, ev); err != nil {
			return err
		}
	}
	return e.seal(ctx, Checkpoint{Pos: end.Pos, TxnTime: end.Time, Copy: e.copied, JSONColumns: end.JSONColumns})
}

// Idle implements binlog.Handler.
func (e *emitter) Idle(context.Context) { e.lastIdle.Store(time.Now().UnixNano()) }

// Row implements snapshot.Sink.
func (e *emitter) Row(ctx context.Context, ev *change.Event) error {
	defer e.lock()()
	if ev.Kind == change.Snapshot {
		e.metrics.snapshotRows.Inc()
	}
	keep, err := e.keep(ev)
	if err != nil || !keep {
		return err
	}
	return e.send(ctx, ev)
}

// Chunk implements snapshot.Sink.
func (e *emitter) Chunk(ctx context.Context, p api.SnapshotProgress) error {
	defer e.lock()()
	if p.Done {
		e.copied = &p
	}
	return e.seal(ctx, Checkpoint{Pos: e.start, Copy: &p, JSONColumns: e.json})
}

// seal ends the current transaction or chunk: c is the checkpoint once its messages, and every
// earlier one, are acknowledged (with exactly-once delivery: committed). One with no message
// moves the checkpoint as soon as everything before it is.
func (e *emitter) seal(ctx context.Context, c Checkpoint) error {
	c.Sent = e.sent
	if e.txn != nil {
		return e.sealTxn(ctx, c)
	}
	if e.batch == nil {
		e.tracker.Pass(c)
		return nil
	}
	e.batch.Seal(c)
	e.batch = nil
	return nil
}

// caughtUp reports whether the reader has nothing newer than what it passed: the server's last
// heartbeat came after the last commit.
func (e *emitter) caughtUp() bool {
	idle := e.lastIdle.Load()
	return idle > 0 && idle >= e.lastCommit.Load()
}

func (e *emitter) keep(ev *change.Event) (bool, error) {
	keep, err := e.render.Keep(ev)
	if err != nil {
		return false, permanent(fmt.Errorf("row filter: %w", err))
	}
	if !keep {
		e.metrics.filtered.Inc()
		if c := e.tables.of(ev.Table); c != nil {
			c.filtered.Add(1)
		}
	}
	return keep, nil
}

// send renders one change and sends its messages in the current batch.
func (e *emitter) send(ctx context.Context, ev *change.Event) error {
	counters := e.tables.of(ev.Table)
	counters.count(ev.Kind)
	err := e.render.Render(ev, func(topic string, hash uint32, key, val []byte) error {
		counters.sent(len(key) + len(val))
		return e.deliver(ctx, ev, topic, hash, key, val)
	})
	if errors.Is(err, render.ErrKeyExcluded) {
		return permanent(err)
	}
	return err
}

// deliver sends one message in the current batch.
func (e *emitter) deliver(ctx context.Context, ev *change.Event, topic string, hash uint32, key, val []byte) error {
	if size := produce.Size(key, val); size > e.prod.Limit(topic) {
		return e.tooLarge(ev, topic, key, size)
	}
	if err := e.limit.wait(ctx, ev.Table, e.metrics.rateLimited); err != nil {
		return err
	}
	if e.txn != nil {
		if err := e.beginTxn(len(key) + len(val)); err != nil {
			return err
		}
	} else if e.batch == nil {
		e.batch = e.tracker.Open()
	}
	// Copied out of the renderer's buffers, which it reuses: sarama keeps them until the
	// message is acknowledged.
	n := len(key)
	buf := e.slab.take(n + len(val))
	copy(buf, key)
	copy(buf[n:], val)
	var k, v []byte
	if key != nil {
		k = buf[:n]
	}
	if val != nil {
		v = buf[n:]
	}
	e.batch.Add()
	if err := e.prod.Send(ctx, topic, k, v, hash, e.batch, ev.Table); err != nil {
		return err
	}
	e.topics.add(topic)
	e.sent++
	e.kinds[ev.Kind].Inc()
	e.metrics.bytes.Add(float64(len(buf)))
	return nil
}

// tooLarge applies kafka.oversized_rows to a message larger than its topic accepts: nil to go
// on without it, or the error that fails the task. Either way nothing after the row is sent
// before it is dealt with.
func (e *emitter) tooLarge(ev *change.Event, topic string, key []byte, size int) error {
	limit := e.prod.Limit(topic)
	what := fmt.Sprintf("the %s row of %s", ev.Kind, ev.Subject())
	if ev.Kind == change.DDL {
		what = "the DDL statement of " + ev.Subject()
	}
	if len(key) > 0 {
		what += " with key " + string(key)
	}
	if e.oversized == api.OversizedSkip {
		e.skipped.Add(1)
		e.metrics.oversized.Inc()
		e.log.Warn("row not sent: larger than the topic accepts (kafka.oversized_rows is skip)", "subject", ev.Subject(), "key", string(key), "bytes", size, "limit", limit, "topic", topic, "pos", ev.Pos)
		e.lastSkipped.Store(fmt.Sprintf("%s at %s (%d bytes, limit %d)", what, ev.Pos, size, limit))
		return nil
	}
	return permanent(fmt.Errorf("%w: %s at %s is a %d-byte message; topic %s accepts %d. Raise max.message.bytes on the topic and set kafka.max_message_bytes, exclude the large columns (kafka.exclude_columns), or set kafka.oversized_rows to \"skip\" to go on without such rows; the task resumes at this row once altered",
		produce.ErrTooLarge, what, ev.Pos, size, topic, limit))
}

// warnings describes what the emitter has to report while it runs well.
func (e *emitter) warnings() string {
	n := e.skipped.Load()
	if n == 0 {
		return ""
	}
	last, _ := e.lastSkipped.Load().(string)
	return fmt.Sprintf("warning: %d rows larger than their topic accepts were not sent (kafka.oversized_rows is skip); the last: %s", n, last)
}

// rateLimit is the task's token bucket (rate_limit) and its tables' (rate_limit.tables), changed
// live by an alter.
type rateLimit struct {
	limiter *rate.Limiter
	on      atomic.Bool
	tables  atomic.Pointer[tableLimits]

	// Used by the emitter's goroutine only: each table layout's bucket under the rules gen.
	cache map[*change.Table]*rate.Limiter
	gen   *tableLimits
}

// tableLimits are the per-table rules of one spec version.
type tableLimits struct {
	rules []tableRule
}

type tableRule struct {
	db      string
	name    string         // exact table name, when re is nil
	re      *regexp.Regexp // anchored
	limiter *rate.Limiter  // shared by every table the rule matches
	key     string
}

func newRateLimit(rl *api.RateLimit) *rateLimit {
	l := &rateLimit{limiter: rate.NewLimiter(rate.Inf, 1), cache: map[*change.Table]*rate.Limiter{}}
	l.set(rl)
	return l
}

// set applies a rate limit (nil: none) at once, also while the pipeline runs. A table rule that
// stays keeps its bucket (with the new rate).
func (l *rateLimit) set(rl *api.RateLimit) {
	if rl == nil || rl.Rate <= 0 {
		l.on.Store(false)
		l.limiter.SetLimit(rate.Inf)
	} else {
		setBucket(l.limiter, rl.Rate, rl.Capacity)
		l.on.Store(true)
	}
	var tables map[string]api.TableRateLimit
	if rl != nil {
		tables = rl.Tables
	}
	old := map[string]*rate.Limiter{}
	if cur := l.tables.Load(); cur != nil {
		for _, r := range cur.rules {
			old[r.key] = r.limiter
		}
	}
	next := &tableLimits{}
	keys := make([]string, 0, len(tables))
	for k := range tables {
		keys = append(keys, k)
	}
	sort.Strings(keys) // the first matching rule wins: make "first" mean something
	for _, k := range keys {
		db, match, err := api.ParseTablePattern(k)
		if err != nil {
			continue // validated before it got here
		}
		r := tableRule{db: db, key: k, limiter: old[k]}
		if strings.HasPrefix(match, "/") {
			r.re = regexp.MustCompile("^(?:" + match[1:len(match)-1] + ")$")
		} else {
			r.name = match
		}
		if r.limiter == nil {
			r.limiter = rate.NewLimiter(rate.Inf, 1)
		}
		setBucket(r.limiter, tables[k].Rate, tables[k].Capacity)
		next.rules = append(next.rules, r)
	}
	l.tables.Store(next)
}

func setBucket(lim *rate.Limiter, r float64, capacity int) {
	burst := capacity
	if burst <= 0 {
		burst = int(math.Ceil(r))
	}
	lim.SetBurst(max(burst, 1))
	lim.SetLimit(rate.Limit(r))
}

// wait takes one row's token from the task's bucket and from its table's, if it has one. waited
// counts the time each made it wait.
func (l *rateLimit) wait(ctx context.Context, t *change.Table, waited func(scope string, d time.Duration)) error {
	if l.on.Load() {
		if err := take(ctx, l.limiter, "task", waited); err != nil {
			return err
		}
	}
	if t == nil {
		return nil
	}
	if lim := l.table(t); lim != nil {
		return take(ctx, lim, "table", waited)
	}
	return nil
}

// take is rate.Limiter.Wait, telling how long it waited.
func take(ctx context.Context, lim *rate.Limiter, scope string, waited func(string, time.Duration)) error {
	r := lim.Reserve()
	d := r.Delay()
	if d <= 0 {
		return nil
	}
	if err := backoff.Sleep(ctx, d); err != nil {
		r.Cancel()
		return err
	}
	waited(scope, d)
	return nil
}

// table returns the bucket of t's table, nil when no rule matches it.
func (l *rateLimit) table(t *change.Table) *rate.Limiter {
	rules := l.tables.Load()
	if rules == nil || len(rules.rules) == 0 {
		return nil
	}
	if l.gen != rules {
		clear(l.cache)
		l.gen = rules
	}
	if lim, ok := l.cache[t]; ok {
		return lim
	}
	var lim *rate.Limiter
	for _, r := range rules.rules {
		if r.db == t.Schema && (r.re != nil && r.re.MatchString(t.Name) || r.re == nil && r.name == t.Name) {
			lim = r.limiter
			break
		}
	}
	if len(l.cache) >= 4096 {
		clear(l.cache)
	}
	l.cache[t] = lim
	return lim
}
