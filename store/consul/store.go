// Package consul is the task store on Consul KV: the dispatchers keep tasks there, and each task's
// worker holds the task's lock and reports its status and checkpoint there.
//
// Keys follow store.Keys under a prefix (default store.DefaultPrefix). Values are JSON so that
// operators can read them in the Consul UI; next-id is the last allocated id in decimal.
// Every error that comes from Consul being unreachable or failing matches store.ErrUnavailable.
//
// A worker's lock (TaskRecord) is not consulapi.Lock, for two reasons. Taking it must fail for a
// task that no longer exists, so the lock is taken in one transaction with a check that the
// task's spec exists (consulapi.Lock acquires a bare key, and a deleted task could be locked and
// run by a worker that started late). And the lock must be given up before anyone else can take
// it: Consul invalidates a session only after twice its TTL, so the holder stops producing once
// it could not renew for one TTL (session.go), whereas consulapi.Lock reports the loss only
// after the session is gone, when a successor may already be running. The dispatchers'
// reconciler lock has neither need, and is a consulapi.Lock (leader.go).
package consul

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	consulapi "github.com/hashicorp/consul/api"

	"github.com/dtsrepl/dts/api"
	"github.com/dtsrepl/dts/internal/backoff"
	"github.com/dtsrepl/dts/store"
)

// Store keeps tasks and their statuses in Consul KV. It implements the dispatcher's Store; it
// is safe for concurrent use, also by several dispatchers on the same prefix.
type Store struct {
	client *consulapi.Client
	keys   store.Keys
	// callTimeout bounds each call the dispatcher's methods make; 0: only ctx bounds them.
	callTimeout time.Duration
	// listed is what the last List decoded (shared by the copies WithCallTimeout makes).
	listed *decodedValues
}

// decodedValues keeps the values List decoded, by key, each with the ModifyIndex of the value it
// was decoded from. Decoding is most of what a dispatcher spends on a list of many tasks, and
// between two lists only statuses and a few specs change: a list decodes only what did. The
// values are never modified once decoded; List hands out copies of them.
type decodedValues struct {
	mu     sync.Mutex
	values map[string]decodedValue
}

type decodedValue struct {
	index  uint64
	task   *api.Task
	status *api.Status
}

// take returns the values the last List kept, for the next to reuse.
func (d *decodedValues) take() map[string]decodedValue {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.values
}

// keep replaces them with those of the list just made: those of deleted keys go.
func (d *decodedValues) keep(m map[string]decodedValue) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.values = m
}

// New returns a store on client under prefix; an empty prefix means store.DefaultPrefix.
// The client should pool its connections and bound them (Transport.MaxConnsPerHost): Consul
// refuses more than http_max_conns_per_client (default 200) connections from one address.
func New(client *consulapi.Client, prefix string) *Store {
	if prefix == "" {
		prefix = store.DefaultPrefix
	}
	return &Store{client: client, keys: store.Keys{Prefix: prefix}, listed: &decodedValues{}}
}

// WithCallTimeout returns the store with each Consul call of its dispatcher-side methods
// (Create, Get, Update, Delete, List, Page, Status, Ping) bounded by d, whatever their ctx: a
// Consul that does not answer makes them fail with store.ErrUnavailable after d, while a Create
// that loses races for an id under many concurrent submits may go on retrying within its ctx.
func (s *Store) WithCallTimeout(d time.Duration) *Store {
	c := *s
	c.callTimeout = d
	return &c
}

// call bounds one Consul call.
func (s *Store) call(ctx context.Context) (context.Context, context.CancelFunc) {
	if s.callTimeout > 0 {
		return context.WithTimeout(ctx, s.callTimeout)
	}
	return context.WithCancel(ctx)
}

func query(ctx context.Context) *consulapi.QueryOptions {
	return (&consulapi.QueryOptions{}).WithContext(ctx)
}

func write(ctx context.Context) *consulapi.WriteOptions {
	return (&consulapi.WriteOptions{}).WithContext(ctx)
}

// decode unmarshals a KV value; a value that is not what dts wrote is reported with its key so
// that an operator can find and fix it.
func decode(pair *consulapi.KVPair, v any) error {
	if err := json.Unmarshal(pair.Value, v); err != nil {
		return fmt.Errorf("decode %s: %w", pair.Key, err)
	}
	return nil
}

// Create allocates the next id and stores t under it. The counter and the new spec are written in
// one transaction, compare-and-set on both, so concurrent creates from any number of
// dispatchers never share an id; a lost race is retried after a jittered wait until ctx ends.
func (s *Store) Create(ctx context.Context, t *api.Task) (int64, error) {
	if t == nil {
		return 0, errors.New("create task: nil task")
	}
	kv := s.client.KV()
	bo := backoff.New(5*time.Millisecond, 500*time.Millisecond)
	// skip steps past ids whose spec already exists although the counter is behind them (a
	// counter restored from an old backup, say), so that ids are never reused.
	var skip int64
	var idemIndex uint64 // the idempotency key's ModifyIndex when a deleted task left it
	for {
		cctx, cancel := s.call(ctx)
		pair, _, err := kv.Get(s.keys.NextID(), query(cctx))
		err = classify(cctx, err) // before cancel, which would make any error look like ours
		cancel()
		if err != nil {
			return 0, fmt.Errorf("create task: read %s: %w", s.keys.NextID(), err)
		}
		var last int64
		var index uint64
		if pair != nil {
			last, err = strconv.ParseInt(strings.TrimSpace(string(pair.Value)), 10, 64)
			if err != nil {
				return 0, fmt.Errorf("create task: %s holds %q, not a task id: %w", pair.Key, pair.Value, err)
			}
			index = pair.ModifyIndex
		}
		id := last + 1 + skip
		c := *t
		c.ID = id
		spec, err := json.Marshal(&c)
		if err != nil {
			return 0, fmt.Errorf("create task: encode: %w", err)
		}
		ops := consulapi.TxnOps{
			{KV: &consulapi.KVTxnOp{Verb: consulapi.KVCAS, Key: s.keys.NextID(), Value: []byte(strconv.FormatInt(id, 10)), Index: index}},
			{KV: &consulapi.KVTxnOp{Verb: consulapi.KVCAS, Key: s.keys.Spec(id), Value: spec, Index: 0}},
		}
		if t.IdempotencyKey != "" {
			// The key is claimed in the same transaction, so two retries of one submit racing on
			// two dispatchers make one task. A key left by a deleted task is claimed over.
			ops = append(ops, &consulapi.TxnOp{KV: &consulapi.KVTxnOp{Verb: consulapi.KVCAS, Key: s.keys.Idempotency(t.IdempotencyKey), Value: []byte(strconv.FormatInt(id, 10)), Index: idemIndex}})
		}
		cctx, cancel = s.call(ctx)
		ok, resp, _, err := s.client.Txn().Txn(ops, query(cctx))
		err = classify(cctx, err)
		cancel()
		if err != nil {
			return 0, fmt.Errorf("create task %d: %w", id, err)
		}
		switch {
		case ok:
			t.ID = id
			return id, nil
		case t.IdempotencyKey != "" && failedOp(resp, 2):
			prev, index, err := s.idempotent(ctx, t.IdempotencyKey)
			if err != nil {
				return 0, fmt.Errorf("create task: %w", err)
			}
			if prev != 0 {
				return 0, fmt.Errorf("create task: %w", &store.DuplicateError{ID: prev})
			}
			idemIndex = index
		case failedOp(resp, 0):
			skip = 0
			if err := bo.Wait(ctx); err != nil {
				// Consul answers, but other creates kept taking the next id first.
				return 0, fmt.Errorf("create task: no id could be allocated in time, other creates took them first: %w: %w", store.ErrUnavailable, err)
			}
		case failedOp(resp, 1):
			skip++
		default:
			return 0, fmt.Errorf("create task %d: %w", id, txnError(resp))
		}
	}
}

// idempotent returns the task that holds idempotency key hash, 0 if none does, and the key's
// ModifyIndex (0 when it does not exist) to claim it at.
func (s *Store) idempotent(ctx context.Context, hash string) (int64, uint64, error) {
	ctx, cancel := s.call(ctx)
	defer cancel()
	pair, _, err := s.client.KV().Get(s.keys.Idempotency(hash), query(ctx))
	if err != nil {
		return 0, 0, fmt.Errorf("read idempotency key: %w", classify(ctx, err))
	}
	if pair == nil {
		return 0, 0, nil
	}
	id, err := strconv.ParseInt(string(pair.Value), 10, 64)
	if err != nil {
		return 0, pair.ModifyIndex, nil // not ours: claimed over
	}
	if _, _, err := s.get(ctx, id); errors.Is(err, store.ErrNotFound) {
		return 0, pair.ModifyIndex, nil
	} else if err != nil {
		return 0, 0, err
	}
	return id, pair.ModifyIndex, nil
}

// Get returns one task.
func (s *Store) Get(ctx context.Context, id int64) (*api.Task, error) {
	ctx, cancel := s.call(ctx)
	defer cancel()
	t, _, err := s.get(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("get task %d: %w", id, err)
	}
	return t, nil
}

// get reads a task's spec and the ModifyIndex to compare-and-set it at.
func (s *Store) get(ctx context.Context, id int64) (*api.Task, uint64, error) {
	pair, _, err := s.client.KV().Get(s.keys.Spec(id), query(ctx))
	if err != nil {
		return nil, 0, classify(ctx, err)
	}
	if pair == nil {
		return nil, 0, store.ErrNotFound
	}
	var t api.Task
	if err := decode(pair, &t); err != nil {
		return nil, 0, err
	}
	return &t, pair.ModifyIndex, nil
}

// Update replaces t if the stored version is still prevVersion. The version check alone would let
// two updates that read the same version both pass, so the write is also a compare-and-set on
// the spec key's ModifyIndex as read.
func (s *Store) Update(ctx context.Context, t *api.Task, prevVersion int64) error {
	ctx, cancel := s.call(ctx)
	defer cancel()
	if t == nil {
		return errors.New("update task: nil task")
	}
	cur, index, err := s.get(ctx, t.ID)
	if err != nil {
		return fmt.Errorf("update task %d: %w", t.ID, err)
	}
	if cur.Version != prevVersion {
		return fmt.Errorf("update task %d: stored version is %d, not %d: %w", t.ID, cur.Version, prevVersion, store.ErrConflict)
	}
	b, err := json.Marshal(t)
	if err != nil {
		return fmt.Errorf("update task %d: encode: %w", t.ID, err)
	}
	ok, _, err := s.client.KV().CAS(&consulapi.KVPair{Key: s.keys.Spec(t.ID), Value: b, ModifyIndex: index}, write(ctx))
	if err != nil {
		return fmt.Errorf("update task %d: %w", t.ID, classify(ctx, err))
	}
	if ok {
		return nil
	}
	// The key changed or went away between the read and the write; tell the two apart so that
	// the caller does not retry an update of a deleted task.
	if _, _, err := s.get(ctx, t.ID); err != nil {
		return fmt.Errorf("update task %d: %w", t.ID, err)
	}
	return fmt.Errorf("update task %d: %w", t.ID, store.ErrConflict)
}

// Delete removes the task's whole key tree: spec, status and lock, and its idempotency key.
// Removing the lock key makes a running worker lose its lock, and its status can no longer be
// written.
func (s *Store) Delete(ctx context.Context, id int64) error {
	ctx, cancel := s.call(ctx)
	defer cancel()
	t, index, err := s.get(ctx, id)
	if err != nil {
		return fmt.Errorf("delete task %d: %w", id, err)
	}
	ops := consulapi.TxnOps{
		// The spec read is the one deleted: a concurrent change is refused, not lost.
		{KV: &consulapi.KVTxnOp{Verb: consulapi.KVCheckIndex, Key: s.keys.Spec(id), Index: index}},
		{KV: &consulapi.KVTxnOp{Verb: consulapi.KVDeleteTree, Key: s.keys.Task(id)}},
	}
	if t.IdempotencyKey != "" {
		ops = append(ops, &consulapi.TxnOp{KV: &consulapi.KVTxnOp{Verb: consulapi.KVDelete, Key: s.keys.Idempotency(t.IdempotencyKey)}})
	}
	ok, resp, _, err := s.client.Txn().Txn(ops, query(ctx))
	if err != nil {
		return fmt.Errorf("delete task %d: %w", id, classify(ctx, err))
	}
	if ok {
		return nil
	}
	if failedOp(resp, 0) {
		if _, _, err := s.get(ctx, id); err != nil {
			return fmt.Errorf("delete task %d: %w", id, err)
		}
		return fmt.Errorf("delete task %d: %w", id, store.ErrConflict)
	}
	return fmt.Errorf("delete task %d: %w", id, txnError(resp))
}

// List returns every task in id order with its status, read in one recursive query so that the
// list is a consistent snapshot. Keys that dts does not write are ignored. The records' slices
// and maps are shared with other lists' records: callers read them, and change only copies.
func (s *Store) List(ctx context.Context) ([]store.Record, error) {
	ctx, cancel := s.call(ctx)
	defer cancel()
	pairs, _, err := s.client.KV().List(s.keys.Tasks(), query(ctx))
	if err != nil {
		return nil, fmt.Errorf("list tasks: %w", classify(ctx, err))
	}
	byID := map[int64]*store.Record{}
	last := s.listed.take()
	kept := make(map[string]decodedValue, len(pairs))
	for _, p := range pairs {
		id, name, ok := s.parseKey(p.Key)
		if !ok || name != "spec" && name != "status" {
			continue
		}
		r := byID[id]
		if r == nil {
			r = &store.Record{}
			byID[id] = r
		}
		d, ok := last[p.Key]
		if !ok || d.index != p.ModifyIndex {
			d = decodedValue{index: p.ModifyIndex}
			var err error
			if name == "spec" {
				d.task = new(api.Task)
				err = decode(p, d.task)
			} else {
				d.status = new(api.Status)
				err = decode(p, d.status)
			}
			if err != nil {
				return nil, fmt.Errorf("list tasks: %w", err)
			}
		}
		kept[p.Key] = d
		if d.task != nil {
			t := *d.task
			r.Task = &t
		} else {
			st := *d.status
			r.Status = &st
		}
	}
	s.listed.keep(kept)
	ids := make([]int64, 0, len(byID))
	for id, r := range byID {
		// A status or lock without a spec is what is left of a task being deleted.
		if r.Task != nil {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	out := make([]store.Record, 0, len(ids))
	for _, id := range ids {
		out = append(out, *byID[id])
	}
	return out, nil
}

// maxTxnOps is the most operations Consul takes in one transaction.
const maxTxnOps = 64

// Page returns limit tasks in id order from the offset-th on, each with its status, and how many
// tasks there are. It reads the task ids (keys only, one level) and then only the page's specs
// and statuses, so that a page costs the same whatever the number of tasks; a page larger than
// one transaction holds is read with List.
func (s *Store) Page(ctx context.Context, offset, limit int) ([]store.Record, int, error) {
	ctx, cancel := s.call(ctx)
	defer cancel()
	if 2*limit > maxTxnOps {
		recs, err := s.List(ctx)
		if err != nil {
			return nil, 0, err
		}
		if offset >= len(recs) {
			return nil, len(recs), nil
		}
		return recs[offset:min(offset+limit, len(recs))], len(recs), nil
	}
	keys, _, err := s.client.KV().Keys(s.keys.Tasks(), "/", query(ctx))
	if err != nil {
		return nil, 0, fmt.Errorf("list tasks: %w", classify(ctx, err))
	}
	ids := make([]int64, 0, len(keys))
	for _, k := range keys {
		if id, _, ok := s.parseKey(k); ok {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	total := len(ids)
	if offset >= len(ids) {
		return nil, total, nil
	}
	ids = ids[offset:min(offset+limit, len(ids))]
	ops := make(consulapi.TxnOps, 0, 2*len(ids))
	for _, id := range ids {
		ops = append(ops,
			&consulapi.TxnOp{KV: &consulapi.KVTxnOp{Verb: consulapi.KVGetOrEmpty, Key: s.keys.Spec(id)}},
			&consulapi.TxnOp{KV: &consulapi.KVTxnOp{Verb: consulapi.KVGetOrEmpty, Key: s.keys.Status(id)}})
	}
	ok, resp, _, err := s.client.Txn().Txn(ops, query(ctx))
	if err != nil {
		return nil, 0, fmt.Errorf("list tasks: %w", classify(ctx, err))
	}
	if !ok {
		return nil, 0, fmt.Errorf("list tasks: %w", txnError(resp))
	}
	out := make([]store.Record, 0, len(ids))
	for i := 0; i+1 < len(resp.Results); i += 2 {
		spec, status := resp.Results[i].KV, resp.Results[i+1].KV
		if spec == nil || len(spec.Value) == 0 {
			// What is left of a task being deleted: the keys listing saw its status or lock.
			total--
			continue
		}
		r := store.Record{Task: new(api.Task)}
		if err := decode(&consulapi.KVPair{Key: spec.Key, Value: spec.Value}, r.Task); err != nil {
			return nil, 0, fmt.Errorf("list tasks: %w", err)
		}
		if status != nil && len(status.Value) > 0 {
			r.Status = new(api.Status)
			if err := decode(&consulapi.KVPair{Key: status.Key, Value: status.Value}, r.Status); err != nil {
				return nil, 0, fmt.Errorf("list tasks: %w", err)
			}
		}
		out = append(out, r)
	}
	return out, total, nil
}

// parseKey splits "<prefix>tasks/<id>/<name>" into id and name; anything else is foreign.
func (s *Store) parseKey(key string) (int64, string, bool) {
	rest, ok := strings.CutPrefix(key, s.keys.Tasks())
	if !ok {
		return 0, "", false
	}
	idText, name, ok := strings.Cut(rest, "/")
	if !ok || strings.Contains(name, "/") {
		return 0, "", false
	}
	id, err := strconv.ParseInt(idText, 10, 64)
	if err != nil || id <= 0 || strconv.FormatInt(id, 10) != idText {
		return 0, "", false
	}
	return id, name, true
}

// Status returns a task's last reported status, nil if none was reported, and
// store.ErrNotFound if the task does not exist.
func (s *Store) Status(ctx context.Context, id int64) (*api.Status, error) {
	ctx, cancel := s.call(ctx)
	defer cancel()
	// One query for the task's keys tells a missing task from a task without a status.
	pairs, _, err := s.client.KV().List(s.keys.Task(id), query(ctx))
	if err != nil {
		return nil, fmt.Errorf("status of task %d: %w", id, classify(ctx, err))
	}
	var spec, status *consulapi.KVPair
	for _, p := range pairs {
		switch p.Key {
		case s.keys.Spec(id):
			spec = p
		case s.keys.Status(id):
			status = p
		}
	}
	if spec == nil {
		return nil, fmt.Errorf("status of task %d: %w", id, store.ErrNotFound)
	}
	if status == nil {
		return nil, nil
	}
	var st api.Status
	if err := decode(status, &st); err != nil {
		return nil, fmt.Errorf("status of task %d: %w", id, err)
	}
	return &st, nil
}

// Ping checks that Consul answers and has a leader, without which no write can succeed.
func (s *Store) Ping(ctx context.Context) error {
	ctx, cancel := s.call(ctx)
	defer cancel()
	leader, err := s.client.Status().LeaderWithQueryOptions(query(ctx))
	if err != nil {
		return fmt.Errorf("ping consul: %w", classify(ctx, err))
	}
	if leader == "" {
		return fmt.Errorf("ping consul: no cluster leader: %w", store.ErrUnavailable)
	}
	return nil
}
