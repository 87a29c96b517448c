package e2e

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	nomadapi "github.com/hashicorp/nomad/api"

	"github.com/dtsrepl/dts/api"
	"github.com/dtsrepl/dts/internal/failpoint"
	"github.com/dtsrepl/dts/internal/testenv"
	"github.com/dtsrepl/dts/jobs"
	"github.com/dtsrepl/dts/jobs/nomad"
	"github.com/dtsrepl/dts/store/consul"
)

// TestDispatcherKilledMidRequest kills a `dts dispatcher` process (SIGKILL, through
// DTS_FAILPOINT) at each point between the steps of a submit, an alter and a delete, and checks
// that the dispatcher that survives brings tasks, Nomad jobs and Nomad Variables back in line:
// every task that should run has its Variable and a job registered from its current spec, no
// job or Variable is left without a task, and no delete is left half done. Workers are a
// stand-in that sleeps: this is about the control plane.
func TestDispatcherKilledMidRequest(t *testing.T) {
	c := testenv.StartConsul(t)
	n := testenv.StartNomad(t, c)
	dir := t.TempDir()
	worker := filepath.Join(dir, "worker.sh")
	if err := os.WriteFile(worker, []byte("#!/bin/sh\nexec sleep 3600\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	env := func(extra ...string) []string {
		return childEnv(append([]string{"CONSUL_HTTP_ADDR=" + c.Addr, "NOMAD_ADDR=" + n.Addr, "DTS_AUTH_USER=" + seedAPIUser, "DTS_AUTH_PASSWORD=" + seedAPIPass}, extra...)...)
	}
	args := []string{"dispatcher", "--worker-command", worker, "--placement-timeout", "1s", "--backend-timeout", "2s",
		"--reconcile-interval", "500ms", "--reconcile-grace", "5s", "--log-format", "text"}
	// The survivor starts first, so that it leads the reconciler.
	survivor := startServer(t, "survivor", dir, env(), args...)
	st := consul.New(c.Client, "")
	ctx := t.Context()
	hc := &http.Client{Timeout: time.Minute}

	// doomed starts a dispatcher that kills itself at point, sends it one request, and checks
	// that it died there.
	doomed := func(t *testing.T, point, method, path, body string, hdr map[string]string) {
		t.Helper()
		d := startServer(t, "doomed-"+point, dir, env(failpoint.Env+"="+point), args...)
		req, err := http.NewRequestWithContext(ctx, method, d.URL+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		req.SetBasicAuth(seedAPIUser, seedAPIPass)
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		resp, err := hc.Do(req)
		if err == nil {
			resp.Body.Close()
			t.Fatalf("the dispatcher armed to die at %s answered HTTP %d", point, resp.StatusCode)
		}
		<-d.Proc.Done()
		if _, err := d.Proc.Exited(); err == nil || !strings.Contains(err.Error(), "killed") {
			t.Fatalf("the dispatcher armed to die at %s ended with %v, want killed", point, err)
		}
	}
	body := func(topic, kafka string) string {
		return `{"task":{"source":{"host":"127.0.0.1","port":3306,"username":"repl","password":"pw-` + topic + `"},"kafka":{"addr":"` + kafka + `","topic":"` + topic + `"},"filters":[{"dbname":"shop"}]}}`
	}
	submit := func(t *testing.T, topic, key string) int64 {
		t.Helper()
		var out api.SubmitResponse
		rep, err := httpJSONHeader(ctx, hc, http.MethodPost, survivor.URL+"/v1/dispatch/submit", body(topic, "127.0.0.1:9092"), map[string]string{api.IdempotencyKeyHeader: key})
		if err != nil {
			t.Fatal(err)
		}
		rep.ok(t, &out)
		return out.ID
	}
	converge := func(t *testing.T, what string, check func(state) error) state {
		t.Helper()
		var s state
		eventually(t, 2*time.Minute, what, func() error {
			var err error
			if s, err = readState(ctx, st, n.Client); err != nil {
				return err
			}
			if err := s.consistent(); err != nil {
				return err
			}
			if check != nil {
				return check(s)
			}
			return nil
		})
		return s
	}

	t.Run("submit: after storing the task", func(t *testing.T) {
		doomed(t, "submit-after-create", http.MethodPost, "/v1/dispatch/submit", body("lost", "127.0.0.1:9092"), nil)
		// No client has the task's id and nobody has its password: it is deleted.
		converge(t, "the task of a submit that died is deleted", func(s state) error {
			for _, task := range s.tasks {
				if task.Spec.Kafka.Topic == "lost" {
					return fmt.Errorf("task %d of the dead submit is still stored", task.ID)
				}
			}
			return nil
		})
	})

	t.Run("submit: after storing the task, retried with its key", func(t *testing.T) {
		doomed(t, "submit-after-create", http.MethodPost, "/v1/dispatch/submit", body("retried", "127.0.0.1:9092"),
			map[string]string{api.IdempotencyKeyHeader: "retry-1"})
		id := submit(t, "retried", "retry-1")
		converge(t, "the retried task runs", func(s state) error { return s.runs(id) })
		if again := submit(t, "retried", "retry-1"); again != id {
			t.Fatalf("second retry made task %d, want %d", again, id)
		}
	})

	t.Run("submit: after writing the Variable", func(t *testing.T) {
		doomed(t, "nomad-launch-after-variable", http.MethodPost, "/v1/dispatch/submit", body("novar", "127.0.0.1:9092"), nil)
		converge(t, "the task gets its job", func(s state) error {
			for _, task := range s.tasks {
				if task.Spec.Kafka.Topic == "novar" {
					return s.runs(task.ID)
				}
			}
			return errors.New("the task is gone")
		})
	})

	t.Run("submit: after registering the job", func(t *testing.T) {
		doomed(t, "submit-after-launch", http.MethodPost, "/v1/dispatch/submit", body("answered", "127.0.0.1:9092"),
			map[string]string{api.IdempotencyKeyHeader: "retry-2"})
		id := submit(t, "answered", "retry-2")
		converge(t, "the task runs", func(s state) error { return s.runs(id) })
	})

	t.Run("alter: after storing the new spec", func(t *testing.T) {
		id := submit(t, "altered", "alter-1")
		doomed(t, "alter-after-update", http.MethodPut, fmt.Sprintf("/v1/dispatch/alter/%d", id), body("altered", "127.0.0.1:9093"), nil)
		converge(t, "the job follows the altered spec", func(s state) error {
			if err := s.runs(id); err != nil {
				return err
			}
			if got := s.jobs[id].Meta["dts_dest"]; got != "127.0.0.1:9093" {
				return fmt.Errorf("job of task %d still sends to %s", id, got)
			}
			return nil
		})
	})

	for _, point := range []string{"delete-after-mark", "delete-after-remove"} {
		t.Run("delete: "+point, func(t *testing.T) {
			id := submit(t, "deleted-"+point, "delete-"+point)
			converge(t, "the task runs", func(s state) error { return s.runs(id) })
			doomed(t, point, http.MethodDelete, fmt.Sprintf("/v1/task/%d", id), "", nil)
			converge(t, "the delete is finished", func(s state) error {
				if _, ok := s.tasks[id]; ok {
					return fmt.Errorf("task %d is still stored", id)
				}
				return nil
			})
		})
	}
}

// state is what Consul and Nomad hold for tasks.
type state struct {
	tasks map[int64]*api.Task
	jobs  map[int64]*nomadapi.JobListStub
	vars  map[int64]bool
}

func readState(ctx context.Context, st *consul.Store, c *nomadapi.Client) (state, error) {
	s := state{tasks: map[int64]*api.Task{}, jobs: map[int64]*nomadapi.JobListStub{}, vars: map[int64]bool{}}
	recs, err := st.List(ctx)
	if err != nil {
		return s, err
	}
	for _, r := range recs {
		s.tasks[r.Task.ID] = r.Task
	}
	stubs, _, err := c.Jobs().ListOptions(&nomadapi.JobListOptions{Fields: &nomadapi.JobListFields{Meta: true}}, (&nomadapi.QueryOptions{Prefix: jobs.JobPrefix}).WithContext(ctx))
	if err != nil {
		return s, err
	}
	for _, j := range stubs {
		if id, err := jobs.TaskID(j.ID); err == nil {
			s.jobs[id] = j
		}
	}
	metas, _, err := c.Variables().PrefixList("nomad/jobs/", (&nomadapi.QueryOptions{}).WithContext(ctx))
	if err != nil {
		return s, err
	}
	for _, m := range metas {
		if id, err := jobs.TaskID(strings.TrimPrefix(m.Path, "nomad/jobs/")); err == nil {
			s.vars[id] = true
		}
	}
	return s, nil
}

// consistent: no job or Variable without a task, no delete half done, every task that should
// run runs, every stopped task's job stopped.
func (s state) consistent() error {
	for id := range s.jobs {
		if s.tasks[id] == nil {
			return fmt.Errorf("job of task %d, which is not stored", id)
		}
	}
	for id := range s.vars {
		if s.tasks[id] == nil {
			return fmt.Errorf("Variable %s of task %d, which is not stored", nomad.VariablePath(id), id)
		}
	}
	for id, t := range s.tasks {
		switch t.Desired {
		case api.DesiredDeleted:
			return fmt.Errorf("task %d is half deleted", id)
		case api.DesiredRunning:
			if s.vars[id] || s.jobs[id] != nil {
				if err := s.runs(id); err != nil {
					return err
				}
			} else if time.Since(t.CreatedAt) > time.Minute {
				return fmt.Errorf("task %d has neither Variable nor job", id)
			}
		case api.DesiredStopped:
			if j := s.jobs[id]; j != nil && !j.Stop {
				return fmt.Errorf("stopped task %d has a running job", id)
			}
		}
	}
	return nil
}

// runs: task id is stored to run, has its Variable and a running job.
func (s state) runs(id int64) error {
	t := s.tasks[id]
	switch {
	case t == nil:
		return fmt.Errorf("task %d is not stored", id)
	case t.Desired != api.DesiredRunning:
		return fmt.Errorf("task %d is %s", id, t.Desired)
	case !s.vars[id]:
		return fmt.Errorf("task %d has no Variable", id)
	case s.jobs[id] == nil || s.jobs[id].Stop:
		return fmt.Errorf("task %d has no running job", id)
	}
	return nil
}
