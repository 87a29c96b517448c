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

// maxFilterIDs is the most job ids Jobs names in one filter expression; for more it lists every
// task's job and picks.
const maxFilterIDs = 100

// Jobs returns the jobs of tasks ids in at most three Nomad calls, whatever their number: one
// for the jobs, one for their allocations (the worker's address; for a job that should run but
// does not, its newest allocation's failure), and one for the evaluations of those that could
// not be placed, to say why.
// Nil ids means every task's job.
func (l *Launcher) Jobs(ctx context.Context, ids []int64) (map[int64]*api.JobInfo, error) {
	ctx, cancel := l.bound(ctx)
	defer cancel()
	out := make(map[int64]*api.JobInfo, len(ids))
	if ids != nil && len(ids) == 0 {
		return out, nil
	}
	want := make(map[int64]bool, len(ids))
	for _, id := range ids {
		want[id] = true
	}
	q := l.query(ctx)
	if ids != nil && len(ids) <= maxFilterIDs {
		q.Filter = idFilter("ID", ids)
	} else {
		q.Prefix = jobs.JobPrefix
	}
	stubs, _, err := l.cfg.Client.Jobs().List(q)
	if err != nil {
		return nil, wrap("list jobs", err)
	}
	var listed []*nomadapi.JobListStub
	for _, s := range stubs {
		id, err := jobs.TaskID(s.ID)
		if err != nil || ids != nil && !want[id] {
			continue
		}
		out[id] = &api.JobInfo{ID: s.ID, Status: jobStatus(s)}
		listed = append(listed, s)
	}
	if err := l.explain(ctx, listed, out); err != nil {
		return nil, err
	}
	return out, nil
}

// idFilter is a Nomad filter expression selecting the jobs of ids by field (ID of a job, JobID of
// an allocation or an evaluation).
func idFilter(field string, ids []int64) string {
	var b strings.Builder
	for i, id := range ids {
		if i > 0 {
			b.WriteString(" or ")
		}
		fmt.Fprintf(&b, "%s == %q", field, jobs.JobID(id))
	}
	return b.String()
}

// Job returns one task's job, nil when there is none.
func (l *Launcher) Job(ctx context.Context, id int64) (*api.JobInfo, error) {
	m, err := l.Jobs(ctx, []int64{id})
	if err != nil {
		return nil, err
	}
	return m[id], nil
}

// Inventory lists every task's job and Variable with two Nomad calls, for the dispatcher's
// reconciler; the Variables are listed by path, so no secret is read.
func (l *Launcher) Inventory(ctx context.Context) (map[int64]jobs.Held, error) {
	ctx, cancel := l.bound(ctx)
	defer cancel()
	q := l.query(ctx)
	q.Prefix = jobs.JobPrefix
	// Nomad lists a job's meta only when asked; Current compares it.
	stubs, _, err := l.cfg.Client.Jobs().ListOptions(&nomadapi.JobListOptions{Fields: &nomadapi.JobListFields{Meta: true}}, q)
	if err != nil {
		return nil, wrap("list jobs", err)
	}
	out := make(map[int64]jobs.Held, len(stubs))
	for _, s := range stubs {
		if id, err := jobs.TaskID(s.ID); err == nil {
			out[id] = jobs.Held{Job: true, Running: !s.Stop, Meta: s.Meta}
		}
	}
	metas, _, err := l.cfg.Client.Variables().PrefixList("nomad/jobs/"+jobs.JobPrefix, l.query(ctx))
	if err != nil {
		return nil, wrap("list variables", err)
	}
	for _, m := range metas {
		jobID, ok := strings.CutPrefix(m.Path, "nomad/jobs/")
		if !ok {
			continue
		}
		if id, err := jobs.TaskID(jobID); err == nil {
			h := out[id]
			h.Credentials = true
			out[id] = h
		}
	}
	return out, nil
}

// Current reports whether the job h describes was registered from task t as it is now: same
// source, destination and resources. A dispatcher that died between storing an alter and
// registering its job leaves one that is not.
func (l *Launcher) Current(t *api.Task, h jobs.Held) bool {
	return maps.Equal(h.Meta, jobMeta(l.cfg, t))
}

// Ping asks Nomad for its leader: one cheap call, whatever the number of tasks.
func (l *Launcher) Ping(ctx context.Context) error {
	ctx, cancel := l.bound(ctx)
	defer cancel()
	var leader string
	_, err := l.cfg.Client.Raw().Query("/v1/status/leader", &leader, l.query(ctx))
	if err == nil && leader == "" {
		err = errors.New("no cluster leader")
	}
	return wrap("ping nomad", err)
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

// explain fills the infos of jobs from each one's newest allocation (its address; for a job
// that should run but does not, its failure) and, for such a job whose worker could not be
// placed, from the placement failure of its newest evaluation: one call for all their
// allocations, one for the evaluations of those that need them.
func (l *Launcher) explain(ctx context.Context, stubs []*nomadapi.JobListStub, infos map[int64]*api.JobInfo) error {
	if len(stubs) == 0 {
		return nil
	}
	ids := make([]int64, 0, len(stubs))
	for _, s := range stubs {
		id, _ := jobs.TaskID(s.ID)
		ids = append(ids, id)
	}
	q := l.query(ctx)
	if len(ids) <= maxFilterIDs {
		q.Filter = idFilter("JobID", ids)
	}
	q.Params = map[string]string{"resources": "true"} // the ports, for the address
	allocs, _, err := l.cfg.Client.Allocations().List(q)
	if err != nil {
		return wrap("list allocations", err)
	}
	byJob := map[string][]*nomadapi.AllocationListStub{}
	for _, a := range allocs {
		byJob[a.JobID] = append(byJob[a.JobID], a)
	}
	var placing []string
	for _, s := range stubs {
		id, _ := jobs.TaskID(s.ID)
		info := infos[id]
		a := newestAlloc(byJob[s.ID])
		if a != nil {
			info.AllocID = a.ID
			info.AllocStatus = a.ClientStatus
			info.Addr = allocAddr(a.AllocatedResources)
		}
		if info.Status != api.JobPending && info.Status != api.JobDead {
			continue
		}
		if a != nil {
			info.Message = allocMessage(a)
		}
		if info.Message == "" || queuedAllocs(s) > 0 {
			placing = append(placing, s.ID)
		}
	}
	if len(placing) == 0 {
		return nil
	}
	q = l.query(ctx)
	ids = ids[:0]
	for _, j := range placing {
		id, _ := jobs.TaskID(j)
		ids = append(ids, id)
	}
	if len(ids) <= maxFilterIDs {
		q.Filter = idFilter("JobID", ids)
	}
	evals, _, err := l.cfg.Client.Evaluations().List(q)
	if err != nil {
		return wrap("list evaluations", err)
	}
	evalsByJob := map[string][]*nomadapi.Evaluation{}
	for _, e := range evals {
		evalsByJob[e.JobID] = append(evalsByJob[e.JobID], e)
	}
	for _, j := range placing {
		id, _ := jobs.TaskID(j)
		if m := placementMessage(evalsByJob[j]); m != "" {
			infos[id].Message = m
		}
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
