package dispatcher

import (
	"fmt"
	"time"

	"github.com/dtsrepl/dts/api"
	"github.com/dtsrepl/dts/store"
)

// staleAfter is how long a worker's report stays believable without a newer one; workers
// report at least every 10s while they run.
const staleAfter = 45 * time.Second

// summarize merges what the worker reported with the scheduler's view of its process, so a
// task whose worker never started, crashed or is waiting for placement says so.
func summarize(r store.Record, job *api.JobInfo, loc *time.Location) api.TaskSummary {
	t, st := r.Task, r.Status
	sum := api.TaskSummary{ID: t.ID, DestAddr: t.Spec.Kafka.Addr, Desired: t.Desired}
	if t.Spec.Source != nil {
		sum.SourceAddr = t.Spec.Source.Addr()
	}
	updated := t.UpdatedAt
	if st != nil {
		sum.Pos = st.Pos
		sum.TransactionTime = api.FormatTime(st.TransactionTime, loc)
		sum.State = st.State
		sum.Message = st.Message
		sum.ServiceAddr = st.ServiceAddr
		sum.LagSeconds = st.LagSeconds
		sum.RowsSent = st.RowsSent
		sum.Snapshot = st.Snapshot
		sum.RetentionHeadroomSeconds = st.RetentionHeadroom(time.Now())
		if st.UpdatedAt.After(updated) {
			updated = st.UpdatedAt
		}
	} else {
		sum.State = api.StatePending
		sum.Message = "waiting for the worker to start"
	}
	sum.UpdatedAt = api.FormatTime(updated, loc)
	if sum.ServiceAddr == "" && job != nil {
		sum.ServiceAddr = job.Addr
	}

	live := st != nil && (st.State == api.StateRunning || st.State == api.StateSnapshotting)
	fresh := st != nil && time.Since(st.UpdatedAt) < staleAfter
	switch {
	case t.Desired == api.DesiredDeleted:
		sum.State = api.StateStopped
		sum.Message = "being deleted"
	case t.Desired == api.DesiredStopped:
		if sum.State != api.StateFailed {
			sum.State = api.StateStopped
			if live && fresh && job != nil && job.Status == api.JobRunning {
				sum.Message = "stopping: the worker is flushing and saving its position"
			}
		}
	case job == nil:
		// A worker's own failure report says more than the missing job (or a scheduler that
		// could not be asked), as in the case below.
		if (!live || !fresh) && sum.State != api.StateFailed {
			sum.State = api.StatePending
			sum.Message = fmt.Sprintf("no worker is scheduled for this task: start it (POST /v1/task/%d/start); if it has no stored credentials, start says so, and an alter with source.username and source.password stores them and starts it", t.ID)
		}
	case job.Status != api.JobRunning:
		if !(live && fresh) && sum.State != api.StateFailed {
			sum.State = api.StatePending
			msg := job.Message
			if msg == "" {
				msg = "job " + string(job.Status)
			}
			sum.Message = "worker not running: " + msg
		}
	case live && !fresh:
		sum.Message = fmt.Sprintf("no report from the worker since %s; its process is %s", api.FormatTime(st.UpdatedAt, loc), job.Status)
	case live && st.SpecVersion != 0 && st.SpecVersion < t.Version:
		sum.Message = fmt.Sprintf("applying the altered spec (version %d)", t.Version)
	}
	return sum
}
