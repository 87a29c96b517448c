// Package nomad runs each task as a Nomad job: "dts-task-<id>", one allocation running
// `dts worker --task <id>`, with the task's credentials (source account, Kafka secrets) in the
// Nomad Variable nomad/jobs/dts-task-<id>, which only that job can read.
package nomad

import (
	"context"
	"fmt"

	nomadapi "github.com/hashicorp/nomad/api"

	"github.com/dtsrepl/dts/api"
	"github.com/dtsrepl/dts/internal/failpoint"
	"github.com/dtsrepl/dts/jobs"
)

// Launcher registers, stops and inspects tasks' Nomad jobs. It keeps no state of its own, so
// any number of dispatchers can share a cluster.
type Launcher struct {
	cfg Config
}

// New checks cfg, applies its defaults and returns a launcher.
func New(cfg Config) (*Launcher, error) {
	cfg.applyDefaults()
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("nomad launcher config: %w", err)
	}
	return &Launcher{cfg: cfg}, nil
}

// bound gives one launcher method's calls their deadline.
func (l *Launcher) bound(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, l.cfg.CallTimeout)
}

func (l *Launcher) query(ctx context.Context) *nomadapi.QueryOptions {
	return (&nomadapi.QueryOptions{Region: l.cfg.Region, Namespace: l.cfg.Namespace}).WithContext(ctx)
}

func (l *Launcher) write(ctx context.Context) *nomadapi.WriteOptions {
	return (&nomadapi.WriteOptions{Region: l.cfg.Region, Namespace: l.cfg.Namespace}).WithContext(ctx)
}

// Launch writes the task's Variable when creds is given, then registers its job unless Nomad
// already has the same one. A changed Variable re-renders the task's secrets and restarts the
// worker in place (the template's change_mode); an unchanged job keeps its allocation. For a
// task whose Desired is stopped it only writes the Variable (an alter of a stopped task). A task
// without a Variable gets no job, whose worker would wait for it forever: jobs.ErrNoCredentials.
func (l *Launcher) Launch(ctx context.Context, t *api.Task, creds *api.Credentials) error {
	ctx, cancel := l.bound(ctx)
	defer cancel()
	if t == nil || t.ID <= 0 {
		return fmt.Errorf("launch: task has no id")
	}
	if creds != nil {
		if err := l.putVariable(ctx, t.ID, *creds); err != nil {
			return err
		}
		failpoint.Hit("nomad-launch-after-variable")
	}
	if t.Desired != api.DesiredRunning {
		return nil
	}
	if creds == nil {
		if err := l.hasVariable(ctx, t.ID); err != nil {
			return err
		}
	}
	job := BuildJob(l.cfg, t)
	id := *job.ID

	// Plan compares the job with the stored one after Nomad canonicalizes both, which a
	// comparison here could not match field for field. "None" means registering would add
	// nothing but an evaluation.
	plan, _, err := l.cfg.Client.Jobs().Plan(job, true, l.write(ctx))
	if err != nil {
		return wrap(fmt.Sprintf("plan job %s", id), err)
	}
	if plan.Diff != nil && plan.Diff.Type == "None" {
		return nil
	}
	resp, _, err := l.cfg.Client.Jobs().Register(job, l.write(ctx))
	if err != nil {
		return wrap(fmt.Sprintf("register job %s", id), err)
	}
	log := l.cfg.Logger.With("task", t.ID, "job", id)
	if resp.Warnings != "" {
		log.Warn("nomad warns about the job", "warnings", resp.Warnings)
	}
	log.Info("registered job", "eval", resp.EvalID, "job_modify_index", resp.JobModifyIndex)
	return nil
}

// putVariable stores the task's credentials, and the worker's Consul token, where the job's
// template reads them. The Variable is replaced as a whole, so a Kafka secret left out of creds
// (a task that no longer uses it) is gone from it.
func (l *Launcher) putVariable(ctx context.Context, id int64, creds api.Credentials) error {
	items := nomadapi.VariableItems{
		itemUsername: creds.Username,
		itemPassword: creds.Password,
	}
	if creds.KafkaSASLPassword != "" {
		items[itemKafkaSASLPassword] = creds.KafkaSASLPassword
	}
	if creds.KafkaKeyPEM != "" {
		items[itemKafkaKeyPEM] = creds.KafkaKeyPEM
	}
	if l.cfg.ConsulToken != "" {
		items[itemConsulToken] = l.cfg.ConsulToken
	}
	v := &nomadapi.Variable{Path: VariablePath(id), Namespace: l.cfg.Namespace, Items: items}
	if _, _, err := l.cfg.Client.Variables().Update(v, l.write(ctx)); err != nil {
		return wrap(fmt.Sprintf("write variable of task %d", id), err)
	}
	return nil
}

// hasVariable checks that the task's Variable exists, listing metadata only (the secret stays
// in Nomad). A dispatcher that stopped between storing a task and writing its Variable leaves a
// task without one; only an alter with the account can repair that.
func (l *Launcher) hasVariable(ctx context.Context, id int64) error {
	path := VariablePath(id)
	metas, _, err := l.cfg.Client.Variables().PrefixList(path, l.query(ctx))
	if err != nil {
		return wrap(fmt.Sprintf("look up variable of task %d", id), err)
	}
	for _, m := range metas {
		if m.Path == path {
			return nil
		}
	}
	return fmt.Errorf("%w (Nomad Variable %s does not exist): alter the task with source.username and source.password to store them and start it", jobs.ErrNoCredentials, path)
}

// Stop deregisters the job without purging it: Nomad sends the worker SIGTERM, it checkpoints
// and exits, and the stopped job keeps showing in Jobs until Launch registers it again. It
// returns once Nomad has accepted the stop, without waiting for the worker to exit.
func (l *Launcher) Stop(ctx context.Context, id int64) error {
	ctx, cancel := l.bound(ctx)
	defer cancel()
	jobID := jobs.JobID(id)
	if _, _, err := l.cfg.Client.Jobs().Deregister(jobID, false, l.write(ctx)); err != nil && !isNotFound(err) {
		return wrap(fmt.Sprintf("stop job %s", jobID), err)
	}
	return nil
}

// Restart restarts the worker of the job's running allocation in place, through Nomad (the
// client restarts the task, which renders its template and reads its spec again). A job without
// a running allocation has nothing to restart.
func (l *Launcher) Restart(ctx context.Context, id int64) error {
	ctx, cancel := l.bound(ctx)
	defer cancel()
	jobID := jobs.JobID(id)
	allocs, _, err := l.cfg.Client.Jobs().Allocations(jobID, false, l.query(ctx))
	if err != nil {
		if isNotFound(err) {
			return nil
		}
		return wrap(fmt.Sprintf("list allocations of job %s", jobID), err)
	}
	for _, a := range allocs {
		if a.ClientStatus != nomadapi.AllocClientStatusRunning || a.DesiredStatus != nomadapi.AllocDesiredStatusRun {
			continue
		}
		if err := l.cfg.Client.Allocations().Restart(&nomadapi.Allocation{ID: a.ID}, taskName, l.query(ctx)); err != nil {
			return wrap(fmt.Sprintf("restart allocation %s of job %s", a.ID, jobID), err)
		}
		l.cfg.Logger.Info("restarted the worker", "task", id, "job", jobID, "alloc", a.ID)
	}
	return nil
}

// Remove stops and purges the job and deletes the task's Variable.
func (l *Launcher) Remove(ctx context.Context, id int64) error {
	ctx, cancel := l.bound(ctx)
	defer cancel()
	jobID := jobs.JobID(id)
	if _, _, err := l.cfg.Client.Jobs().Deregister(jobID, true, l.write(ctx)); err != nil && !isNotFound(err) {
		return wrap(fmt.Sprintf("purge job %s", jobID), err)
	}
	if _, err := l.cfg.Client.Variables().Delete(VariablePath(id), l.write(ctx)); err != nil && !isNotFound(err) {
		return wrap(fmt.Sprintf("delete variable of task %d", id), err)
	}
	return nil
}
