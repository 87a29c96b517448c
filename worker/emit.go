package worker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"

	"github.com/dtsrepl/dts/api"
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
	txn       *kafkaTxn
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
	// sent counts the messages sent over the task's life.
	sent    uint64
	batch   *track.Batch[Checkpoint]
	pending *change.Event
	kbuf    []byte

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
	return e.seal(ctx, Checkpoint{Pos: end.Pos, TxnTime: end.Time, Copy: e.copied})
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
	return e.seal(ctx, Checkpoint{Pos: e.start, Copy: &p})
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
	}
	return keep, nil
}

// send renders one change and sends its messages in the current batch.
func (e *emitter) send(ctx context.Context, ev *change.Event) error {
	err := e.render.Render(ev, func(topic string, hash uint32, key, val []byte) error {
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
	if err := e.limit.wait(ctx); err != nil {
		return err
	}
	if e.txn != nil {
		if err := e.beginTxn(len(key) + len(val)); err != nil {
			return err
		}
	} else if e.batch == nil {
		e.batch = e.tracker.Open()
	}
	// One allocation for both: sarama keeps them until the message is acknowledged.
	n := len(key)
	buf := make([]byte, n+len(val))
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
	what := fmt.Sprintf("the %s row of %s", ev.Kind, ev.Table)
	if len(key) > 0 {
		what += " with key " + string(key)
	}
	if e.oversized == api.OversizedSkip {
		e.skipped.Add(1)
		e.metrics.oversized.Inc()
		e.log.Warn("row not sent: larger than the topic accepts (kafka.oversized_rows is skip)", "table", ev.Table.String(), "key", string(key), "bytes", size, "limit", limit, "topic", topic, "pos", ev.Pos)
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

// rateLimit is the task's token bucket (rate_limit), changed live by an alter.
type rateLimit struct {
	limiter *rate.Limiter
	on      atomic.Bool
}

func newRateLimit(rl *api.RateLimit) *rateLimit {
	l := &rateLimit{limiter: rate.NewLimiter(rate.Inf, 1)}
	l.set(rl)
	return l
}

// set applies a rate limit (nil: none) at once, also while the pipeline runs.
func (l *rateLimit) set(rl *api.RateLimit) {
	if rl == nil || rl.Rate <= 0 {
		l.on.Store(false)
		l.limiter.SetLimit(rate.Inf)
		return
	}
	burst := rl.Capacity
	if burst <= 0 {
		burst = int(math.Ceil(rl.Rate))
	}
	l.limiter.SetBurst(max(burst, 1))
	l.limiter.SetLimit(rate.Limit(rl.Rate))
	l.on.Store(true)
}

func (l *rateLimit) wait(ctx context.Context) error {
	if !l.on.Load() {
		return nil
	}
	return l.limiter.Wait(ctx)
}
