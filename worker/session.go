package worker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-mysql-org/go-mysql/client"
	"golang.org/x/time/rate"

	"github.com/dtsrepl/dts/api"
	"github.com/dtsrepl/dts/store"
	"github.com/dtsrepl/dts/worker/binlog"
	"github.com/dtsrepl/dts/worker/change"
	"github.com/dtsrepl/dts/worker/encode"
	"github.com/dtsrepl/dts/worker/filter"
	"github.com/dtsrepl/dts/worker/produce"
	"github.com/dtsrepl/dts/worker/route"
	"github.com/dtsrepl/dts/worker/schema"
	"github.com/dtsrepl/dts/worker/snapshot"
	"github.com/dtsrepl/dts/worker/track"
)

// ckpt is what a batch's acknowledgement makes durable: the stream position after it, and while
// the initial copy runs, the copy's progress after it.
type ckpt struct {
	pos     binlog.Pos
	txnTime time.Time
	snap    *api.SnapshotProgress
}

// session is the pipeline for one spec version: source -> filter -> encode -> route -> producer,
// with the tracker turning acknowledgements into checkpoints.
type session struct {
	w    *Worker
	task *api.Task
	log  *slog.Logger

	filter  *filter.Set
	enc     *encode.Encoder
	router  *route.Router
	prod    *produce.Producer
	tracker *track.Tracker[ckpt]
	start   binlog.Pos
	// snapDone is the finished copy's progress, carried by every stream checkpoint so a
	// checkpoint never loses the fact that the copy is done.
	snapDone *api.SnapshotProgress

	limiter *rate.Limiter
	limited atomic.Bool

	// stopBy bounds the session's shutdown once its context ends (see Worker.stopContext).
	stopBy func() (context.Context, context.CancelFunc)
	// warning is shown in the status while the session runs (a filter that selects nothing).
	warning string
	// skipped counts rows not sent because they were too large (kafka.oversized_rows skip);
	// lastSkipped describes the last one.
	skipped     atomic.Uint64
	lastSkipped atomic.Value // string

	// Used by the reading goroutine only.
	ctx     context.Context
	batch   *track.Batch[ckpt]
	pending *change.Event
	kbuf    []byte
	vbuf    []byte
	rows    [change.DDL + 1]interface{ Inc() }

	lastCommit atomic.Int64 // unix nanoseconds when the reader last passed a commit
	lastIdle   atomic.Int64 // unix nanoseconds of the last idle heartbeat
	sentBase   uint64       // RowsSent before this session
	acked      atomic.Uint64
}

func newSession(w *Worker, task *api.Task) *session {
	s := &session{
		w:       w,
		task:    task,
		log:     w.log.With("spec_version", task.Version),
		limiter: rate.NewLimiter(rate.Inf, 1),
	}
	s.stopBy = func() (context.Context, context.CancelFunc) {
		return context.WithTimeout(w.stopCtx, w.cfg.StopTimeout)
	}
	for k := change.Insert; k <= change.DDL; k++ {
		s.rows[k] = w.metrics.rows.WithLabelValues(k.String())
	}
	s.setRateLimit(task.Spec.RateLimit)
	return s
}

// setRateLimit applies a rate limit (nil: none) at once, also while the session runs.
func (s *session) setRateLimit(rl *api.RateLimit) {
	if rl == nil || rl.Rate <= 0 {
		s.limited.Store(false)
		s.limiter.SetLimit(rate.Inf)
		return
	}
	burst := rl.Capacity
	if burst <= 0 {
		burst = int(math.Ceil(rl.Rate))
	}
	s.limiter.SetBurst(max(burst, 1))
	s.limiter.SetLimit(rate.Limit(rl.Rate))
	s.limited.Store(true)
}

func (s *session) source() binlog.Source {
	src := s.task.Spec.Source
	b := binlog.Source{}
	if src != nil {
		b = binlog.Source{Host: src.Host, Port: src.Port, User: src.Username, Password: src.Password, ServerID: src.ServerID}
	}
	if c := s.w.cfg.Credentials; c != nil && c.Username != "" {
		b.User, b.Password = c.Username, c.Password
	}
	if b.ServerID == 0 {
		b.ServerID = uint32(1_000_000_000 + s.w.cfg.TaskID%3_000_000_000)
	}
	b.ReplicaName = fmt.Sprintf("dts-task-%d", s.w.cfg.TaskID)
	b.MaxPacket = s.w.cfg.MaxPacketBytes
	return b
}

// run runs the pipeline until ctx ends or it fails. On the way out it waits (bounded) for
// Kafka to acknowledge what was sent, then saves the checkpoint, unless the lock was lost.
func (s *session) run(ctx context.Context, prev *api.Status) error {
	spec := &s.task.Spec
	fs, err := filter.Compile(spec.Filters)
	if err != nil {
		return permanent(fmt.Errorf("task filters: %w", err))
	}
	scope, err := filter.Compile(spec.Filters)
	if err != nil {
		return permanent(fmt.Errorf("task filters: %w", err))
	}
	s.filter = fs
	s.enc = encode.New(encode.Options{Flat: spec.Kafka.FlatFormat, Exclude: spec.Kafka.ExcludeColumns})
	s.router = route.New(spec.Kafka)

	src := s.source()
	if src.Host == "" {
		return permanent(errors.New("the task has no source"))
	}
	conn, err := src.Connect(ctx)
	if err != nil {
		return fmt.Errorf("source %s: %w", src.Addr(), err)
	}
	defer conn.Close()
	server, err := binlog.Inspect(conn)
	if err != nil {
		return fmt.Errorf("source %s: %w", src.Addr(), err)
	}
	if !server.FullMetadata {
		s.log.Warn("the source does not log column names (binlog_row_metadata is not FULL): column names come from the current table definitions, and a schema change in the backlog stops the task rather than shift columns")
	}

	if err := binlog.CheckServerID(conn, src.ServerID, src.ReplicaName); err != nil {
		if !errors.Is(err, binlog.ErrServerIDInUse) {
			s.log.Warn("cannot list the source's replicas to check the server id is free", "err", err)
		} else {
			return err
		}
	}

	start, snap, err := s.startAt(conn, server, prev, scope)
	if err != nil {
		return err
	}
	s.start = start
	if snap != nil && snap.Done {
		s.snapDone = snap
	}
	if s.warning, err = s.unmatched(conn, scope); err != nil {
		return err
	}

	var prevTime time.Time
	if prev != nil {
		prevTime = prev.TransactionTime
		s.sentBase = prev.RowsSent
	}
	s.tracker = track.New(ckpt{pos: start, txnTime: prevTime, snap: snap})
	// Record where this task starts before anything else can fail: otherwise a retry (Kafka
	// down, say) would take "now" again and skip what was written in between.
	s.publish()
	if err := s.w.save(ctx); err != nil {
		return fmt.Errorf("save start position: %w", err)
	}

	prod, err := produce.New(produce.Config{
		Brokers:          splitBrokers(spec.Kafka.Addr),
		ClientID:         fmt.Sprintf("dts-task-%d", s.w.cfg.TaskID),
		Compression:      spec.Kafka.Compression,
		MaxInFlightBytes: s.w.cfg.MaxInFlightBytes,
		MaxMessageBytes:  spec.Kafka.MaxMessageBytes,
		Logger:           s.log,
		OnAck:            func() { s.acked.Add(1); s.w.metrics.acked.Inc() },
	})
	if err != nil {
		return err
	}
	s.prod = prod
	s.w.metrics.starts.Inc()
	s.log.Info("pipeline started", "source", src.Addr(), "flavor", server.Flavor, "version", server.Version, "start", start.String(), "snapshot", snap != nil && !snap.Done)

	readCtx, stopRead := context.WithCancelCause(ctx)
	defer stopRead(nil)
	s.ctx = readCtx
	saveCtx, stopSave := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		select {
		case <-prod.Failed():
			stopRead(prod.Err())
		case <-readCtx.Done():
		}
	}()
	go func() {
		defer wg.Done()
		s.saveLoop(saveCtx, stopRead)
	}()

	err = s.safeStream(readCtx, conn, server, snap, scope)
	if cause := context.Cause(readCtx); cause != nil && !errors.Is(cause, context.Canceled) {
		err = cause
	}
	// From here on, one budget bounds the shutdown: waiting for Kafka's acknowledgements, then
	// saving the checkpoint they allow.
	stopCtx, cancelStop := s.stopBy()
	defer cancelStop()
	lockLost := errors.Is(err, store.ErrLockLost) || errors.Is(context.Cause(ctx), store.ErrLockLost)
	drained := false
	if !lockLost && prod.Err() == nil {
		dctx, cancel := withReserve(stopCtx, saveReserve)
		derr := s.tracker.Drain(dctx)
		cancel()
		if derr != nil {
			s.log.Warn("stopping before Kafka acknowledged everything: the unacknowledged transactions will be sent again", "err", derr)
		} else {
			drained = true
		}
	}
	stopRead(nil)
	stopSave()
	wg.Wait()
	if drained {
		cctx, cancel := withReserve(stopCtx, saveReserve)
		if cerr := prod.Close(cctx); cerr != nil && err == nil {
			err = cerr
		}
		cancel()
	} else {
		// Whatever is still queued must not reach Kafka behind a message that failed or was
		// given up on: cut the producer off.
		prod.Abort()
	}
	if !lockLost {
		s.publish()
		if serr := s.w.save(stopCtx); serr != nil {
			s.log.Warn("save checkpoint", "err", serr)
			if errors.Is(serr, store.ErrLockLost) {
				err = serr
			}
		}
	}
	if ctx.Err() != nil {
		return context.Cause(ctx)
	}
	if errors.Is(err, binlog.ErrPurged) {
		ck, _ := s.tracker.Checkpoint()
		return fmt.Errorf("the source no longer has the binlog after position %s (%w). dts cannot resume without losing rows: delete the task and submit it again with incr=false to copy the tables afresh, or with incr=true to stream from now and accept the gap", ck.pos, err)
	}
	return err
}

// saveReserve is the part of the stop budget kept for saving the checkpoint.
const saveReserve = 3 * time.Second

// withReserve returns a context that ends reserve before ctx's deadline.
func withReserve(ctx context.Context, reserve time.Duration) (context.Context, context.CancelFunc) {
	d, ok := ctx.Deadline()
	if !ok {
		return context.WithCancel(ctx)
	}
	return context.WithDeadline(ctx, d.Add(-min(reserve, time.Until(d)/2)))
}

// unmatched reads the tables of the filters' databases and returns a warning naming the
// filters that select none of them yet ("" if every filter selects a table): a typo in a
// match would otherwise stream nothing in silence.
func (s *session) unmatched(conn *client.Conn, scope *filter.Set) (string, error) {
	all, err := schema.Tables(conn, databases(s.task.Spec.Filters))
	if err != nil {
		return "", err
	}
	tables := make([]api.TableRef, len(all))
	for i, t := range all {
		tables[i] = api.TableRef{DB: t.DB, Table: t.Name}
	}
	var parts []string
	for _, i := range scope.Unmatched(tables) {
		f := s.task.Spec.Filters[i]
		parts = append(parts, fmt.Sprintf("task.filters[%d] (dbname %q, match %q)", i, f.DBName, f.Match))
	}
	if len(parts) == 0 {
		return "", nil
	}
	msg := strings.Join(parts, ", ") + " selects no table of the source yet; tables created later that match are streamed"
	s.log.Warn(msg)
	return "warning: " + msg, nil
}

// startAt decides where the session starts: the saved checkpoint, an unfinished copy, a new
// copy (incr=false), or the source's current position (incr=true).
func (s *session) startAt(conn *client.Conn, server *binlog.Server, prev *api.Status, scope *filter.Set) (binlog.Pos, *api.SnapshotProgress, error) {
	spec := &s.task.Spec
	var (
		start binlog.Pos
		snap  *api.SnapshotProgress
		err   error
	)
	switch {
	case prev != nil && prev.Snapshot != nil && !prev.Snapshot.Done:
		c := *prev.Snapshot
		snap = &c
		start, err = binlog.ParsePos(snap.Pos, server.Flavor)
	case prev != nil && prev.Pos != "":
		start, err = binlog.ParsePos(prev.Pos, server.Flavor)
		if prev.Snapshot != nil {
			c := *prev.Snapshot
			snap = &c
		}
	case !spec.IsIncr():
		if start, err = binlog.CurrentPos(conn, server); err != nil {
			return start, nil, err
		}
		tables, estimate, perr := snapshot.Plan(conn, databases(spec.Filters), scope.Table)
		if perr != nil {
			return start, nil, perr
		}
		snap = &api.SnapshotProgress{Pos: start.String(), Tables: tables, RowsEstimated: estimate}
		s.log.Info("initial copy planned", "tables", len(tables), "rows_estimated", estimate, "stream_from", start.String())
	default:
		start, err = binlog.CurrentPos(conn, server)
	}
	if err != nil {
		return start, nil, err
	}
	if start.GTID != nil && start.Flavor != server.Flavor {
		return start, nil, permanent(fmt.Errorf("the saved position %s is for %s but the source is %s: a task cannot move between server flavors; submit a new task", start, start.Flavor, server.Flavor))
	}
	return start, snap, nil
}

// safeStream is stream, with a panic turned into a failure of the task. go-mysql parses what the
// source sends on this goroutine and trusts it: a malformed answer must not take down every
// task of the process (dts dev runs them all in one).
func (s *session) safeStream(ctx context.Context, conn *client.Conn, server *binlog.Server, snap *api.SnapshotProgress, scope *filter.Set) (err error) {
	defer func() {
		if r := recover(); r != nil {
			s.log.Error("pipeline panicked", "panic", r, "stack", string(debug.Stack()))
			err = permanent(fmt.Errorf("the worker could not process what the source sent (%v); the worker log has the details: please report it", r))
		}
	}()
	return s.stream(ctx, conn, server, snap, scope)
}

// stream copies the tables first when a copy is unfinished, then reads the binlog.
func (s *session) stream(ctx context.Context, conn *client.Conn, server *binlog.Server, snap *api.SnapshotProgress, scope *filter.Set) error {
	if snap != nil && !snap.Done {
		s.w.board.set(func(st *api.Status) { st.State = api.StateSnapshotting })
		s.saveNow(ctx)
		copier := &snapshot.Copier{Conn: conn, ChunkRows: s.w.cfg.SnapshotChunkRows}
		if err := copier.Copy(ctx, *snap, snapshotSink{s}); err != nil {
			return err
		}
		s.log.Info("initial copy done; streaming from the position taken before it", "pos", s.start.String())
	}
	s.w.board.set(func(st *api.Status) { st.State = api.StateRunning })
	s.saveNow(ctx)
	r := binlog.NewReader(binlog.Config{
		Source:   s.source(),
		Server:   server,
		Start:    s.start,
		Scope:    scope,
		Describe: &describer{conn: conn, src: s.source()},
		Logger:   s.log,
	})
	return r.Run(ctx, s)
}

// saveNow saves the status at a change of state, rather than at the next periodic save.
func (s *session) saveNow(ctx context.Context) {
	s.publish()
	if err := s.w.save(ctx); err != nil && ctx.Err() == nil {
		s.log.Warn("save status", "err", err)
	}
}

// Change implements binlog.Handler: a row of a table in scope, or a DDL. The last kept change
// of a transaction is held back until the transaction ends, to mark it as the commit.
func (s *session) Change(ev *change.Event) error {
	keep, err := s.filter.Keep(ev)
	if err != nil {
		return permanent(fmt.Errorf("row filter: %w", err))
	}
	if !keep {
		s.w.metrics.filtered.Inc()
		return nil
	}
	if s.pending != nil {
		if err := s.emit(s.pending); err != nil {
			return err
		}
	}
	s.pending = ev
	return nil
}

// Commit implements binlog.Handler.
func (s *session) Commit(end binlog.TxnEnd) error {
	s.w.metrics.txns.Inc()
	s.lastCommit.Store(time.Now().UnixNano())
	if s.pending != nil {
		s.pending.Commit = true
		s.pending.XID = end.XID
		err := s.emit(s.pending)
		s.pending = nil
		if err != nil {
			return err
		}
	}
	ck := ckpt{pos: end.Pos, txnTime: end.Time, snap: s.snapDone}
	if s.batch == nil {
		s.tracker.Pass(ck)
		return nil
	}
	s.batch.Seal(ck)
	s.batch = nil
	return nil
}

// Idle implements binlog.Handler.
func (s *session) Idle() { s.lastIdle.Store(time.Now().UnixNano()) }

// snapshotSink feeds the initial copy into the session.
type snapshotSink struct{ s *session }

func (k snapshotSink) Row(ev *change.Event) error {
	k.s.w.metrics.snapshotRows.Inc()
	keep, err := k.s.filter.Keep(ev)
	if err != nil {
		return permanent(fmt.Errorf("row filter: %w", err))
	}
	if !keep {
		k.s.w.metrics.filtered.Inc()
		return nil
	}
	return k.s.emit(ev)
}

func (k snapshotSink) Chunk(p api.SnapshotProgress) error {
	ck := ckpt{pos: k.s.start, snap: &p}
	if p.Done {
		k.s.snapDone = &p
	}
	if k.s.batch == nil {
		k.s.tracker.Pass(ck)
		return nil
	}
	k.s.batch.Seal(ck)
	k.s.batch = nil
	return nil
}

// emit encodes, routes and sends one change in the current batch.
func (s *session) emit(ev *change.Event) error {
	if ev.Kind != change.DDL && ev.Table != nil {
		if col := s.enc.KeyExcluded(ev.Table); col != "" {
			return permanent(fmt.Errorf("kafka.exclude_columns excludes %s, which is part of the primary key of %s: the message key carries the primary key, so its values would still reach Kafka. Remove %s from exclude_columns, or stream the table with another task that excludes no key column", col, ev.Table, col))
		}
	}
	key, hasKey := s.enc.Key(s.kbuf[:0], ev)
	s.kbuf = key
	val := s.enc.Value(s.vbuf[:0], ev)
	s.vbuf = val
	topic, hash := s.router.Route(ev, key)
	if topic == "" {
		return nil // a database-level DDL when topics are per table
	}
	n := 0
	if hasKey {
		n = len(key)
	}
	if size := produce.Size(key[:n], val); size > s.prod.Limit(topic) {
		if skip, err := s.oversized(ev, topic, key[:n], size); !skip {
			return err
		}
		return nil
	}
	if s.limited.Load() {
		if err := s.limiter.Wait(s.ctx); err != nil {
			return err
		}
	}
	if s.batch == nil {
		s.batch = s.tracker.Open()
	}
	// One allocation for both: sarama keeps them until the message is acknowledged.
	buf := make([]byte, n+len(val))
	copy(buf, key[:n])
	copy(buf[n:], val)
	var k []byte
	if hasKey {
		k = buf[:n]
	}
	s.batch.Add()
	if err := s.prod.Send(s.ctx, topic, k, buf[n:], hash, s.batch, ev.Table); err != nil {
		return err
	}
	s.rows[ev.Kind].Inc()
	s.w.metrics.bytes.Add(float64(len(buf)))
	return nil
}

// oversized applies kafka.oversized_rows to a message larger than its topic accepts: it reports
// whether to go on without it, or the error that fails the task. Either way nothing after the
// row is sent before it is dealt with.
func (s *session) oversized(ev *change.Event, topic string, key []byte, size int) (bool, error) {
	limit := s.prod.Limit(topic)
	what := fmt.Sprintf("the %s row of %s", ev.Kind, ev.Table)
	if len(key) > 0 {
		what += " with key " + string(key)
	}
	if s.task.Spec.Kafka.OversizedRows == api.OversizedSkip {
		s.skipped.Add(1)
		s.w.metrics.oversized.Inc()
		s.log.Warn("row not sent: larger than the topic accepts (kafka.oversized_rows is skip)", "table", ev.Table.String(), "key", string(key), "bytes", size, "limit", limit, "topic", topic, "pos", ev.Pos)
		s.lastSkipped.Store(fmt.Sprintf("%s at %s (%d bytes, limit %d)", what, ev.Pos, size, limit))
		return true, nil
	}
	return false, permanent(fmt.Errorf("%w: %s at %s is a %d-byte message; topic %s accepts %d. Raise max.message.bytes on the topic and set kafka.max_message_bytes, exclude the large columns (kafka.exclude_columns), or set kafka.oversized_rows to \"skip\" to go on without such rows; the task resumes at this row once altered",
		produce.ErrTooLarge, what, ev.Pos, size, topic, limit))
}

// saveLoop saves the status every StatusInterval when the checkpoint moved, and every
// HeartbeatInterval anyway. A lost lock stops the session.
func (s *session) saveLoop(ctx context.Context, stop context.CancelCauseFunc) {
	t := time.NewTicker(s.w.cfg.StatusInterval)
	defer t.Stop()
	last := time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if !s.publish() && time.Since(last) < s.w.cfg.HeartbeatInterval {
			continue
		}
		if err := s.w.save(ctx); err != nil {
			if errors.Is(err, store.ErrLockLost) {
				stop(store.ErrLockLost)
				return
			}
			if ctx.Err() == nil {
				s.log.Warn("save status", "err", err)
			}
			continue
		}
		last = time.Now()
	}
}

// stallAfter is how long messages may wait for Kafka without any acknowledgement before the
// status says so.
const stallAfter = 5 * time.Second

// publish copies the tracker's checkpoint and the pipeline's health into the status board and
// reports whether anything an operator sees changed.
func (s *session) publish() bool {
	ck, open := s.tracker.Checkpoint()
	pos := ck.pos.String()
	caughtUp := open == 0 && s.lastIdle.Load() >= s.lastCommit.Load() && s.lastIdle.Load() > 0
	s.w.metrics.inflight.Set(float64(open))
	if !ck.txnTime.IsZero() {
		s.w.metrics.checkpointTS.Set(float64(ck.txnTime.Unix()))
	}
	msg := s.warning
	if n := s.skipped.Load(); n > 0 {
		last, _ := s.lastSkipped.Load().(string)
		msg = joinMessages(msg, fmt.Sprintf("warning: %d rows larger than their topic accepts were not sent (kafka.oversized_rows is skip); the last: %s", n, last))
	}
	if s.prod != nil {
		stalled, lastErr := s.prod.Stalled()
		s.w.metrics.kafkaStalled.Set(stalled.Seconds())
		if stalled >= stallAfter {
			m := fmt.Sprintf("Kafka has acknowledged nothing for %s", stalled.Round(time.Second))
			if lastErr != nil {
				m = fmt.Sprintf("Kafka unreachable for %s: %v", stalled.Round(time.Second), lastErr)
			}
			msg = joinMessages(m, msg)
		}
	}
	changed := false
	s.w.board.set(func(st *api.Status) {
		changed = st.Pos != pos || !st.TransactionTime.Equal(ck.txnTime) || ck.snap != nil && !sameProgress(st.Snapshot, ck.snap) ||
			s.prod != nil && st.Message != msg
		st.Pos = pos
		st.TransactionTime = ck.txnTime
		st.RowsSent = s.sentBase + s.acked.Load()
		if s.prod != nil { // until the pipeline runs, the status keeps why the last attempt stopped
			st.Message = msg
		}
		if ck.snap != nil {
			st.Snapshot = ck.snap
			if !ck.snap.Done {
				st.State = api.StateSnapshotting
			} else if st.State == api.StateSnapshotting {
				st.State = api.StateRunning
			}
		}
	})
	s.w.board.setCaughtUp(caughtUp)
	return changed
}

func joinMessages(a, b string) string {
	switch {
	case a == "":
		return b
	case b == "":
		return a
	}
	return a + "; " + b
}

func sameProgress(a, b *api.SnapshotProgress) bool {
	return a != nil && b != nil && a.TablesDone == b.TablesDone && a.RowsCopied == b.RowsCopied && a.Done == b.Done && (a.Table == nil) == (b.Table == nil) && (a.Table == nil || *a.Table == *b.Table)
}

// describer reads table definitions for the binlog reader on its own goroutine, reconnecting
// once when the connection has gone.
type describer struct {
	conn *client.Conn
	src  binlog.Source
}

func (d *describer) Describe(db, table string) (*schema.Table, error) {
	t, err := schema.Describe(d.conn, db, table)
	if err == nil || errors.Is(err, schema.ErrNoTable) {
		return t, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, cerr := d.src.Connect(ctx)
	if cerr != nil {
		return nil, err
	}
	d.conn.Close()
	d.conn = c
	return schema.Describe(d.conn, db, table)
}

func databases(fs []api.Filter) []string {
	seen := map[string]bool{}
	var out []string
	for _, f := range fs {
		if !seen[f.DBName] {
			seen[f.DBName] = true
			out = append(out, f.DBName)
		}
	}
	return out
}

func splitBrokers(addr string) []string {
	var out []string
	for _, b := range strings.Split(addr, ",") {
		if b = strings.TrimSpace(b); b != "" {
			out = append(out, b)
		}
	}
	return out
}
