package worker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"sync/atomic"
	"time"

	"github.com/go-mysql-org/go-mysql/client"
	"golang.org/x/sync/errgroup"

	"github.com/dtsrepl/dts/api"
	"github.com/dtsrepl/dts/store"
	"github.com/dtsrepl/dts/worker/binlog"
	"github.com/dtsrepl/dts/worker/change"
	"github.com/dtsrepl/dts/worker/filter"
	"github.com/dtsrepl/dts/worker/produce"
	"github.com/dtsrepl/dts/worker/render"
	"github.com/dtsrepl/dts/worker/snapshot"
	"github.com/dtsrepl/dts/worker/track"
)

// pipeline is one attempt at running a task's spec, in one direction: the source (the initial
// copy, then the binlog reader) feeds the emitter, which sends to the producer; the tracker
// turns Kafka's acknowledgements into checkpoints, and the reporter saves them. It holds what
// it needs and nothing that owns it.
type pipeline struct {
	task    *api.Task
	prev    *api.Status // the status saved before this attempt, nil if none
	cfg     *Config
	log     *slog.Logger
	metrics *metrics
	report  *report
	status  statusWriter
	limit   *rateLimit
	share   *warnShare
	// stopCtx ends when the worker's stop budget is spent.
	stopCtx context.Context
}

// saveReserve is the part of a stop budget kept for saving the checkpoint.
const saveReserve = 3 * time.Second

// stallAfter is how long messages may wait for Kafka without any acknowledgement before the
// status says so.
const stallAfter = 5 * time.Second

// dialer says how this attempt reaches the source: the task's source, logged in with the
// account the launcher passed (never the stored spec's, which holds no password).
func (p *pipeline) dialer() binlog.Dialer {
	var src api.Source
	if s := p.task.Spec.Source; s != nil {
		src = *s
	}
	if c := p.cfg.Credentials; c != nil && c.Username != "" {
		src.Username, src.Password = c.Username, c.Password
	}
	src.ServerID = src.EffectiveServerID(p.cfg.TaskID)
	return binlog.Dialer{Source: src, ReplicaName: fmt.Sprintf("dts-task-%d", p.cfg.TaskID), MaxPacket: p.cfg.MaxPacketBytes}
}

// producerConfig is how this attempt reaches Kafka, with the task's Kafka secrets from the
// launcher.
func (p *pipeline) producerConfig() (produce.Config, error) {
	k := p.task.Spec.Kafka
	cfg, err := produce.FromSpec(k, p.cfg.Credentials, fmt.Sprintf("dts-task-%d", p.cfg.TaskID))
	if err != nil {
		return cfg, permanent(err)
	}
	if k.TLS != nil && k.TLS.Enabled && k.TLS.InsecureSkipVerify {
		p.log.Warn("kafka.tls.insecure_skip_verify is set: the brokers' certificates are not checked, so anyone on the path can read and change what the task sends")
	}
	cfg.MaxInFlightBytes, cfg.MaxResponseBytes = p.cfg.MaxInFlightBytes, p.cfg.MaxResponseBytes
	cfg.Logger, cfg.OnAck = p.log, func(n int) { p.metrics.acked.Add(float64(n)) }
	return cfg, nil
}

// run runs the attempt until ctx ends or it fails. On the way out it waits, within the stop
// budget, for Kafka to acknowledge what was sent, then saves the checkpoint, unless the lock
// was lost.
func (p *pipeline) run(ctx context.Context) error {
	spec := &p.task.Spec
	rend, err := render.New(spec)
	if err != nil {
		return permanent(err)
	}
	rows := rend.Filters()
	scope := rows.Scope()
	d := p.dialer()
	if d.Source.Host == "" {
		return permanent(errors.New("the task has no source"))
	}
	addr := d.Source.Addr()
	conn, d, err := d.Resolve(ctx)
	if err != nil {
		return fmt.Errorf("source %s: %w", addr, err)
	}
	defer conn.Close()
	server, err := binlog.Inspect(conn)
	if err != nil {
		return fmt.Errorf("source %s: %w", addr, err)
	}
	if !server.FullMetadata {
		p.log.Warn("the source does not log column names (binlog_row_metadata is not FULL): column names come from the current table definitions, and a schema change in the backlog stops the task rather than shift columns")
	}
	if err := binlog.CheckServerID(conn, d.Source.ServerID, d.ReplicaName); err != nil {
		if errors.Is(err, binlog.ErrServerIDInUse) {
			return err
		}
		p.log.Warn("cannot list the source's replicas to check the server id is free", "err", err)
	}
	start, err := startPoint(conn, server, p.prev, spec, scope, p.log)
	if err != nil {
		return err
	}
	warning, err := unmatched(conn, spec.Filters, rows)
	if err != nil {
		return err
	}
	if warning != "" {
		p.log.Warn(warning)
	}

	// Record where this task starts before anything else can fail: otherwise a retry (Kafka
	// down, say) would take "now" again and skip what was written in between.
	p.report.checkpoint(start, false, p.report.view().Message)
	if err := p.status.save(ctx); err != nil {
		return fmt.Errorf("save start position: %w", err)
	}

	pcfg, err := p.producerConfig()
	if err != nil {
		return err
	}
	var txn *kafkaTxn
	if spec.Kafka.Delivery == api.ExactlyOnce {
		txn = newKafkaTxn(spec, p.cfg.TaskID)
		pcfg.TransactionalID = string(txn.key)
	}
	prod, err := produce.New(pcfg)
	if err != nil {
		return err
	}
	if txn != nil {
		// The producer fenced every older one of the task, so their open transactions are
		// aborted: the last committed checkpoint is where the task stands.
		if start, err = p.resumeExactlyOnce(ctx, prod, pcfg, txn, server.Flavor, start); err != nil {
			prod.Abort()
			return err
		}
	}
	tracker := track.New(start)
	tables := newTableStats(p.metrics.tableRows, p.metrics.tableBytes)
	if p.prev != nil {
		tables.resume(p.prev.Tables)
	}
	e := &emitter{
		txn:       txn,
		tables:    tables,
		render:    rend,
		limit:     p.limit,
		prod:      prod,
		tracker:   tracker,
		oversized: spec.Kafka.OversizedRows,
		log:       p.log,
		metrics:   p.metrics,
		start:     start.Pos,
		sent:      start.Sent,
		json:      start.JSONColumns,
	}
	if start.Copy != nil && start.Copy.Done {
		e.copied = start.Copy
	}
	for k := change.Insert; k <= change.CopyEnd; k++ {
		e.kinds[k] = p.metrics.rows.WithLabelValues(k.String())
	}
	if err := p.cutOver(ctx, conn, rend, scope, e, start); err != nil {
		prod.Abort()
		return err
	}
	p.report.healthy()
	p.metrics.starts.Inc()
	p.log.Info("pipeline started", "source", addr, "flavor", server.Flavor, "version", server.Version, "start", start.Pos.String(), "copy", start.copying())

	var room atomic.Pointer[headroom]
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return p.read(gctx, conn, d, server, start, scope, e) })
	g.Go(func() error { return p.reportLoop(gctx, tracker, e, warning, &room) })
	g.Go(func() error { return p.retention(gctx, d, tracker, &room) })
	if txn != nil {
		g.Go(func() error { return e.committer(gctx) })
	}
	g.Go(func() error {
		select {
		case <-prod.Failed():
			return prod.Err()
		case <-gctx.Done():
			return nil
		}
	})
	err = g.Wait()
	if ctx.Err() != nil {
		err = context.Cause(ctx)
	}
	return p.shutdown(ctx, err, tracker, prod, e)
}

// shutdown ends an attempt within the stop budget: it waits for Kafka to acknowledge what was
// sent (not after a failure: nothing queued may follow a failed message), cuts the producer off
// if it could not, and saves the checkpoint the acknowledgements allow.
func (p *pipeline) shutdown(ctx context.Context, err error, tracker *track.Tracker[Checkpoint], prod *produce.Producer, e *emitter) error {
	stopCtx, cancel := context.WithTimeout(p.stopCtx, p.cfg.StopTimeout)
	defer cancel()
	lockLost := errors.Is(err, store.ErrLockLost) || errors.Is(err, produce.ErrFenced)
	if e.txn != nil && !lockLost && prod.Err() == nil {
		// Commit what is whole; a transaction cut short is aborted with the producer.
		done := make(chan error, 1)
		fctx, cancel := withReserve(stopCtx, saveReserve)
		go func() { done <- e.finishTxn(fctx) }()
		select {
		case ferr := <-done:
			if ferr != nil {
				p.log.Warn("commit the last transaction", "err", ferr)
			}
		case <-fctx.Done():
			prod.Abort()
			<-done
		}
		cancel()
	}
	drained := false
	if !lockLost && prod.Err() == nil {
		dctx, cancel := withReserve(stopCtx, saveReserve)
		derr := tracker.Drain(dctx)
		cancel()
		if derr != nil {
			p.log.Warn("stopping before Kafka acknowledged everything: the unacknowledged transactions will be sent again", "err", derr)
		} else {
			drained = true
		}
	}
	if drained && (e.txn == nil || !e.txn.open) {
		cctx, cancel := withReserve(stopCtx, saveReserve)
		if cerr := prod.Close(cctx); cerr != nil && err == nil {
			err = cerr
		}
		cancel()
	} else {
		prod.Abort()
	}
	if !lockLost {
		c, _ := tracker.Checkpoint()
		p.report.update(func(st *api.Status) { st.Tables = e.tables.view() })
		p.report.checkpoint(c, false, p.report.view().Message)
		if serr := p.status.save(stopCtx); serr != nil {
			p.log.Warn("save checkpoint", "err", serr)
			if errors.Is(serr, store.ErrLockLost) {
				err = serr
			}
		}
	}
	if ctx.Err() != nil {
		return context.Cause(ctx)
	}
	if errors.Is(err, binlog.ErrPurged) {
		c, _ := tracker.Checkpoint()
		return fmt.Errorf("the source no longer has the binlog after position %s (%w). dts cannot resume without losing rows: delete the task and submit it again with incr=false to copy the tables afresh, or with incr=true to stream from now and accept the gap", c.Pos, err)
	}
	return err
}

// resumeExactlyOnce makes sure the checkpoint topic exists and returns the last checkpoint
// committed to Kafka, or start when there is none yet.
func (p *pipeline) resumeExactlyOnce(ctx context.Context, prod *produce.Producer, cfg produce.Config, txn *kafkaTxn, flavor string, start Checkpoint) (Checkpoint, error) {
	if err := prod.EnsureCompactedTopic(txn.topic); err != nil {
		return start, err
	}
	kc, ok, err := committedCheckpoint(ctx, cfg, txn, flavor)
	if err != nil || !ok {
		return start, err
	}
	if kc.Pos.String() != start.Pos.String() {
		p.log.Info("resuming at the checkpoint committed to Kafka", "kafka", kc.Pos.String(), "status", start.Pos.String())
	}
	p.report.checkpoint(kc, false, p.report.view().Message)
	return kc, p.status.save(ctx)
}

// withReserve returns a context that ends reserve before ctx's deadline.
func withReserve(ctx context.Context, reserve time.Duration) (context.Context, context.CancelFunc) {
	d, ok := ctx.Deadline()
	if !ok {
		return context.WithCancel(ctx)
	}
	return context.WithDeadline(ctx, d.Add(-min(reserve, time.Until(d)/2)))
}

// read copies the tables first when a copy is unfinished, then streams the binlog. A panic
// fails the task instead of the process: go-mysql parses what the source sends on this goroutine
// and trusts it, and a malformed answer must not take down every task of the process (dts dev
// runs them all in one).
func (p *pipeline) read(ctx context.Context, conn *client.Conn, d binlog.Dialer, server *binlog.Server, start Checkpoint, scope *filter.Scope, e *emitter) (err error) {
	defer func() {
		if r := recover(); r != nil {
			p.log.Error("pipeline panicked", "panic", r, "stack", string(debug.Stack()))
			err = permanent(fmt.Errorf("the worker could not process what the source sent (%v); the worker log has the details: please report it", r))
		}
	}()
	if start.copying() {
		p.report.copying()
		p.saveNow(ctx)
		copier := &snapshot.Copier{Conn: conn, ChunkRows: p.cfg.SnapshotChunkRows}
		if err := copier.Copy(ctx, *start.Copy, e); err != nil {
			return err
		}
		p.log.Info("initial copy done; streaming from the position taken before it", "pos", start.Pos.String())
	}
	p.report.running()
	p.saveNow(ctx)
	describer := binlog.NewDescriber(d)
	defer describer.Close()
	r := binlog.NewReader(binlog.Config{
		Dialer:      d,
		Server:      server,
		Start:       start.Pos,
		Scope:       scope,
		Describe:    describer,
		JSONColumns: start.JSONColumns,
		Logger:      p.log,
	})
	return r.Run(ctx, e)
}

// saveNow saves the status at a change of state, rather than at the next periodic save.
func (p *pipeline) saveNow(ctx context.Context) {
	if err := p.status.save(ctx); err != nil && ctx.Err() == nil {
		p.log.Warn("save status", "err", err)
	}
}

// reportLoop publishes the tracker's checkpoint and the pipeline's health every StatusInterval,
// saves the status when something changed (every HeartbeatInterval anyway, to show the worker
// alive), and stops the attempt when the lock is lost.
func (p *pipeline) reportLoop(ctx context.Context, tracker *track.Tracker[Checkpoint], e *emitter, warning string, room *atomic.Pointer[headroom]) error {
	t := time.NewTicker(p.cfg.StatusInterval)
	defer t.Stop()
	last := time.Now()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		c, open := tracker.Checkpoint()
		p.metrics.inflight.Set(float64(open))
		if !c.TxnTime.IsZero() {
			p.metrics.checkpointTS.Set(float64(c.TxnTime.Unix()))
		}
		msg := joinMessages(warning, e.warnings())
		h := room.Load()
		if h != nil {
			msg = joinMessages(h.warning, msg)
		}
		stalled, lastErr := e.prod.Stalled()
		p.metrics.kafkaStalled.Set(stalled.Seconds())
		var stalledSeconds float64
		if stalled >= stallAfter {
			stalledSeconds = stalled.Round(time.Second).Seconds()
			m := fmt.Sprintf("Kafka has acknowledged nothing for %s", stalled.Round(time.Second))
			if lastErr != nil {
				m = fmt.Sprintf("Kafka unreachable for %s: %v", stalled.Round(time.Second), lastErr)
			}
			msg = joinMessages(m, msg)
		}
		p.report.update(func(st *api.Status) {
			st.Tables, st.Topics = e.tables.view(), e.topics.list()
			st.KafkaStalledSeconds = stalledSeconds
			if h != nil { // else not read yet: the retention read before stays
				st.BinlogRetentionSeconds = nil
				if h.keep > 0 {
					s := h.keep.Seconds()
					st.BinlogRetentionSeconds = &s
				}
			}
		})
		changed := p.report.checkpoint(c, open == 0 && e.caughtUp(), msg)
		if !changed && time.Since(last) < p.cfg.HeartbeatInterval {
			continue
		}
		if err := p.status.save(ctx); err != nil {
			if errors.Is(err, store.ErrLockLost) {
				return err
			}
			if ctx.Err() == nil {
				p.log.Warn("save status", "err", err)
			}
			continue
		}
		last = time.Now()
	}
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
