// Package storetest is the conformance suite every task store passes: the dispatcher's view
// (create, get, update, delete, list, status) and the worker's (lock, status, watch), with the
// same semantics on Consul and on the embedded bbolt store.
package storetest

import (
	"testing"

	"github.com/dtsrepl/dts/dispatcher"
	"github.com/dtsrepl/dts/worker"
)

// Backend is one empty store under test.
type Backend struct {
	// Store and Other are two instances on the same data, as two dispatchers would have.
	Store, Other dispatcher.Store
	// TaskRecord returns the record of task id for a worker called name. The backend unlocks it
	// when the test ends.
	TaskRecord func(id int64, name string) worker.TaskRecord
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
		{"Page", testPage},
		{"Idempotency", testIdempotency},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.fn(t, open(t))
		})
	}
}
