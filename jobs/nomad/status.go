package nomad

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	nomadapi "github.com/hashicorp/nomad/api"

	"github.com/dtsrepl/dts/api"
	"github.com/dtsrepl/dts/jobs"
)

// Nomad's own job statuses, as its list reports them.
const (
	nomadRunning = "running"
	nomadDead    = "dead"
)

// Jobs lists every task's job with one Nomad call. Only jobs that should run but do not cost
// more calls, to say why: their newest allocation's failure, or why it could not be placed.
func (l *Launcher) Jobs(ctx context.Context) (map[int64]*api.JobInfo, error) {
	return l.list(ctx, jobs.JobPrefix)
}

// Job returns one task's job, nil when there is none.
func (l *Launcher) Job(ctx context.Context, id int64) (*api.JobInfo, error) {
	m, err := l.list(ctx, jobs.JobID(id))
	if err != nil {
		return nil, err
	}
	return m[id], nil
}

// Ping asks Nomad for its leader: one cheap call, whatever the number of tasks.
func (l *Launcher) Ping(ctx context.Context) error {
	var leader string
	_, err := l.cfg.Client.Raw().Query("/v1/status/leader", &leader, l.query(ctx))
	if err == nil && leader == "" {
		err = errors.New("no cluster leader")
	}
	return wrap("ping nomad", err)
}

// list returns the jobs whose id starts with prefix (a prefix of task ids may match others:
// they are filtered by the caller's map lookup or kept for Jobs).
func (l *Launcher) list(ctx context.Context, prefix string) (map[int64]*api.JobInfo, error) {
	q := l.query(ctx)
	q.Prefix = prefix
	stubs, _, err := l.cfg.Client.Jobs().List(q)
	if err != nil {
		return nil, wrap("list jobs", err)
	}
	out := make(map[int64]*api.JobInfo, len(stubs))
	for _, s := range stubs {
		id, err := jobs.TaskID(s.ID)
		if err != nil {
			continue // another job that happens to share the prefix
		}
		info := &api.JobInfo{ID: s.ID, Status: jobStatus(s)}
		if info.Status == api.JobPending || info.Status == api.JobDead {
			if err := l.explain(ctx, s, info); err != nil {
				return nil, err
			}
		}
		out[id] = info
	}
	return out, nil
}

// jobStatus maps Nomad's job status (pending, running, dead) to the one Jobs reports: a job
// whose allocation is placed but not running yet is pending, a deregistered one stopped.
func jobStatus(s *nomadapi.JobListStub) api.JobStatus {
	switch {
	case s.Stop:
		return api.JobStopped
	case s.Status == nomadDead:
		return api.JobDead
	case s.Status == nomadRunning && runningAllocs(s) > 0:
		return api.JobRunning
	default:
		return api.JobPending
	}
}

func runningAllocs(s *nomadapi.JobListStub) int {
	if s.JobSummary == nil {
		return 0
	}
	n := 0
	for _, g := range s.JobSummary.Summary {
		n += g.Running
	}
	return n
}

func queuedAllocs(s *nomadapi.JobListStub) int {
	if s.JobSummary == nil {
		return 0
	}
	n := 0
	for _, g := range s.JobSummary.Summary {
		n += g.Queued
	}
	return n
}

// explain fills info from the job's newest allocation and, when none could be placed, from
// the placement failure of its newest evaluation.
func (l *Launcher) explain(ctx context.Context, s *nomadapi.JobListStub, info *api.JobInfo) error {
	allocs, _, err := l.cfg.Client.Jobs().Allocations(s.ID, false, l.query(ctx))
	if err != nil {
		return wrap(fmt.Sprintf("list allocations of job %s", s.ID), err)
	}
	if a := newestAlloc(allocs); a != nil {
		info.AllocID = a.ID
		info.AllocStatus = a.ClientStatus
		info.Addr = allocAddr(a.AllocatedResources)
		info.Message = allocMessage(a)
	}
	if info.Message != "" && queuedAllocs(s) == 0 {
		return nil
	}
	evals, _, err := l.cfg.Client.Jobs().Evaluations(s.ID, l.query(ctx))
	if err != nil {
		return wrap(fmt.Sprintf("list evaluations of job %s", s.ID), err)
	}
	if m := placementMessage(evals); m != "" {
		info.Message = m
	}
	return nil
}

func newestAlloc(allocs []*nomadapi.AllocationListStub) *nomadapi.AllocationListStub {
	var newest *nomadapi.AllocationListStub
	for _, a := range allocs {
		if newest == nil || a.CreateIndex > newest.CreateIndex {
			newest = a
		}
	}
	return newest
}

// allocMessage is the newest task event that says what went wrong. Events that only follow
// from an earlier one ("Not Restarting") are used when nothing says more.
func allocMessage(a *nomadapi.AllocationListStub) string {
	if ts := a.TaskStates[taskName]; ts != nil {
		for _, e := range slices.Backward(ts.Events) {
			if m := eventMessage(e); m != "" {
				return m
			}
		}
		for _, e := range slices.Backward(ts.Events) {
			if e.Type == nomadapi.TaskNotRestarting {
				return withText(e)
			}
		}
	}
	return a.ClientDescription
}

func eventMessage(e *nomadapi.TaskEvent) string {
	switch e.Type {
	case nomadapi.TaskTerminated:
		code, signal := e.Details["exit_code"], e.Details["signal"]
		if code == "" {
			code = fmt.Sprint(e.ExitCode)
		}
		if e.Details["oom_killed"] == "true" {
			return "killed: out of memory"
		}
		if code == "0" && (signal == "" || signal == "0") {
			return ""
		}
		if signal != "" && signal != "0" {
			return fmt.Sprintf("exited with code %s, signal %s", code, signal)
		}
		return "exited with code " + code
	case nomadapi.TaskDriverFailure, nomadapi.TaskSetupFailure, nomadapi.TaskFailedValidation,
		nomadapi.TaskArtifactDownloadFailed, "Task hook failed", "Template":
		return withText(e)
	}
	return ""
}

// withText is the event's type and what it says, as `nomad alloc status` shows them.
func withText(e *nomadapi.TaskEvent) string {
	text := e.DisplayMessage
	if text == "" {
		text = e.Message
	}
	if text == "" {
		return e.Type
	}
	return e.Type + ": " + text
}

// placementMessage describes why the newest evaluation that failed to place the worker did.
func placementMessage(evals []*nomadapi.Evaluation) string {
	var newest *nomadapi.Evaluation
	for _, e := range evals {
		if len(e.FailedTGAllocs) > 0 && (newest == nil || e.CreateIndex > newest.CreateIndex) {
			newest = e
		}
	}
	if newest == nil {
		return ""
	}
	m := newest.FailedTGAllocs[groupName]
	if m == nil {
		for _, v := range newest.FailedTGAllocs {
			m = v
			break
		}
	}
	return "placement failed: " + describeMetric(m)
}

// describeMetric words a placement failure the way `nomad job status` does.
func describeMetric(m *nomadapi.AllocationMetric) string {
	var parts []string
	if m.NodesEvaluated == 0 {
		parts = append(parts, "no nodes were eligible for evaluation")
	}
	for dc, n := range sorted(m.NodesAvailable) {
		if n == 0 {
			parts = append(parts, fmt.Sprintf("no nodes are available in datacenter %q", dc))
		}
	}
	for class, n := range sorted(m.ClassFiltered) {
		parts = append(parts, fmt.Sprintf("class %q filtered %d %s", class, n, nodes(n)))
	}
	for c, n := range sorted(m.ConstraintFiltered) {
		parts = append(parts, fmt.Sprintf("constraint %q filtered %d %s", c, n, nodes(n)))
	}
	if m.NodesExhausted > 0 {
		parts = append(parts, fmt.Sprintf("resources exhausted on %d %s", m.NodesExhausted, nodes(m.NodesExhausted)))
	}
	for dim, n := range sorted(m.DimensionExhausted) {
		parts = append(parts, fmt.Sprintf("dimension %q exhausted on %d %s", dim, n, nodes(n)))
	}
	for _, q := range m.QuotaExhausted {
		parts = append(parts, "quota limit hit "+q)
	}
	if len(parts) == 0 {
		return fmt.Sprintf("%d of %d nodes evaluated, none fit", m.NodesEvaluated, m.NodesInPool)
	}
	return strings.Join(parts, "; ")
}

func nodes(n int) string {
	if n == 1 {
		return "node"
	}
	return "nodes"
}

// sorted iterates a map in key order so messages read the same every time.
func sorted(m map[string]int) func(yield func(string, int) bool) {
	return func(yield func(string, int) bool) {
		for _, k := range slices.Sorted(maps.Keys(m)) {
			if !yield(k, m[k]) {
				return
			}
		}
	}
}
