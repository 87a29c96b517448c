package consul

import (
	"context"
	"errors"
	"fmt"
	"time"

	consulapi "github.com/hashicorp/consul/api"
)

// Leadership elects one dispatcher among those sharing a prefix to run the reconciler, with a
// Consul lock on store.Keys.Reconciler. Unlike a task's lock (TaskRecord), it guards no write and
// needs no check in the same transaction, so consulapi.Lock serves: losing it only means another
// dispatcher reconciles, and the reconciler's steps are idempotent.
type Leadership struct {
	lock *consulapi.Lock
}

// Leadership returns the reconciler's leadership for a dispatcher called name (shown in the
// lock key's value and its session's name).
func (s *Store) Leadership(name string) (*Leadership, error) {
	lock, err := s.client.LockOpts(&consulapi.LockOptions{
		Key:          s.keys.Reconciler(),
		Value:        []byte(name),
		SessionName:  "dts reconciler: " + name,
		SessionTTL:   "15s",
		LockWaitTime: 15 * time.Second,
	})
	if err != nil {
		return nil, fmt.Errorf("reconciler lock: %w", err)
	}
	return &Leadership{lock: lock}, nil
}

// Lead blocks until this dispatcher holds the lock or ctx ends; the channel is closed when the
// lock is lost.
func (l *Leadership) Lead(ctx context.Context) (<-chan struct{}, error) {
	stop := make(chan struct{})
	done := make(chan struct{})
	defer close(done)
	go func() {
		select {
		case <-ctx.Done():
			close(stop)
		case <-done:
		}
	}()
	lost, err := l.lock.Lock(stop)
	if err != nil {
		return nil, fmt.Errorf("take the reconciler lock: %w", classify(ctx, err))
	}
	if lost == nil {
		return nil, fmt.Errorf("take the reconciler lock: %w", errors.Join(ctx.Err(), context.Canceled))
	}
	return lost, nil
}

// Resign releases the lock.
func (l *Leadership) Resign(context.Context) error {
	if err := l.lock.Unlock(); err != nil && !errors.Is(err, consulapi.ErrLockNotHeld) {
		return fmt.Errorf("release the reconciler lock: %w", err)
	}
	return nil
}
