package worker

import (
	"context"

	"github.com/dtsrepl/dts/api"
)

// TaskRecord links a worker to its task's record: the spec it runs and the status it reports.
// store/consul implements it for `dts worker --task`, store/bolt for `dts dev`, and worker/taskfile
// for `dts worker --task-file`.
//
// Fencing: only the worker holding the lock may write the status, and the status holds the
// checkpoint, so a worker that lost its lock can never move the position.
type TaskRecord interface {
	// Lock blocks until this worker holds the task's lock, or ctx ends. The returned channel is
	// closed if the lock is lost later; the worker must then stop producing.
	Lock(ctx context.Context) (lost <-chan struct{}, err error)
	// Unlock releases the lock.
	Unlock(ctx context.Context) error
	// Task returns the task's current record; its spec holds no password. store.ErrNotFound if
	// the task was deleted.
	Task(ctx context.Context) (*api.Task, error)
	// WatchTask blocks until the task's version differs from version, or ctx ends, and returns
	// the new record.
	WatchTask(ctx context.Context, version int64) (*api.Task, error)
	// Status returns the last saved status, or nil if none was saved.
	Status(ctx context.Context) (*api.Status, error)
	// SaveStatus writes st only if this worker still holds the lock, else store.ErrLockLost.
	SaveStatus(ctx context.Context, st *api.Status) error
}
