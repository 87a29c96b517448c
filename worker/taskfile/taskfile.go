// Package taskfile runs one task without any server: the spec comes from a JSON file (the submit
// body's format) and the status and checkpoint live in a state directory. It backs
// `dts worker --task-file FILE --state-dir DIR`, for debugging and single-machine use.
package taskfile

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/dtsrepl/dts/api"
	"github.com/dtsrepl/dts/store"
)

// Record is a worker.TaskRecord on a spec file and a state directory. The lock is an flock on
// DIR/lock, released by the kernel when the process dies, so a restarted worker takes over at
// once; the status is replaced atomically (write, fsync, rename).
type Record struct {
	id       int64
	specPath string
	dir      string
	poll     time.Duration

	mu       sync.Mutex
	lockFile *os.File
}

// New returns a Record for task id (used in messages and the replica server id).
func New(id int64, specPath, stateDir string) *Record {
	return &Record{id: id, specPath: specPath, dir: stateDir, poll: 2 * time.Second}
}

// ReadSpec reads a spec file: a submit body ({"task":{...}}) or the bare task object, decoded
// as strictly as the dispatcher decodes a submit (api.DecodeTaskFile).
func ReadSpec(path string) (*api.TaskSpec, []byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, fmt.Errorf("read task file: %w", err)
	}
	spec, err := api.DecodeTaskFile(bytes.NewReader(b))
	if err != nil {
		return nil, nil, fmt.Errorf("task file %s: %w", path, err)
	}
	if err := spec.Validate(); err != nil {
		return nil, nil, fmt.Errorf("task file %s: %w", path, err)
	}
	return spec, b, nil
}

// Lock takes DIR/lock, waiting while another process holds it.
func (c *Record) Lock(ctx context.Context) (<-chan struct{}, error) {
	if err := os.MkdirAll(c.dir, 0o700); err != nil {
		return nil, fmt.Errorf("state dir: %w", err)
	}
	f, err := os.OpenFile(filepath.Join(c.dir, "lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open lock: %w", err)
	}
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			break
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			f.Close()
			return nil, fmt.Errorf("lock %s: %w", f.Name(), err)
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
	c.mu.Lock()
	c.lockFile = f
	c.mu.Unlock()
	// An flock cannot be taken away from a living process: the lock is never lost.
	return make(chan struct{}), nil
}

// Unlock releases the lock.
func (c *Record) Unlock(context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.lockFile == nil {
		return nil
	}
	err := c.lockFile.Close()
	c.lockFile = nil
	return err
}

// Task reads the spec taskfile. Its version is derived from the content, so an edit is a new
// version.
func (c *Record) Task(context.Context) (*api.Task, error) {
	spec, raw, err := ReadSpec(c.specPath)
	if err != nil {
		return nil, err
	}
	h := fnv.New64a()
	h.Write(bytes.TrimSpace(raw))
	return &api.Task{ID: c.id, Spec: *spec, Version: int64(h.Sum64() >> 1), Desired: api.DesiredRunning}, nil
}

// WatchTask polls the spec file until its content changes. A file that does not parse is
// ignored (logged by the worker through the next successful read) so a half-saved edit does
// not stop the task.
func (c *Record) WatchTask(ctx context.Context, version int64) (*api.Task, error) {
	for {
		t, err := c.Task(ctx)
		if err == nil && t.Version != version {
			return t, nil
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(c.poll):
		}
	}
}

// Status reads DIR/status.json; nil when there is none yet.
func (c *Record) Status(context.Context) (*api.Status, error) {
	b, err := os.ReadFile(filepath.Join(c.dir, "status.json"))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read status: %w", err)
	}
	var st api.Status
	if err := json.Unmarshal(b, &st); err != nil {
		return nil, fmt.Errorf("status file %s is corrupt: %w", filepath.Join(c.dir, "status.json"), err)
	}
	return &st, nil
}

// SaveStatus replaces DIR/status.json atomically, only while holding the lock.
func (c *Record) SaveStatus(_ context.Context, st *api.Status) error {
	c.mu.Lock()
	held := c.lockFile != nil
	c.mu.Unlock()
	if !held {
		return store.ErrLockLost
	}
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return fmt.Errorf("encode status: %w", err)
	}
	final := filepath.Join(c.dir, "status.json")
	tmp := final + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("write status: %w", err)
	}
	if _, err := f.Write(append(b, '\n')); err != nil {
		f.Close()
		return fmt.Errorf("write status: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("sync status: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write status: %w", err)
	}
	if err := os.Rename(tmp, final); err != nil {
		return fmt.Errorf("replace status: %w", err)
	}
	d, err := os.Open(c.dir)
	if err != nil {
		return fmt.Errorf("sync state dir: %w", err)
	}
	defer d.Close()
	return d.Sync()
}
