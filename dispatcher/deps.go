package dispatcher

import (
	"context"

	"github.com/dtsrepl/dts/api"
	"github.com/dtsrepl/dts/jobs"
	"github.com/dtsrepl/dts/store"
)

// Store keeps tasks and the statuses their workers report. store/consul and store/bolt
// implement it. Errors are the sentinels of package store (ErrNotFound, ErrConflict,
// ErrUnavailable), possibly wrapped.
type Store interface {
	// Create allocates the next task id (never reused, never shared by two concurrent creates,
	// even across dispatchers), stores t under it with t.ID set, and returns the id. A task with
	// an IdempotencyKey another task has is refused with a *store.DuplicateError naming it; of
	// concurrent creates with one key, one succeeds.
	Create(ctx context.Context, t *api.Task) (int64, error)
	// Get returns one task.
	Get(ctx context.Context, id int64) (*api.Task, error)
	// Update replaces a task if its stored version is still prevVersion.
	Update(ctx context.Context, t *api.Task, prevVersion int64) error
	// Delete removes a task with its status and lock.
	Delete(ctx context.Context, id int64) error
	// List returns every task in id order, each with its status (nil if none was reported).
	List(ctx context.Context) ([]store.Record, error)
	// Page returns limit tasks in id order from the offset-th on, with their statuses, and how
	// many tasks there are; its cost should not grow with the number of tasks.
	Page(ctx context.Context, offset, limit int) ([]store.Record, int, error)
	// Status returns a task's status, nil if none.
	Status(ctx context.Context, id int64) (*api.Status, error)
	// Ping checks that the backend answers.
	Ping(ctx context.Context) error
}

// CredentialStore is a Store that also keeps the credentials (source account, Kafka secrets) the
// launcher starts workers with: store/bolt, whose file the local launcher of dts dev reads them
// from. Submit then stores a task and its credentials in one transaction, so that no crash
// leaves a task without an account. (With Consul and Nomad they live in a Nomad Variable,
// written by Launch.)
type CredentialStore interface {
	Store
	// CreateWithCredentials is Create that stores c with the task, atomically.
	CreateWithCredentials(ctx context.Context, t *api.Task, c api.Credentials) (int64, error)
}

// Launcher runs tasks' workers: jobs/nomad on a Nomad cluster, jobs/local in-process.
type Launcher interface {
	// Launch starts the task's worker, or brings a running one up to date with t. creds are the
	// task's credentials, replacing the stored ones as a whole (new ones restart the worker); nil
	// keeps those given before. For a task whose Desired is stopped it only stores creds. A task
	// with no account at all gets no worker: jobs.ErrNoCredentials. Idempotent.
	Launch(ctx context.Context, t *api.Task, creds *api.Credentials) error
	// Stop stops the worker (it checkpoints first) and keeps what Launch needs to start it again.
	Stop(ctx context.Context, id int64) error
	// Remove stops the worker and deletes everything kept for the task (job, credentials).
	Remove(ctx context.Context, id int64) error
	// Restart stops the task's running worker and starts it again, so that it reads its spec and
	// credentials anew and retries what failed (a Failed worker waits for a spec change). A task
	// without a running worker has nothing to restart: nil.
	Restart(ctx context.Context, id int64) error
	// Jobs returns the scheduler's view of the workers of tasks ids (nil ids: of every task), by
	// task id; a task without a job is absent. Its number of calls to the scheduler does not grow
	// with len(ids).
	Jobs(ctx context.Context, ids []int64) (map[int64]*api.JobInfo, error)
	// Job returns the scheduler's view of one task's worker, nil when it has no job.
	Job(ctx context.Context, id int64) (*api.JobInfo, error)
	// Inventory lists what the launcher keeps for every task (jobs, credentials), also for tasks
	// that are no longer stored, for the reconciler.
	Inventory(ctx context.Context) (map[int64]jobs.Held, error)
	// Current reports whether what the launcher keeps for t (h, from Inventory) was made from t
	// as it is now; a job registered from an older spec is launched again.
	Current(t *api.Task, h jobs.Held) bool
	// Ping checks, cheaply, that the scheduler answers.
	Ping(ctx context.Context) error
	// WaitAddr waits until the task's worker is placed and returns its HTTP address; ctx bounds
	// the wait.
	WaitAddr(ctx context.Context, id int64) (string, error)
}

// Leadership elects one of the dispatchers that share a store to run the reconciler, so that
// they do not all repeat its work (each of its steps is idempotent, so two leaders for a moment
// only do it twice). store/consul implements it with a Consul lock; a store only one process
// opens (bolt) needs none: SoleLeader.
type Leadership interface {
	// Lead blocks until this process leads, or ctx ends (then it returns ctx's error). The
	// channel is closed when the leadership is lost.
	Lead(ctx context.Context) (<-chan struct{}, error)
	// Resign gives the leadership up.
	Resign(ctx context.Context) error
}

// SoleLeader is the Leadership of a dispatcher that is alone with its store.
type SoleLeader struct{}

// Lead returns at once: the only dispatcher leads.
func (SoleLeader) Lead(context.Context) (<-chan struct{}, error) { return make(chan struct{}), nil }

// Resign does nothing.
func (SoleLeader) Resign(context.Context) error { return nil }
