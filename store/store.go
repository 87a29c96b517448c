// Package store names what every task store shares: the errors callers branch on and the key
// layout. The stores themselves live in store/consul (production, Consul KV) and store/bolt (the
// embedded default of `dts dev`); their users declare the interfaces they need.
package store

import (
	"errors"
	"fmt"
	"strconv"

	"github.com/dtsrepl/dts/api"
)

// Errors a store returns; callers test them with errors.Is.
var (
	// ErrNotFound: no task with that id.
	ErrNotFound = errors.New("task not found")
	// ErrConflict: the task changed since it was read (compare-and-set failed).
	ErrConflict = errors.New("task changed concurrently")
	// ErrLockLost: the worker no longer holds the task's lock, so it must not write its status or
	// produce any more.
	ErrLockLost = errors.New("task lock lost")
	// ErrUnavailable: the store's backend cannot be reached.
	ErrUnavailable = errors.New("task store unavailable")
	// ErrDuplicate: a task with the same idempotency key exists (a *DuplicateError says which).
	ErrDuplicate = errors.New("a task with this idempotency key exists")
)

// DuplicateError is Create refusing a task whose idempotency key an existing task has: the
// submit is a retry of the one that made task ID.
type DuplicateError struct{ ID int64 }

// Error names the task.
func (e *DuplicateError) Error() string {
	return fmt.Sprintf("task %d was submitted with this idempotency key", e.ID)
}

// Is makes a DuplicateError match ErrDuplicate.
func (e *DuplicateError) Is(target error) bool { return target == ErrDuplicate }

// Key layout under a prefix (default "dts/"), the same in Consul KV and in the embedded store:
//
//	<prefix>next-id             last allocated task id
//	<prefix>tasks/<id>/spec     api.Task as JSON, without the source password
//	<prefix>tasks/<id>/status   api.Status as JSON, written by the worker holding the lock
//	<prefix>tasks/<id>/lock     the running worker's lock
//	<prefix>idempotency/<hash>  id of the task a submit with that idempotency key made
//	<prefix>reconciler/leader   lock of the dispatcher that reconciles tasks with jobs
const DefaultPrefix = "dts/"

// Keys builds the keys of one prefix.
type Keys struct{ Prefix string }

// NextID is the id counter's key.
func (k Keys) NextID() string { return k.Prefix + "next-id" }

// Tasks is the prefix of every task's keys.
func (k Keys) Tasks() string { return k.Prefix + "tasks/" }

// Task is the prefix of one task's keys.
func (k Keys) Task(id int64) string { return k.Tasks() + strconv.FormatInt(id, 10) + "/" }

// Spec is a task's spec key.
func (k Keys) Spec(id int64) string { return k.Task(id) + "spec" }

// Status is a task's status key.
func (k Keys) Status(id int64) string { return k.Task(id) + "status" }

// Lock is a task's lock key.
func (k Keys) Lock(id int64) string { return k.Task(id) + "lock" }

// Idempotency is the key holding the id of the task submitted with an idempotency key (its
// hash, api.IdempotencyKeyHash).
func (k Keys) Idempotency(hash string) string { return k.Prefix + "idempotency/" + hash }

// Reconciler is the key of the lock that elects the one dispatcher that reconciles.
func (k Keys) Reconciler() string { return k.Prefix + "reconciler/leader" }

// Record is a task and its last reported status, as a store lists them.
type Record struct {
	Task   *api.Task
	Status *api.Status
}
