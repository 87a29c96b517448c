package consul

import (
	"context"
	"encoding/json"
	"fmt"

	consulapi "github.com/hashicorp/consul/api"

	"github.com/dtsrepl/dts/api"
	"github.com/dtsrepl/dts/store"
)

// verifyKey is the key of a task's consistency check, beside its spec and status: it goes with
// the task's key tree when the task is deleted.
func (s *Store) verifyKey(id int64) string { return s.keys.Task(id) + "verify" }

// Verify returns task id's last consistency check and the revision to compare-and-set it at;
// nil and 0 when it has none, store.ErrNotFound when the task does not exist.
func (s *Store) Verify(ctx context.Context, id int64) (*api.Verify, uint64, error) {
	pairs, _, err := s.client.KV().List(s.keys.Task(id), query(ctx))
	if err != nil {
		return nil, 0, fmt.Errorf("verify of task %d: %w", id, classify(ctx, err))
	}
	var spec, v *consulapi.KVPair
	for _, p := range pairs {
		switch p.Key {
		case s.keys.Spec(id):
			spec = p
		case s.verifyKey(id):
			v = p
		}
	}
	if spec == nil {
		return nil, 0, fmt.Errorf("verify of task %d: %w", id, store.ErrNotFound)
	}
	if v == nil {
		return nil, 0, nil
	}
	var out api.Verify
	if err := decode(v, &out); err != nil {
		return nil, 0, fmt.Errorf("verify of task %d: %w", id, err)
	}
	return &out, v.ModifyIndex, nil
}

// SaveVerify writes task id's consistency check if its stored revision is still rev (0: none
// stored), and returns the new revision. A check whose revision moved (another dispatcher took
// it over, or it was started again) gets store.ErrConflict; a deleted task store.ErrNotFound.
func (s *Store) SaveVerify(ctx context.Context, id int64, v *api.Verify, rev uint64) (uint64, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return 0, fmt.Errorf("save verify of task %d: encode: %w", id, err)
	}
	ops := consulapi.TxnOps{
		{KV: &consulapi.KVTxnOp{Verb: consulapi.KVGet, Key: s.keys.Spec(id)}},
		{KV: &consulapi.KVTxnOp{Verb: consulapi.KVCAS, Key: s.verifyKey(id), Value: b, Index: rev}},
	}
	ok, resp, _, err := s.client.Txn().Txn(ops, query(ctx))
	if err != nil {
		return 0, fmt.Errorf("save verify of task %d: %w", id, classify(ctx, err))
	}
	switch {
	case ok && len(resp.Results) == 2 && resp.Results[1].KV != nil:
		return resp.Results[1].KV.ModifyIndex, nil
	case ok:
		return 0, fmt.Errorf("save verify of task %d: the transaction answered no index", id)
	case failedOp(resp, 0):
		return 0, fmt.Errorf("save verify of task %d: %w", id, store.ErrNotFound)
	case failedOp(resp, 1):
		return 0, fmt.Errorf("save verify of task %d: %w", id, store.ErrConflict)
	}
	return 0, fmt.Errorf("save verify of task %d: %w", id, txnError(resp))
}
