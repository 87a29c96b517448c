package worker

import (
	"context"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"sync"
	"time"

	"github.com/dtsrepl/dts/api"
	"github.com/dtsrepl/dts/worker/produce"
)

// Exactly-once delivery (kafka.delivery exactly_once). The emitter sends into a Kafka
// transaction; whole source transactions (or one copy chunk) go into it, then the task's
// checkpoint is written to the checkpoint topic in the same transaction and the transaction
// commits: the rows and the position they lead to become visible together or not at all. A
// worker starts from the last committed checkpoint, and its producer's transactional id,
// derived from the task, fences every older producer of the task at the brokers: a frozen
// worker that wakes up can write nothing a read_committed consumer will see.

// Defaults of exactly-once delivery.
const (
	defaultCommitInterval = 100 * time.Millisecond
	// maxTxnBytes commits a transaction early when it holds this much.
	maxTxnBytes = 16 << 20
	// checkpointEvery writes a checkpoint-only transaction when the position moved this long
	// ago without a commit (transactions with nothing in scope), so the checkpoint in Kafka
	// stays close to the binlog the source still has.
	checkpointEvery = 10 * time.Second
)

// kafkaTxn is an exactly-once emitter's open Kafka transaction. The reader and the committer
// goroutine (which commits an open transaction when the source goes quiet) share it under mu;
// every entry point of the emitter takes mu.
type kafkaTxn struct {
	mu       sync.Mutex
	topic    string
	key      []byte
	interval time.Duration

	open     bool
	began    time.Time
	bytes    int
	inSource bool        // messages of an unfinished source transaction are in it
	sealed   *Checkpoint // where the open transaction leaves the task once committed
	// passed is the newest checkpoint reached without a message, not yet written to Kafka.
	passed    *Checkpoint
	committed time.Time
}

// transactionalID is the task's transactional id: stable across the task's workers, distinct
// between tasks (and between installations with the same task ids but other sources).
func transactionalID(spec *api.TaskSpec, taskID int64) string {
	if spec.Kafka.TransactionalID != "" {
		return spec.Kafka.TransactionalID
	}
	h := fnv.New32a()
	if spec.Source != nil {
		h.Write([]byte(spec.Source.Addr()))
	}
	return fmt.Sprintf("dts-task-%d-%08x", taskID, h.Sum32())
}

func newKafkaTxn(spec *api.TaskSpec, taskID int64) *kafkaTxn {
	t := &kafkaTxn{topic: spec.Kafka.CheckpointTopic, interval: time.Duration(spec.Kafka.CommitIntervalMS) * time.Millisecond, committed: time.Now()}
	if t.topic == "" {
		t.topic = api.DefaultCheckpointTopic
	}
	if t.interval <= 0 {
		t.interval = defaultCommitInterval
	}
	t.key = []byte(transactionalID(spec, taskID))
	return t
}

// checkpointRecord is a checkpoint as the checkpoint topic holds it.
type checkpointRecord struct {
	Pos             string                `json:"pos"`
	TransactionTime time.Time             `json:"transaction_time,omitzero"`
	RowsSent        uint64                `json:"rows_sent"`
	Snapshot        *api.SnapshotProgress `json:"snapshot,omitempty"`
	JSONColumns     *api.JSONColumns      `json:"json_columns,omitempty"`
}

func (c Checkpoint) record() []byte {
	b, _ := json.Marshal(checkpointRecord{Pos: c.Pos.String(), TransactionTime: c.TxnTime, RowsSent: c.Sent, Snapshot: c.Copy, JSONColumns: c.JSONColumns.Saved()})
	return b
}

// committedCheckpoint reads the task's last checkpoint committed to Kafka; ok false when there is
// none.
func committedCheckpoint(ctx context.Context, cfg produce.Config, t *kafkaTxn, flavor string) (Checkpoint, bool, error) {
	rctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	v, err := produce.ReadLatest(rctx, cfg, t.topic, t.key)
	if err != nil || v == nil {
		return Checkpoint{}, false, err
	}
	var r checkpointRecord
	if err := json.Unmarshal(v, &r); err != nil {
		return Checkpoint{}, false, fmt.Errorf("checkpoint of %s in %s: %w", t.key, t.topic, err)
	}
	pos := r.Pos
	if pos == "" && r.Snapshot != nil {
		pos = r.Snapshot.Pos
	}
	c, err := resumeFrom(&api.Status{Pos: pos, TransactionTime: r.TransactionTime, RowsSent: r.RowsSent, Snapshot: r.Snapshot, JSONColumns: r.JSONColumns}, flavor)
	if err != nil {
		return Checkpoint{}, false, fmt.Errorf("checkpoint of %s in %s: %w", t.key, t.topic, err)
	}
	return c, true, nil
}

// lock takes the transaction's lock for an entry point of the emitter; it returns the unlock
// (a no-op for at-least-once delivery).
func (e *emitter) lock() func() {
	if e.txn == nil {
		return func() {}
	}
	e.txn.mu.Lock()
	return e.txn.mu.Unlock
}

// beginTxn opens a transaction for the message about to be sent, when none is open.
func (e *emitter) beginTxn(size int) error {
	t := e.txn
	if !t.open {
		if err := e.prod.Begin(); err != nil {
			return err
		}
		t.open, t.began, t.bytes = true, time.Now(), 0
		e.batch = e.tracker.Open()
	}
	t.inSource = true
	t.bytes += size
	return nil
}

// sealTxn ends a source transaction or copy chunk in exactly-once mode: c joins the open
// transaction, which commits when it is old or large enough (a copy chunk commits at once).
func (e *emitter) sealTxn(ctx context.Context, c Checkpoint) error {
	t := e.txn
	if !t.open {
		e.tracker.Pass(c)
		t.passed = &c
		return nil
	}
	t.sealed, t.inSource, t.passed = &c, false, nil
	if c.Copy != nil || time.Since(t.began) >= t.interval || t.bytes >= maxTxnBytes {
		return e.commitTxn(ctx)
	}
	return nil
}

// commitTxn writes the checkpoint into the open transaction and commits it; the tracker then
// moves to the checkpoint at once (the commit waited for every message).
func (e *emitter) commitTxn(ctx context.Context) error {
	t := e.txn
	c := *t.sealed
	e.batch.Add()
	if err := e.prod.Send(ctx, t.topic, t.key, c.record(), 0, e.batch, nil); err != nil {
		return err
	}
	if err := e.prod.Commit(); err != nil {
		return err
	}
	e.batch.Seal(c)
	e.batch, t.open, t.sealed, t.committed = nil, false, nil, time.Now()
	e.metrics.txnsCommitted.Inc()
	return nil
}

// checkpointOnly commits a transaction holding only the checkpoint.
func (e *emitter) checkpointOnly(ctx context.Context, c Checkpoint) error {
	if err := e.beginTxn(0); err != nil {
		return err
	}
	e.txn.sealed, e.txn.inSource = &c, false
	return e.commitTxn(ctx)
}

// committer commits an open transaction once the source goes quiet between transactions, and
// keeps the checkpoint in Kafka fresh while nothing in scope happens. It stops with ctx, or with
// the first failure.
func (e *emitter) committer(ctx context.Context) error {
	tick := time.NewTicker(max(e.txn.interval/2, 10*time.Millisecond))
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
		if err := e.commitDue(ctx); err != nil {
			return err
		}
	}
}

func (e *emitter) commitDue(ctx context.Context) error {
	t := e.txn
	t.mu.Lock()
	defer t.mu.Unlock()
	switch {
	case t.open && !t.inSource && t.sealed != nil && time.Since(t.began) >= t.interval:
		return e.commitTxn(ctx)
	case !t.open && t.passed != nil && time.Since(t.committed) >= checkpointEvery:
		c := *t.passed
		t.passed = nil
		return e.checkpointOnly(ctx, c)
	}
	return nil
}

// finishTxn commits the open transaction at a stop when it holds only whole source
// transactions; one cut short is left to be aborted.
func (e *emitter) finishTxn(ctx context.Context) error {
	t := e.txn
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.open && !t.inSource && t.sealed != nil {
		return e.commitTxn(ctx)
	}
	return nil
}
