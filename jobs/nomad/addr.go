package nomad

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"

	nomadapi "github.com/hashicorp/nomad/api"

	"github.com/dtsrepl/dts/jobs"
)

// blockingWait bounds one blocking query; ctx bounds the whole wait.
const blockingWait = 30 * time.Second

// minBlockingWait is the shortest blocking query worth sending: Nomad reads a wait that rounds
// to 0 ms as "its default", five minutes.
const minBlockingWait = 10 * time.Millisecond

// waitTime is how long the next blocking query may block: never past ctx's deadline. Cancelling
// a request closes the client's end only; Nomad holds its end, and counts it against the 100
// connections it allows one address, until the query's own wait ends. A wait that outlived
// its caller therefore leaked a connection for up to 30 s: a hundred submits whose workers were
// not placed in time made Nomad refuse the dispatcher everything.
func waitTime(ctx context.Context) (time.Duration, bool) {
	d := blockingWait
	if deadline, ok := ctx.Deadline(); ok {
		// Nomad adds up to 1/16 of the wait as jitter; leave room for it.
		d = min(d, time.Until(deadline)*15/16)
	}
	return d, d >= minBlockingWait
}

// WaitAddr waits, with blocking queries on the job's allocations, until one of them runs and
// returns its "http" address as host:port. A missing or stopped job is an error at once: it
// would never be placed.
func (l *Launcher) WaitAddr(ctx context.Context, id int64) (string, error) {
	jobID := jobs.JobID(id)
	job, _, err := l.cfg.Client.Jobs().Info(jobID, l.query(ctx))
	if err != nil {
		if isNotFound(err) {
			return "", fmt.Errorf("wait for job %s: no such job", jobID)
		}
		return "", waitErr(ctx, fmt.Sprintf("read job %s", jobID), err)
	}
	if job.Stop != nil && *job.Stop {
		return "", fmt.Errorf("wait for job %s: the job is stopped", jobID)
	}

	var index uint64
	for {
		wait, ok := waitTime(ctx)
		if !ok {
			return "", fmt.Errorf("wait for job %s: %w", jobID, context.DeadlineExceeded)
		}
		q := l.query(ctx)
		q.WaitIndex = index
		q.WaitTime = wait
		allocs, meta, err := l.cfg.Client.Jobs().Allocations(jobID, false, q)
		if err != nil {
			return "", waitErr(ctx, fmt.Sprintf("wait for job %s", jobID), err)
		}
		for _, a := range allocs {
			if a.ClientStatus != nomadapi.AllocClientStatusRunning || a.DesiredStatus != nomadapi.AllocDesiredStatusRun {
				continue
			}
			addr, err := l.runningAddr(ctx, a)
			if err != nil {
				return "", err
			}
			if addr != "" {
				return addr, nil
			}
		}
		if err := ctx.Err(); err != nil {
			return "", fmt.Errorf("wait for job %s: %w", jobID, err)
		}
		// A lower index than the last one means the server's state was reset; start over. Index
		// 0 would not block, so the next query waits for anything after 1.
		switch {
		case meta.LastIndex < index:
			index = 1
		case meta.LastIndex == 0:
			index = 1
		default:
			index = meta.LastIndex
		}
	}
}

// waitErr is wrap, except that the caller's deadline ending the wait is reported as such: it
// is the normal end of a wait for a worker that was not placed in time, not an outage.
func waitErr(ctx context.Context, op string, err error) error {
	if ctxErr := ctx.Err(); ctxErr != nil && errors.Is(err, ctxErr) {
		return fmt.Errorf("%s: %w", op, ctxErr)
	}
	return wrap(op, err)
}

// runningAddr reads the allocation's ports; list stubs carry them only on request.
func (l *Launcher) runningAddr(ctx context.Context, a *nomadapi.AllocationListStub) (string, error) {
	if addr := allocAddr(a.AllocatedResources); addr != "" {
		return addr, nil
	}
	alloc, _, err := l.cfg.Client.Allocations().Info(a.ID, l.query(ctx))
	if err != nil {
		if isNotFound(err) {
			return "", nil // garbage-collected meanwhile: wait for the next one
		}
		return "", waitErr(ctx, fmt.Sprintf("read allocation %s", a.ID), err)
	}
	return allocAddr(alloc.AllocatedResources), nil
}

// allocAddr is the host address of the "http" port of an allocation's resources.
func allocAddr(r *nomadapi.AllocatedResources) string {
	if r == nil {
		return ""
	}
	for _, p := range r.Shared.Ports {
		if p.Label == portLabel && p.HostIP != "" && p.Value != 0 {
			return net.JoinHostPort(p.HostIP, strconv.Itoa(p.Value))
		}
	}
	for _, n := range r.Shared.Networks {
		for _, p := range n.DynamicPorts {
			if p.Label == portLabel && n.IP != "" && p.Value != 0 {
				return net.JoinHostPort(n.IP, strconv.Itoa(p.Value))
			}
		}
	}
	return ""
}
