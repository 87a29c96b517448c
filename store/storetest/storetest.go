// Package storetest is the conformance suite every task store passes: the dispatcher's view
// (create, get, update, delete, list, status) and the worker's (lock, status, watch), with the
// same semantics on Consul and on the embedded bbolt store.
//
// The interfaces are copied here rather than imported, so that the stores and their tests do
// not depend on the dispatcher and worker packages.
package storetest

import (
	"context"
	"testing"

	"github.com/dtsrepl/dts/api"
	"github.com/dtsrepl/dts/store"
)

// Store is the dispatcher's Store.
type Store interface {
	Create(ctx context.Context, t *api.Task) (int64, error)
	Get(ctx context.Context, id int64) (*api.Task, error)
	Update(ctx context.Context, t *api.Task, prevVersion int64) error
	Delete(ctx context.Context, id int64) error
	List(ctx context.Context) ([]store.Record, error)
	Status(ctx context.Context, id int64) (*api.Status, error)
	Ping(ctx context.Context) error
}

// Control is the worker's Control.
type Control interface {
	Lock(ctx context.Context) (lost <-chan struct{}, err error)
	Unlock(ctx context.Context) error
	Task(ctx context.Context) (*api.Task, error)
	WatchTask(ctx context.Context, version int64) (*api.Task, error)
	Status(ctx context.Context) (*api.Status, error)
	SaveStatus(ctx context.Context, st *api.Status) error
}

// Backend is one empty store under test.
type Backend struct {
	// Store and Other are two instances on the same data, as two dispatchers would have.
	Store, Other Store
	// Control returns the Control of task id for a worker called name. The backend unlocks it
	// when the test ends.
	Control func(id int64, name string) Control
	// BreakLock makes the current holder of task id's lock lose it the way the backend loses
	// locks in production (Consul: its session is invalidated), so that another can take it.
	BreakLock func(t *testing.T, id int64)
}

// TestStore runs the suite; open is called once per subtest and must return an empty store.
func TestStore(t *testing.T, open func(t *testing.T) Backend) {
	tests := []struct {
		name string
		fn   func(t *testing.T, b Backend)
	}{
		{"CreateGet", testCreateGet},
		{"Update", testUpdate},
		{"Delete", testDelete},
		{"List", testList},
		{"ConcurrentCreate", testConcurrentCreate},
		{"StatusRoundTrip", testStatusRoundTrip},
		{"LockExclusive", testLockExclusive},
		{"LockTakenOver", testLockTakenOver},
		{"DeleteRevokesLock", testDeleteRevokesLock},
		{"WatchTask", testWatchTask},
		{"MissingTask", testMissingTask},
		{"Relock", testRelock},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.fn(t, open(t))
		})
	}
}
