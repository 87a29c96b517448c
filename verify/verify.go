// Package verify checks that a task's topics hold what its source holds: for each table, it
// reads the source in primary-key chunks (the way the initial copy reads, rendered by the
// worker's own renderer) and the table's topic (the latest record of every key, read committed),
// compares a checksum per chunk and, where it differs, key by key, and reports matching,
// missing, extra and differing keys with samples. Keys that differ while the task is still
// sending changes are read again once the task's checkpoint has passed the source's position at
// the end of the pass, so that a running task's changes in flight are not reported.
//
// A check runs in the background of a dispatcher and keeps its state in the task store, beside
// the task (Store): any dispatcher shows its progress, and a check whose dispatcher stopped
// reporting is seen as abandoned and can be started again. Writes are compare-and-set on the
// state's revision, so of two dispatchers only one runs a check; the other stops at its next
// write.
package verify

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/IBM/sarama"
	"github.com/go-mysql-org/go-mysql/client"
	"golang.org/x/time/rate"

	"github.com/dtsrepl/dts/api"
	"github.com/dtsrepl/dts/precheck"
	"github.com/dtsrepl/dts/store"
	"github.com/dtsrepl/dts/worker/binlog"
	"github.com/dtsrepl/dts/worker/change"
	"github.com/dtsrepl/dts/worker/filter"
	"github.com/dtsrepl/dts/worker/produce"
	"github.com/dtsrepl/dts/worker/render"
	"github.com/dtsrepl/dts/worker/route"
	"github.com/dtsrepl/dts/worker/schema"
	"github.com/dtsrepl/dts/worker/snapshot"
)

// Store keeps a task's consistency check beside the task; store/consul and store/bolt
// implement it.
type Store interface {
	// Verify returns the task's last check and its revision (nil, 0: none); store.ErrNotFound
	// when the task does not exist.
	Verify(ctx context.Context, id int64) (*api.Verify, uint64, error)
	// SaveVerify writes the check if the stored revision is still rev (0: none) and returns
	// the new one; store.ErrConflict when it moved.
	SaveVerify(ctx context.Context, id int64, v *api.Verify, rev uint64) (uint64, error)
}

// ErrRunning: the task has a check running, reported by its dispatcher within StaleAfter.
var ErrRunning = errors.New("a consistency check of the task is running")

// ErrFormat: the task writes a message format verify does not read. It reads dts's own (plain
// or flat), whose keys name each record's table and primary key.
var ErrFormat = errors.New("verify reads the dts message format only")

// Bounds and defaults.
const (
	// HeartbeatInterval is how often a running check saves its state, progress or not.
	HeartbeatInterval = 10 * time.Second
	// StaleAfter is how long a running check may go unreported before it counts as abandoned.
	StaleAfter = 6 * HeartbeatInterval
	// MaxDuration bounds one check.
	MaxDuration = 12 * time.Hour
	// DefaultChunkRows and DefaultSamples are the request's defaults.
	DefaultChunkRows = 1000
	MaxChunkRows     = 100000
	DefaultSamples   = 10
	MaxSamples       = 1000
	// DefaultRecheckWait bounds the wait for the task to catch up before the recheck.
	DefaultRecheckWait = time.Minute
	// maxSuspects bounds the keys per table kept for the recheck and the samples.
	maxSuspects = 10000
	// stepTimeout bounds one network step.
	stepTimeout = 15 * time.Second
	// saveEvery throttles progress writes.
	saveEvery = 2 * time.Second
)

// Options configure a check.
type Options struct {
	// Task is the task as stored; Creds its source account and Kafka secrets.
	Task    *api.Task
	Creds   *api.Credentials
	Request api.VerifyRequest
	// Owner names the dispatcher running the check (host, pid).
	Owner string
	Store Store
	// Status reads the task's status, for the recheck.
	Status func(ctx context.Context) (*api.Status, error)
	// RecheckWait bounds the wait for the task to catch up (default DefaultRecheckWait).
	RecheckWait time.Duration
	Logger      *slog.Logger
}

// Normalize fills a request's defaults and checks its values; errors are -400 *api.Error.
func Normalize(r *api.VerifyRequest) error {
	if r.ChunkRows == 0 {
		r.ChunkRows = DefaultChunkRows
	}
	if r.Samples == 0 {
		r.Samples = DefaultSamples
	}
	switch {
	case r.ChunkRows < 1 || r.ChunkRows > MaxChunkRows:
		return api.FieldError("chunk_rows", "must be between 1 and %d, got %d", MaxChunkRows, r.ChunkRows)
	case r.Samples < 0 || r.Samples > MaxSamples:
		return api.FieldError("samples", "must be between 0 and %d, got %d", MaxSamples, r.Samples)
	case r.Rate < 0:
		return api.FieldError("rate", "must not be negative, got %v", r.Rate)
	}
	for i, t := range r.Tables {
		if db, table, ok := strings.Cut(t, "."); !ok || db == "" || table == "" {
			return api.FieldError(fmt.Sprintf("tables[%d]", i), "%q is not db.table", t)
		}
	}
	return nil
}

// View is a check as readers should see it: a running check whose dispatcher has not reported
// for StaleAfter is abandoned.
func View(v *api.Verify, now time.Time) *api.Verify {
	if v == nil || v.State != api.VerifyRunning || now.Sub(v.UpdatedAt) <= StaleAfter {
		return v
	}
	c := *v
	c.State = api.VerifyAbandoned
	c.Message = fmt.Sprintf("the dispatcher running the check (%s) has not reported since %s; start the check again", v.Owner, v.UpdatedAt.Format(time.RFC3339))
	return &c
}

// Check is one consistency check, claimed in the store by Begin.
type Check struct {
	o   Options
	log *slog.Logger

	saving sync.Mutex // serializes writes of the state
	mu     sync.Mutex // guards state, rev and lost
	state  *api.Verify
	rev    uint64
	lost   bool
	saved  time.Time
}

// Begin claims the task's check in the store: a new running check replaces a finished or
// abandoned one. A check still running gives ErrRunning (with its run id), a task deleted
// meanwhile store.ErrNotFound.
func Begin(ctx context.Context, o Options) (*Check, error) {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.RecheckWait <= 0 {
		o.RecheckWait = DefaultRecheckWait
	}
	if err := Normalize(&o.Request); err != nil {
		return nil, err
	}
	if f := o.Task.Spec.Kafka.Format; f != "" && f != api.FormatDTS {
		return nil, fmt.Errorf("%w: the task writes kafka.format %q", ErrFormat, f)
	}
	cur, rev, err := o.Store.Verify(ctx, o.Task.ID)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	if cur != nil && View(cur, now).State == api.VerifyRunning {
		return nil, fmt.Errorf("%w: run %s on %s, started %s", ErrRunning, cur.Run, cur.Owner, cur.StartedAt.Format(time.RFC3339))
	}
	var id [6]byte
	_, _ = rand.Read(id[:])
	v := &api.Verify{Run: hex.EncodeToString(id[:]), State: api.VerifyRunning, Request: o.Request, SpecVersion: o.Task.Version,
		Owner: o.Owner, StartedAt: now, UpdatedAt: now, Tables: []api.VerifyTable{}}
	next, err := o.Store.SaveVerify(ctx, o.Task.ID, v, rev)
	if errors.Is(err, store.ErrConflict) {
		return nil, fmt.Errorf("%w: another dispatcher started one at the same time", ErrRunning)
	}
	if err != nil {
		return nil, err
	}
	return &Check{o: o, log: o.Logger.With("task", o.Task.ID, "verify", v.Run), state: v, rev: next, saved: now}, nil
}

// State returns a copy of the check's state.
func (c *Check) State() *api.Verify {
	c.mu.Lock()
	defer c.mu.Unlock()
	return clone(c.state)
}

func clone(v *api.Verify) *api.Verify {
	b, _ := json.Marshal(v)
	var out api.Verify
	_ = json.Unmarshal(b, &out)
	return &out
}

// update changes the state under the lock.
func (c *Check) update(f func(v *api.Verify)) {
	c.mu.Lock()
	defer c.mu.Unlock()
	f(c.state)
}

// save writes the state; a check that lost its claim (restarted elsewhere, the task deleted)
// reports it, and the caller stops.
func (c *Check) save(ctx context.Context) error {
	c.saving.Lock()
	defer c.saving.Unlock()
	c.mu.Lock()
	if c.lost {
		c.mu.Unlock()
		return errLost
	}
	c.state.UpdatedAt = time.Now()
	v, rev := clone(c.state), c.rev
	c.mu.Unlock()
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), stepTimeout)
	defer cancel()
	next, err := c.o.Store.SaveVerify(sctx, c.o.Task.ID, v, rev)
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case errors.Is(err, store.ErrConflict), errors.Is(err, store.ErrNotFound):
		c.lost = true
		return fmt.Errorf("%w: %w", errLost, err)
	case err != nil:
		return err
	}
	c.rev, c.saved = next, time.Now()
	return nil
}

var errLost = errors.New("the check was taken over or its task deleted")

// progress saves the state when the last save is old enough.
func (c *Check) progress(ctx context.Context) error {
	c.mu.Lock()
	due := time.Since(c.saved) >= saveEvery
	c.mu.Unlock()
	if !due {
		return nil
	}
	if err := c.save(ctx); errors.Is(err, errLost) {
		return err
	} else if err != nil {
		c.log.Warn("save verify progress", "err", err)
	}
	return nil
}

// Run runs the check to its end, or until ctx ends, and saves its outcome. It reports nothing:
// the state says how it went.
func (c *Check) Run(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, MaxDuration)
	defer cancel()
	var wg sync.WaitGroup
	hbCtx, stopHB := context.WithCancel(ctx)
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(HeartbeatInterval)
		defer t.Stop()
		for {
			select {
			case <-hbCtx.Done():
				return
			case <-t.C:
				if err := c.save(hbCtx); errors.Is(err, errLost) {
					cancel()
					return
				} else if err != nil && hbCtx.Err() == nil {
					c.log.Warn("save verify heartbeat", "err", err)
				}
			}
		}
	}()
	err := c.run(ctx)
	stopHB()
	wg.Wait()
	c.update(func(v *api.Verify) {
		v.FinishedAt = time.Now()
		switch {
		case err != nil:
			v.State = api.VerifyFailed
			switch {
			case errors.Is(err, errLost):
				err = errors.New("stopped: the check was started again elsewhere, or its task deleted")
			case errors.Is(err, context.DeadlineExceeded) && ctx.Err() != nil:
				err = fmt.Errorf("the check took longer than %s", MaxDuration)
			case errors.Is(err, context.Canceled):
				err = errors.New("stopped: the dispatcher running it shut down; start it again")
			}
			v.Message = strings.TrimPrefix(strings.TrimSpace(v.Message+"; "+err.Error()), "; ")
		default:
			v.State = api.VerifyDone
			v.Consistent = true
			for _, t := range v.Tables {
				if t.State != "done" || t.Missing+t.Extra+t.Differing > 0 {
					v.Consistent = false
				}
			}
		}
	})
	if err := c.save(context.WithoutCancel(ctx)); err != nil {
		c.log.Warn("save the verify outcome", "err", err)
	}
	st := c.State()
	c.log.Info("verify finished", "state", st.State, "consistent", st.Consistent, "rows", st.RowsChecked, "message", st.Message)
}

// tableRun is one table's check in progress.
type tableRun struct {
	i     int // index in state.Tables
	ref   api.TableRef
	topic string
	tbl   *snapshot.Table
	// kafka maps each key of the table to its latest record, while its topic is compared.
	kafka    map[string]*entry
	suspects []*suspect
}

// entry is the latest record of a key.
type entry struct {
	hash    uint64
	deleted bool
	part    int32
	off     int64
	ts      time.Time
	seen    bool
}

// suspect is a key that did not match in the first pass.
type suspect struct {
	kind    string // missing, extra, differing
	key     string
	pk      []any // nil for an extra key until the recheck parses it
	src     []byte
	srcHash uint64
	k       *entry // nil: no record
}

// Kinds of key.
const (
	kindMatching  = "matching"
	kindMissing   = "missing"
	kindExtra     = "extra"
	kindDiffering = "differing"
	kindFiltered  = "filtered"
	kindGone      = "gone" // neither in the source nor (undeleted) in Kafka
)

func classify(srcPresent, srcKept bool, srcHash uint64, k *entry) string {
	kLive := k != nil && !k.deleted
	switch {
	case srcPresent && !srcKept:
		return kindFiltered
	case srcPresent && !kLive:
		return kindMissing
	case srcPresent && k.hash != srcHash:
		return kindDiffering
	case srcPresent:
		return kindMatching
	case kLive:
		return kindExtra
	}
	return kindGone
}

func count(t *api.VerifyTable, kind string, d int64) {
	add := func(p *uint64) { *p = uint64(int64(*p) + d) }
	switch kind {
	case kindMatching:
		add(&t.Matching)
	case kindMissing:
		add(&t.Missing)
	case kindExtra:
		add(&t.Extra)
	case kindDiffering:
		add(&t.Differing)
	case kindFiltered:
		add(&t.Filtered)
	}
}

func (c *Check) run(ctx context.Context) error {
	task := c.o.Task
	spec := &task.Spec
	rend, err := render.New(spec)
	if err != nil {
		return err
	}
	d := precheck.SourceDialer(spec, c.o.Creds, task.ID)
	conn, _, err := d.Resolve(ctx)
	if err != nil {
		return fmt.Errorf("source %s: %w", d.Source.Addr(), err)
	}
	defer conn.Close()
	all, err := schema.Tables(conn, filter.Databases(spec.Filters))
	if err != nil {
		return fmt.Errorf("source %s: %w", d.Source.Addr(), err)
	}
	want := map[string]bool{}
	for _, t := range c.o.Request.Tables {
		want[t] = true
	}
	router := route.New(spec.Kafka)
	set := rend.Filters()
	var runs []*tableRun
	var estimate uint64
	for _, t := range all {
		name := t.DB + "." + t.Name
		if !set.Table(t.DB, t.Name) || len(want) > 0 && !want[name] {
			continue
		}
		delete(want, name)
		runs = append(runs, &tableRun{i: len(runs), ref: api.TableRef{DB: t.DB, Table: t.Name}, topic: router.Topic(t.DB, t.Name)})
		estimate += t.Rows
	}
	if len(want) > 0 {
		var names []string
		for n := range want {
			names = append(names, n)
		}
		return fmt.Errorf("not tables the task streams (or the account cannot see): %s", strings.Join(names, ", "))
	}
	c.update(func(v *api.Verify) {
		v.RowsEstimated = estimate
		for _, r := range runs {
			v.Tables = append(v.Tables, api.VerifyTable{DB: r.ref.DB, Table: r.ref.Table, Topic: r.topic, State: "pending"})
		}
	})
	if err := c.save(ctx); errors.Is(err, errLost) {
		return err
	}
	kcfg, err := precheck.KafkaConfig(spec, c.o.Creds, task.ID)
	if err != nil {
		return err
	}
	reader, err := produce.NewReader(kcfg, stepTimeout)
	if err != nil {
		return fmt.Errorf("kafka %s: %w", spec.Kafka.Addr, err)
	}
	defer reader.Close()

	var limit *rate.Limiter
	if r := c.o.Request.Rate; r > 0 {
		limit = rate.NewLimiter(rate.Limit(r), max(int(r), c.o.Request.ChunkRows))
	}
	// Topics in the order their first table comes; each topic is read once for its tables.
	var topics []string
	byTopic := map[string][]*tableRun{}
	for _, r := range runs {
		if byTopic[r.topic] == nil {
			topics = append(topics, r.topic)
		}
		byTopic[r.topic] = append(byTopic[r.topic], r)
	}
	ends := map[string]map[int32]int64{}
	for _, topic := range topics {
		trs := byTopic[topic]
		end, err := c.readTopic(ctx, reader, topic, trs, nil)
		if err != nil {
			return err
		}
		ends[topic] = end
		for _, tr := range trs {
			if err := c.compareTable(ctx, conn, rend, tr, limit); err != nil {
				return err
			}
			tr.kafka = nil
		}
	}
	if err := c.recheck(ctx, conn, reader, rend, topics, byTopic, ends); err != nil {
		return err
	}
	return c.samples(ctx, reader, runs)
}

// readTopic reads topic's committed records, from the offsets in from (nil: the oldest) up to
// its last stable offsets now, into the latest record per key of each of trs's tables, and
// returns the offsets read up to. An unknown topic reads as empty.
func (c *Check) readTopic(ctx context.Context, reader *produce.Reader, topic string, trs []*tableRun, from map[int32]int64) (map[int32]int64, error) {
	byTable := map[api.TableRef]*tableRun{}
	for _, tr := range trs {
		if tr.kafka == nil {
			tr.kafka = map[string]*entry{}
		}
		byTable[tr.ref] = tr
	}
	client := reader.Client
	if err := client.RefreshMetadata(topic); err != nil {
		if isUnknownTopic(err) {
			return map[int32]int64{}, nil
		}
		return nil, fmt.Errorf("kafka topic %s: %w", topic, err)
	}
	parts, err := client.Partitions(topic)
	if err != nil {
		if isUnknownTopic(err) {
			return map[int32]int64{}, nil
		}
		return nil, fmt.Errorf("kafka topic %s: %w", topic, err)
	}
	ends := map[int32]int64{}
	for _, p := range parts {
		end, err := lastStable(client, topic, p)
		if err != nil {
			return nil, fmt.Errorf("kafka topic %s partition %d: %w", topic, p, err)
		}
		start := int64(-1)
		if from != nil {
			if f, ok := from[p]; ok {
				start = f
			}
		}
		read, err := readPartition(ctx, client, topic, p, start, end, func(part int32, off int64, ts time.Time, key, value []byte) error {
			var k keyHead
			if key == nil || json.Unmarshal(key, &k) != nil || len(k.PK) == 0 {
				return nil
			}
			tr := byTable[api.TableRef{DB: k.Database, Table: k.Table}]
			if tr == nil {
				return nil
			}
			data, deleted, ok := rowOf(value)
			if !ok {
				return nil
			}
			e := tr.kafka[string(key)]
			if e == nil {
				e = &entry{}
				tr.kafka[string(key)] = e
			} else if e.part != part && ts.Before(e.ts) {
				// A key in two partitions (the partition count or partition_mode changed):
				// offsets of different partitions do not compare, so the later timestamp wins.
				return nil
			}
			e.deleted, e.part, e.off, e.ts = deleted, part, off, ts
			if !deleted {
				e.hash = hash64(data)
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("kafka topic %s: %w", topic, err)
		}
		ends[p] = read
		if from == nil {
			c.update(func(v *api.Verify) {
				for _, tr := range trs {
					live := 0
					for _, e := range tr.kafka {
						if !e.deleted {
							live++
						}
					}
					v.Tables[tr.i].KafkaKeys = uint64(live)
				}
			})
		}
	}
	return ends, nil
}

func isUnknownTopic(err error) bool {
	return errors.Is(err, sarama.ErrUnknownTopicOrPartition)
}

// row is one source row rendered as the task would send it.
type row struct {
	key  string
	data []byte
	hash uint64
	kept bool
	pk   []any
}

// renderRow renders a source row: its key and the canonical data of its value.
func renderRow(rend *render.Renderer, t *snapshot.Table, r change.Row) (row, error) {
	ev := &change.Event{Kind: change.Snapshot, Table: t.Change, After: r, Time: time.Now()}
	kept, err := rend.Keep(ev)
	if err != nil {
		return row{}, fmt.Errorf("row filter: %w", err)
	}
	var out row
	err = rend.Render(ev, func(_ string, _ uint32, key, value []byte) error {
		data, _, _ := rowOf(value)
		out = row{key: string(key), data: data, hash: hash64(data), kept: kept}
		return nil
	})
	if err != nil {
		return row{}, err
	}
	out.pk = make([]any, len(t.Desc.PK))
	for i, k := range t.Desc.PK {
		out.pk[i] = r[k]
	}
	return out, nil
}

// compareTable reads one table in primary-key chunks and compares each chunk with the latest
// records of its keys.
func (c *Check) compareTable(ctx context.Context, conn snapshot.Conn, rend *render.Renderer, tr *tableRun, limit *rate.Limiter) error {
	fail := func(msg string) {
		c.update(func(v *api.Verify) {
			v.Tables[tr.i].State, v.Tables[tr.i].Message = "failed", msg
			v.TablesDone++
		})
	}
	t, err := snapshot.Open(conn, tr.ref.DB, tr.ref.Table)
	if errors.Is(err, schema.ErrNoTable) {
		fail("the table no longer exists")
		return nil
	}
	if err != nil {
		return fmt.Errorf("source: %w", err)
	}
	if len(t.Desc.PK) == 0 {
		fail("the table has no primary key, so its records have no key to compare by")
		return nil
	}
	tr.tbl = t
	c.update(func(v *api.Verify) { v.Tables[tr.i].State = "running" })
	chunkRows := c.o.Request.ChunkRows
	var from []any
	for {
		var rows []row
		var last change.Row
		var rerr error
		n, err := t.Read(ctx, conn, from, chunkRows, func(r change.Row) error {
			last = r
			rr, err := renderRow(rend, t, r)
			if err != nil {
				rerr = err
				return err
			}
			rows = append(rows, rr)
			return nil
		})
		if rerr != nil {
			fail(rerr.Error())
			return nil
		}
		if err != nil {
			return fmt.Errorf("source: %w", err)
		}
		if limit != nil && n > 0 {
			if err := limit.WaitN(ctx, n); err != nil {
				return err
			}
		}
		c.compareChunk(tr, rows)
		if err := c.progress(ctx); err != nil {
			return err
		}
		if n < chunkRows {
			break
		}
		from = t.Key(last)
	}
	c.update(func(v *api.Verify) {
		vt := &v.Tables[tr.i]
		for key, e := range tr.kafka {
			if e.seen || e.deleted {
				continue
			}
			vt.Extra++
			tr.suspect(&suspect{kind: kindExtra, key: key, k: e})
		}
		vt.State = "done"
		v.TablesDone++
	})
	return nil
}

// compareChunk compares one chunk: its checksum first, key by key only when it differs.
func (c *Check) compareChunk(tr *tableRun, rows []row) {
	var src, kaf uint64
	kept, live := 0, 0
	for _, r := range rows {
		e := tr.kafka[r.key]
		if e != nil {
			e.seen = true
		}
		if !r.kept {
			continue
		}
		kept++
		src ^= mix(r.key, r.hash)
		if e != nil && !e.deleted {
			kaf ^= mix(r.key, e.hash)
			live++
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	v := c.state
	vt := &v.Tables[tr.i]
	v.RowsChecked += uint64(len(rows))
	vt.SourceRows += uint64(kept)
	if len(rows) == 0 {
		return
	}
	vt.Chunks++
	if src == kaf && kept == live {
		vt.ChunksMatching++
		vt.Matching += uint64(kept)
		vt.Filtered += uint64(len(rows) - kept)
		return
	}
	for _, r := range rows {
		e := tr.kafka[r.key]
		kind := classify(true, r.kept, r.hash, e)
		count(vt, kind, 1)
		if kind == kindMissing || kind == kindDiffering {
			tr.suspect(&suspect{kind: kind, key: r.key, pk: r.pk, src: r.data, srcHash: r.hash, k: e})
		}
	}
}

func (tr *tableRun) suspect(s *suspect) {
	if len(tr.suspects) < maxSuspects {
		tr.suspects = append(tr.suspects, s)
	}
}

// recheck reads the suspect keys again once the task has passed the source's position at the
// end of the first pass: a difference that was a change in flight is gone then.
func (c *Check) recheck(ctx context.Context, conn *client.Conn, reader *produce.Reader, rend *render.Renderer, topics []string, byTopic map[string][]*tableRun, ends map[string]map[int32]int64) error {
	suspects := false
	for _, trs := range byTopic {
		for _, tr := range trs {
			suspects = suspects || len(tr.suspects) > 0
		}
	}
	if !suspects || c.o.Status == nil {
		return nil
	}
	note := func(msg string) {
		c.update(func(v *api.Verify) {
			if v.Message != "" {
				v.Message += "; "
			}
			v.Message += msg
		})
	}
	st, err := c.o.Status(ctx)
	if err != nil || st == nil || st.State != api.StateRunning || st.Pos == "" {
		note("differences were not read again: the task is not running, so they cannot be changes in flight")
		return nil
	}
	server, err := binlog.Inspect(conn)
	if err != nil {
		return fmt.Errorf("source: %w", err)
	}
	target, err := binlog.CurrentPos(conn, server)
	if err != nil {
		return fmt.Errorf("source: %w", err)
	}
	deadline := time.Now().Add(c.o.RecheckWait)
	for {
		st, err := c.o.Status(ctx)
		if err == nil && st != nil && caughtUp(st.Pos, target, server.Flavor) {
			break
		}
		if time.Now().After(deadline) {
			note(fmt.Sprintf("differences were not read again: the task did not reach the source's position %s within %s, so some may be changes in flight", target, c.o.RecheckWait))
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Second):
		}
		if err := c.progress(ctx); err != nil {
			return err
		}
	}
	for _, topic := range topics {
		trs := byTopic[topic]
		sus := false
		for _, tr := range trs {
			sus = sus || len(tr.suspects) > 0
			tr.kafka = map[string]*entry{}
		}
		if !sus {
			continue
		}
		// Only what came after the first pass: the latest record of a suspect key is either
		// there or the one the first pass saw.
		if _, err := c.readTopic(ctx, reader, topic, trs, ends[topic]); err != nil {
			return err
		}
		for _, tr := range trs {
			if err := c.recheckTable(ctx, conn, rend, tr); err != nil {
				return err
			}
			tr.kafka = nil
		}
	}
	return nil
}

// recheckTable classifies a table's suspect keys again.
func (c *Check) recheckTable(ctx context.Context, conn snapshot.Conn, rend *render.Renderer, tr *tableRun) error {
	if tr.tbl == nil {
		return nil
	}
	for _, s := range tr.suspects {
		if e := tr.kafka[s.key]; e != nil {
			s.k = e
		}
		if s.pk == nil {
			pk, err := pkOf(tr.tbl, s.key)
			if err != nil {
				continue // a key this table's columns cannot read: it stays extra
			}
			s.pk = pk
		}
		var r row
		var rerr error
		found, err := tr.tbl.ReadKey(ctx, conn, s.pk, func(cr change.Row) error {
			r, rerr = renderRow(rend, tr.tbl, cr)
			return rerr
		})
		if rerr != nil {
			continue
		}
		if err != nil {
			return fmt.Errorf("source: %w", err)
		}
		kind := classify(found, r.kept, r.hash, s.k)
		c.update(func(v *api.Verify) {
			vt := &v.Tables[tr.i]
			vt.Rechecked++
			if kind != s.kind {
				count(vt, s.kind, -1)
				count(vt, kind, 1)
			}
		})
		s.kind = kind
		if found {
			s.src, s.srcHash = r.data, r.hash
		}
		if err := c.progress(ctx); err != nil {
			return err
		}
	}
	return nil
}

// pkOf reads the primary-key values of a dts message key, in key order.
func pkOf(t *snapshot.Table, key string) ([]any, error) {
	var k keyHead
	if err := json.Unmarshal([]byte(key), &k); err != nil {
		return nil, err
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(k.PK, &m); err != nil {
		return nil, err
	}
	vals := make([]json.RawMessage, len(t.Desc.PK))
	for i, ci := range t.Desc.PK {
		v, ok := m[t.Desc.Columns[ci].Name]
		if !ok {
			return nil, fmt.Errorf("key %s lacks column %s", key, t.Desc.Columns[ci].Name)
		}
		vals[i] = v
	}
	b, err := json.Marshal(vals)
	if err != nil {
		return nil, err
	}
	return t.ParseKey(b)
}

// samples fills each table's samples from its remaining suspects, with the Kafka record's data
// read again by its offset.
func (c *Check) samples(ctx context.Context, reader *produce.Reader, runs []*tableRun) error {
	n := c.o.Request.Samples
	for _, tr := range runs {
		taken := map[string]int{}
		var out []api.VerifySample
		for _, s := range tr.suspects {
			if s.kind != kindMissing && s.kind != kindExtra && s.kind != kindDiffering || taken[s.kind] >= n {
				continue
			}
			taken[s.kind]++
			smp := api.VerifySample{Kind: s.kind, Key: json.RawMessage(s.key), Partition: -1, Offset: -1}
			if s.kind != kindExtra && s.src != nil {
				smp.Source = json.RawMessage(s.src)
			}
			if s.k != nil {
				smp.Partition, smp.Offset = s.k.part, s.k.off
				if !s.k.deleted {
					value, found, err := readOne(ctx, reader.Client, tr.topic, s.k.part, s.k.off)
					if err != nil {
						return fmt.Errorf("kafka topic %s: %w", tr.topic, err)
					}
					if data, _, ok := rowOf(value); found && ok {
						smp.Kafka = json.RawMessage(data)
					}
				}
			}
			out = append(out, smp)
		}
		c.update(func(v *api.Verify) { v.Tables[tr.i].Samples = out })
	}
	return nil
}

// caughtUp reports whether the task's position pos has passed target.
func caughtUp(pos string, target binlog.Pos, flavor string) bool {
	p, err := binlog.ParsePos(pos, flavor)
	if err != nil || p.IsZero() {
		return false
	}
	if target.GTID != nil {
		return p.GTID != nil && p.GTID.Contain(target.GTID)
	}
	return p.File > target.File || p.File == target.File && p.Offset >= target.Offset
}
