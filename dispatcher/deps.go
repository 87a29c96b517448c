package dispatcher

import (
	"context"

	"github.com/dtsrepl/dts/api"
	"github.com/dtsrepl/dts/store"
)

// Store keeps tasks and the statuses their workers report. store/consul and store/bolt
// implement it. Errors are the sentinels of package store (ErrNotFound, ErrConflict,
// ErrUnavailable), possibly wrapped.
type Store interface {
	// Create allocates the next task id (never reused, never shared by two concurrent creates,
	// even across dispatchers), stores t under it with t.ID set, and returns the id.
	Create(ctx context.Context, t *api.Task) (int64, error)
	// Get returns one task.
	Get(ctx context.Context, id int64) (*api.Task, error)
	// Update replaces a task if its stored version is still prevVersion.
	Update(ctx context.Context, t *api.Task, prevVersion int64) error
	// Delete removes a task with its status and lock.
	Delete(ctx context.Context, id int64) error
	// List returns every task in id order, each with its status (nil if none was reported).
	List(ctx context.Context) ([]store.Record, error)
	// Status returns a task's status, nil if none.
	Status(ctx context.Context, id int64) (*api.Status, error)
	// Ping checks that the backend answers.
	Ping(ctx context.Context) error
}

// CredentialStore is a Store that also keeps the source accounts the launcher starts workers
// with: store/bolt, whose file the local launcher of dts dev reads them from. Submit then stores
// a task and its account in one transaction, so that no crash leaves a task without an account.
// (With Consul and Nomad the account lives in a Nomad Variable, written by Launch.)
type CredentialStore interface {
	Store
	// CreateWithCredentials is Create that stores c with the task, atomically.
	CreateWithCredentials(ctx context.Context, t *api.Task, c api.Credentials) (int64, error)
}

// Launcher runs tasks' workers: jobs/nomad on a Nomad cluster, jobs/local in-process.
type Launcher interface {
	// Launch starts the task's worker, or brings a running one up to date with t. creds is the
	// source account; nil keeps the one given before. For a task whose Desired is stopped it only
	// stores creds. A task with no account at all gets no worker: jobs.ErrNoCredentials.
	// Idempotent.
	Launch(ctx context.Context, t *api.Task, creds *api.Credentials) error
	// Stop stops the worker (it checkpoints first) and keeps what Launch needs to start it again.
	Stop(ctx context.Context, id int64) error
	// Remove stops the worker and deletes everything kept for the task (job, credentials).
	Remove(ctx context.Context, id int64) error
	// Restart stops the task's running worker and starts it again, so that it reads its spec and
	// credentials anew and retries what failed (a Failed worker waits for a spec change). A task
	// without a running worker has nothing to restart: nil.
	Restart(ctx context.Context, id int64) error
	// Jobs returns the scheduler's view of every task's worker, by task id; a task without a job
	// is absent.
	Jobs(ctx context.Context) (map[int64]*api.JobInfo, error)
	// Job returns the scheduler's view of one task's worker, nil when it has no job.
	Job(ctx context.Context, id int64) (*api.JobInfo, error)
	// Ping checks, cheaply, that the scheduler answers.
	Ping(ctx context.Context) error
	// WaitAddr waits until the task's worker is placed and returns its HTTP address; ctx bounds
	// the wait.
	WaitAddr(ctx context.Context, id int64) (string, error)
}
