package nomad

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	nomadapi "github.com/hashicorp/nomad/api"

	"github.com/dtsrepl/dts/api"
	"github.com/dtsrepl/dts/dispatcher"
	"github.com/dtsrepl/dts/internal/testenv"
	"github.com/dtsrepl/dts/jobs"
)

func TestMain(m *testing.M) { testenv.Main(m) }

var _ dispatcher.Launcher = (*Launcher)(nil)

// fakeWorker is a shell script standing in for the dts binary. It records its environment,
// arguments and pid under dir/task-<id>/ and serves a healthz file on the allocated port.
const fakeWorker = `#!/bin/sh
out=%q/task-$3
mkdir -p "$out"
env > "$out/env.tmp" && mv "$out/env.tmp" "$out/env"
printf '%%s\n' "$@" > "$out/args"
echo $$ > "$out/pid"
echo $$ >> "$out/starts"
www="$NOMAD_TASK_DIR/www"
mkdir -p "$www" && echo ok > "$www/healthz"
exec python3 -m http.server --bind 127.0.0.1 --directory "$www" "$NOMAD_PORT_http"
`

func writeScript(t *testing.T, dir, name, body string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(body), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

func testTask(id int64) *api.Task {
	return &api.Task{
		ID: id,
		Spec: api.TaskSpec{
			Source:  &api.Source{Host: "127.0.0.1", Port: 3306},
			Kafka:   api.Kafka{Addr: "127.0.0.1:9092", Topic: "rows"},
			Filters: []api.Filter{{DBName: "shop"}},
		},
		Version: 1,
		Desired: api.DesiredRunning,
	}
}

// testConfig keeps the worker small so several fit on the test node.
func testConfig(client *nomadapi.Client, command string) Config {
	return Config{
		Client:      client,
		Command:     command,
		CPU:         100,
		MemoryMB:    64,
		MemoryMaxMB: 128,
		KillTimeout: 5 * time.Second,
	}
}

func TestNomadLauncher(t *testing.T) {
	start := time.Now()
	consul := testenv.StartConsul(t)
	agent := testenv.StartNomad(t, consul)
	waitVariables(t, agent.Client)
	t.Logf("consul and nomad up in %s", time.Since(start).Round(time.Millisecond))
	dir := t.TempDir()

	t.Run("nomad validates the job", func(t *testing.T) {
		for _, driver := range []string{DriverRawExec, DriverExec, DriverDocker} {
			resp, _, err := agent.Client.Jobs().Validate(BuildJob(sampleConfig(driver), sampleTask("pw")), nil)
			if err != nil {
				t.Fatal(err)
			}
			if len(resp.ValidationErrors) > 0 || resp.Error != "" {
				t.Errorf("%s job rejected: %v %s", driver, resp.ValidationErrors, resp.Error)
			}
			if resp.Warnings != "" {
				t.Logf("%s job warnings: %s", driver, resp.Warnings)
			}
		}
	})

	t.Run("the dispatcher's job file parses and validates", func(t *testing.T) {
		b, err := os.ReadFile(filepath.Join(testenv.RepoRoot(), "deploy", "nomad", "dts-dispatcher.nomad.hcl"))
		if err != nil {
			t.Fatal(err)
		}
		job, err := agent.Client.Jobs().ParseHCLOpts(&nomadapi.JobsParseRequest{JobHCL: string(b), Canonicalize: true})
		if err != nil {
			t.Fatalf("parse: %v", err)
		}
		resp, _, err := agent.Client.Jobs().Validate(job, nil)
		if err != nil {
			t.Fatal(err)
		}
		if len(resp.ValidationErrors) > 0 || resp.Error != "" {
			t.Errorf("dispatcher job rejected: %v %s", resp.ValidationErrors, resp.Error)
		}
	})

	t.Run("lifecycle", func(t *testing.T) {
		const token = "6f1a2b3c-0000-4000-8000-consultoken"
		cfg := testConfig(agent.Client, writeScript(t, dir, "dts", fmt.Sprintf(fakeWorker, dir)))
		cfg.ConsulAddr = consul.Addr
		cfg.ConsulToken = token
		cfg.ExtraEnv = map[string]string{"DTS_LOG_LEVEL": "debug"}
		cfg.Logger = slog.New(slog.NewTextHandler(t.Output(), nil))
		l, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		testLifecycle(t, l, agent, consul, dir, token)
	})

	t.Run("credentials later", func(t *testing.T) {
		l, err := New(testConfig(agent.Client, writeScript(t, dir, "dts-5", fmt.Sprintf(fakeWorker, dir))))
		if err != nil {
			t.Fatal(err)
		}
		testCredentialsLater(t, l, 5)
	})

	t.Run("restart", func(t *testing.T) {
		l, err := New(testConfig(agent.Client, writeScript(t, dir, "dts-6", fmt.Sprintf(fakeWorker, dir))))
		if err != nil {
			t.Fatal(err)
		}
		testRestart(t, l, agent, dir, 6)
	})

	t.Run("driver failure", func(t *testing.T) {
		l, err := New(testConfig(agent.Client, filepath.Join(dir, "no-such-dts")))
		if err != nil {
			t.Fatal(err)
		}
		testFailure(t, l, 2, "Driver Failure")
	})

	t.Run("worker exits", func(t *testing.T) {
		l, err := New(testConfig(agent.Client, writeScript(t, dir, "failing-dts", "#!/bin/sh\nexit 3\n")))
		if err != nil {
			t.Fatal(err)
		}
		testFailure(t, l, 3, "exited with code 3")
	})

	t.Run("placement failure", func(t *testing.T) {
		cfg := testConfig(agent.Client, "/bin/true")
		cfg.MemoryMB = 64 << 20
		cfg.MemoryMaxMB = 64 << 20
		l, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		testPlacementFailure(t, l, 4)
	})

	t.Run("inventory", func(t *testing.T) {
		l, err := New(testConfig(agent.Client, writeScript(t, dir, "dts-8", fmt.Sprintf(fakeWorker, dir))))
		if err != nil {
			t.Fatal(err)
		}
		testInventory(t, l, 8)
	})

	t.Run("waits for an unplaced job end with their request", func(t *testing.T) {
		cfg := testConfig(agent.Client, "/bin/true")
		cfg.MemoryMB = 64 << 20
		cfg.MemoryMaxMB = 64 << 20
		l, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		testShortWaits(t, l, 7)
	})
}

// testInventory: the inventory shows a launched task's job, running, and its Variable; the job is
// current for the task until the task's destination changes; a stopped job is not running; a
// removed task is gone.
func testInventory(t *testing.T, l *Launcher, id int64) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	task := testTask(id)
	if err := l.Launch(ctx, task, &api.Credentials{Username: "u", Password: "p"}); err != nil {
		t.Fatal(err)
	}
	inv, err := l.Inventory(ctx)
	if err != nil {
		t.Fatal(err)
	}
	h := inv[id]
	if !h.Job || !h.Running || !h.Credentials || !l.Current(task, h) {
		t.Fatalf("inventory of a launched task: %+v (current %v)", h, l.Current(task, h))
	}
	moved := *task
	moved.Spec.Kafka.Addr = "127.0.0.1:9093"
	if l.Current(&moved, h) {
		t.Error("a job of another destination is current")
	}
	if err := l.Stop(ctx, id); err != nil {
		t.Fatal(err)
	}
	if inv, err = l.Inventory(ctx); err != nil || !inv[id].Job || inv[id].Running || !inv[id].Credentials {
		t.Fatalf("inventory of a stopped task: %+v, %v", inv[id], err)
	}
	if err := l.Remove(ctx, id); err != nil {
		t.Fatal(err)
	}
	if inv, err = l.Inventory(ctx); err != nil || inv[id].Job || inv[id].Credentials {
		t.Fatalf("inventory of a removed task: %+v, %v", inv[id], err)
	}
}

// testShortWaits gives up many waits for a worker that is not placed, as submits whose placement
// timeout passes do, and checks that Nomad still answers: it allows 100 connections from one
// address, and a wait whose blocking query outlived its caller would hold one until its own end.
func testShortWaits(t *testing.T, l *Launcher, id int64) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := l.Launch(ctx, testTask(id), &api.Credentials{Username: "u", Password: "p"}); err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := l.Remove(ctx, id); err != nil {
			t.Error(err)
		}
	}()
	for i := range 120 {
		wctx, wcancel := context.WithTimeout(ctx, 100*time.Millisecond)
		_, err := l.WaitAddr(wctx, id)
		wcancel()
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("wait %d for an unplaced job: %v, want the deadline", i, err)
		}
	}
	if _, err := l.Jobs(ctx, allIDs); err != nil {
		t.Fatalf("after 120 abandoned waits Nomad refuses us: %v", err)
	}
}

func testLifecycle(t *testing.T, l *Launcher, agent *testenv.Nomad, consul *testenv.Consul, dir, token string) {
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	const id = 1
	jobID := jobs.JobID(id)
	clientCert := testenv.NewCA(t, "kafka-ca").Issue(t, "dts-worker")
	creds := api.Credentials{Username: "repl", Password: `p@ss "w'o$rd` + "`x`\n=#{{ .x }}%",
		KafkaSASLPassword: `sasl "pw" {{ .y }}` + "\n$HOME", KafkaKeyPEM: clientCert.KeyPEM}
	secrets := func(c api.Credentials) []string {
		var out []string
		for _, s := range []string{c.Password, c.KafkaSASLPassword, c.KafkaKeyPEM} {
			if s != "" {
				out = append(out, s, base64.StdEncoding.EncodeToString([]byte(s)))
			}
		}
		return out
	}
	firstSecrets := secrets(creds)
	task := testTask(id)
	task.Spec.Kafka.SASL = &api.KafkaSASL{Mechanism: api.SASLScramSHA512, Username: "dts"}
	task.Spec.Kafka.TLS = &api.KafkaTLS{Enabled: true, CertPEM: clientCert.CertPEM}

	began := time.Now()
	if err := l.Launch(ctx, task, &creds); err != nil {
		t.Fatalf("launch: %v", err)
	}
	addr := waitAddr(t, ctx, l, id)
	t.Logf("launch to running worker: %s", time.Since(began).Round(time.Millisecond))
	host, port, _ := net.SplitHostPort(addr)
	if host != "127.0.0.1" || port == "" {
		t.Fatalf("WaitAddr = %q, want 127.0.0.1:<port>", addr)
	}

	// The worker saw its arguments, its address and the secrets, decoded intact.
	taskDir := filepath.Join(dir, "task-"+strconv.Itoa(id))
	env := readEnv(t, ctx, filepath.Join(taskDir, "env"))
	if got := decodeB64(t, env["DTS_SOURCE_PASSWORD_B64"]); got != creds.Password {
		t.Errorf("worker's password = %q, want %q", got, creds.Password)
	}
	if got := decodeB64(t, env["DTS_SOURCE_USER_B64"]); got != creds.Username {
		t.Errorf("worker's user = %q, want %q", got, creds.Username)
	}
	if got := decodeB64(t, env["DTS_KAFKA_SASL_PASSWORD_B64"]); got != creds.KafkaSASLPassword {
		t.Errorf("worker's SASL password = %q, want %q", got, creds.KafkaSASLPassword)
	}
	if got := decodeB64(t, env["DTS_KAFKA_KEY_PEM_B64"]); got != creds.KafkaKeyPEM {
		t.Errorf("worker's client key = %q, want %q", got, creds.KafkaKeyPEM)
	}
	// The Variable holds them, one item each.
	v, _, err := agent.Client.Variables().Read(VariablePath(id), nil)
	if err != nil {
		t.Fatal(err)
	}
	if v.Items["kafka_sasl_password"] != creds.KafkaSASLPassword || v.Items["kafka_key_pem"] != creds.KafkaKeyPEM || v.Items["password"] != creds.Password {
		t.Errorf("the task's Variable does not hold its secrets: items %q", keys(v.Items))
	}
	for k, want := range map[string]string{"CONSUL_HTTP_TOKEN": token, "CONSUL_HTTP_ADDR": consul.Addr, "DTS_LOG_LEVEL": "debug"} {
		if env[k] != want {
			t.Errorf("worker env %s = %q, want %q", k, env[k], want)
		}
	}
	args, err := os.ReadFile(filepath.Join(taskDir, "args"))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := strings.Fields(string(args)), []string{"worker", "--task", "1", "--listen", addr}; strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("worker args = %q, want %q", got, want)
	}
	// Running is not listening yet: the worker may still be starting.
	poll(t, ctx, "waiting for the worker's /healthz", func() (bool, error) {
		resp, err := http.Get("http://" + addr + "/healthz")
		if err != nil {
			return false, err
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK, fmt.Errorf("GET /healthz = %d", resp.StatusCode)
	})

	// What Nomad stores and shows holds no secret.
	job, _, err := agent.Client.Jobs().Info(jobID, nil)
	if err != nil {
		t.Fatal(err)
	}
	stored, _ := json.Marshal(job)
	if !strings.Contains(string(stored), "DTS_KAFKA_SASL_PASSWORD_B64") || !strings.Contains(string(stored), "DTS_KAFKA_KEY_PEM_B64") {
		t.Errorf("the job read back has no template lines for the Kafka secrets")
	}
	for _, secret := range append(firstSecrets, token) {
		if strings.Contains(string(stored), secret) || strings.Contains(string(stored), mustJSONString(t, secret)) {
			t.Errorf("stored job contains secret %q", secret)
		}
	}

	info := waitJob(t, ctx, l, id, func(j *api.JobInfo) bool { return j != nil && j.Status == api.JobRunning })
	if info.ID != jobID {
		t.Errorf("JobInfo.ID = %q, want %q", info.ID, jobID)
	}

	// Launching the same task again, with the same account or a changed spec, keeps the job
	// version and the allocation: the running worker applies spec changes itself.
	allocBefore := runningAlloc(t, agent.Client, jobID)
	versionBefore := *job.Version
	if err := l.Launch(ctx, task, &creds); err != nil {
		t.Fatalf("second launch: %v", err)
	}
	altered := testTask(id)
	altered.Version = 2
	altered.Spec.Filters = append(altered.Spec.Filters, api.Filter{DBName: "billing"})
	if err := l.Launch(ctx, altered, nil); err != nil {
		t.Fatalf("launch after alter: %v", err)
	}
	waitPassing(t, ctx, consul, id)
	job, _, err = agent.Client.Jobs().Info(jobID, nil)
	if err != nil {
		t.Fatal(err)
	}
	if *job.Version != versionBefore {
		t.Errorf("job version %d after re-launch, want %d", *job.Version, versionBefore)
	}
	allocAfter := runningAlloc(t, agent.Client, jobID)
	if allocAfter.ID != allocBefore.ID {
		t.Errorf("re-launch replaced allocation %s with %s", allocBefore.ID, allocAfter.ID)
	}
	if ts := allocAfter.TaskStates[taskName]; ts != nil && ts.Restarts != 0 {
		t.Errorf("worker restarted %d times after re-launch", ts.Restarts)
	}
	if starts := lines(t, filepath.Join(taskDir, "starts")); len(starts) != 1 {
		t.Errorf("worker started %d times, want 1", len(starts))
	}

	// New credentials re-render the worker's secrets and restart it in place: a rotated SASL
	// password, and the client key gone with the client certificate (TLS without it).
	creds = api.Credentials{Username: "repl2", Password: "second " + creds.Password, KafkaSASLPassword: "rotated " + creds.KafkaSASLPassword}
	task.Spec.Kafka.TLS = &api.KafkaTLS{Enabled: true}
	if err := l.Launch(ctx, task, &creds); err != nil {
		t.Fatalf("launch with new credentials: %v", err)
	}
	env = readEnvAfter(t, ctx, filepath.Join(taskDir, "starts"), 2, filepath.Join(taskDir, "env"))
	if got := decodeB64(t, env["DTS_SOURCE_PASSWORD_B64"]); got != creds.Password {
		t.Errorf("password after the change = %q, want %q", got, creds.Password)
	}
	if got := decodeB64(t, env["DTS_KAFKA_SASL_PASSWORD_B64"]); got != creds.KafkaSASLPassword {
		t.Errorf("SASL password after the change = %q, want %q", got, creds.KafkaSASLPassword)
	}
	if k, ok := env["DTS_KAFKA_KEY_PEM_B64"]; ok {
		t.Errorf("the dropped client key still reaches the worker: %q", k)
	}
	if job, _, err = agent.Client.Jobs().Info(jobID, nil); err != nil {
		t.Fatal(err)
	}
	stored, _ = json.Marshal(job)
	for _, secret := range append(firstSecrets, secrets(creds)...) {
		if strings.Contains(string(stored), secret) || strings.Contains(string(stored), mustJSONString(t, secret)) {
			t.Errorf("stored job contains secret %q after the rotation", secret)
		}
	}
	waitAddr(t, ctx, l, id)
	if a := runningAlloc(t, agent.Client, jobID); a.ID != allocBefore.ID {
		t.Errorf("credentials change replaced allocation %s with %s", allocBefore.ID, a.ID)
	}

	// Stop: the job is reported stopped and the worker process ends.
	pid := readPid(t, filepath.Join(taskDir, "pid"))
	if err := l.Stop(ctx, id); err != nil {
		t.Fatalf("stop: %v", err)
	}
	waitJob(t, ctx, l, id, func(j *api.JobInfo) bool { return j != nil && j.Status == api.JobStopped })
	waitExit(t, ctx, pid)
	if err := l.Stop(ctx, id); err != nil {
		t.Errorf("second stop: %v", err)
	}
	if _, err := l.WaitAddr(ctx, id); err == nil {
		t.Errorf("WaitAddr on a stopped job returned no error")
	}

	// Launch starts it again, with the account kept in the Variable.
	if err := l.Launch(ctx, task, nil); err != nil {
		t.Fatalf("launch after stop: %v", err)
	}
	waitAddr(t, ctx, l, id)
	env = readEnvAfter(t, ctx, filepath.Join(taskDir, "starts"), 3, filepath.Join(taskDir, "env"))
	if got := decodeB64(t, env["DTS_SOURCE_PASSWORD_B64"]); got != creds.Password {
		t.Errorf("restarted worker's password = %q", got)
	}
	pid = readPid(t, filepath.Join(taskDir, "pid"))

	// Remove purges the job and the Variable.
	if err := l.Remove(ctx, id); err != nil {
		t.Fatalf("remove: %v", err)
	}
	if _, _, err := agent.Client.Jobs().Info(jobID, nil); !isNotFound(err) {
		t.Errorf("job after remove: err = %v, want 404", err)
	}
	if _, _, err := agent.Client.Variables().Read(VariablePath(id), nil); !errors.Is(err, nomadapi.ErrVariablePathNotFound) {
		t.Errorf("variable after remove: err = %v, want not found", err)
	}
	all, err := l.Jobs(ctx, allIDs)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := all[id]; ok {
		t.Errorf("Jobs still lists task %d after remove", id)
	}
	waitExit(t, ctx, pid)
	if err := l.Remove(ctx, id); err != nil {
		t.Errorf("second remove: %v", err)
	}
}

// testCredentialsLater starts a task that has no Variable (a dispatcher stopped between storing
// the task and writing it): no job is registered, whose worker would wait for the Variable
// forever; Launch says jobs.ErrNoCredentials, which the dispatcher turns into advice to alter
// the task. The alter of the stopped task writes the Variable without starting it, and the
// start then runs it.
func testCredentialsLater(t *testing.T, l *Launcher, id int64) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	err := l.Launch(ctx, testTask(id), nil)
	if !errors.Is(err, jobs.ErrNoCredentials) || !strings.Contains(err.Error(), "alter the task") {
		t.Fatalf("launch without a variable: %v, want jobs.ErrNoCredentials", err)
	}
	if info, err := l.Job(ctx, id); err != nil || info != nil {
		t.Fatalf("a job was registered for a task without credentials: %+v, %v", info, err)
	}
	stopped := testTask(id)
	stopped.Desired = api.DesiredStopped
	if err := l.Launch(ctx, stopped, &api.Credentials{Username: "u", Password: "late"}); err != nil {
		t.Fatal(err)
	}
	if info, err := l.Job(ctx, id); err != nil || info != nil {
		t.Fatalf("the alter of a stopped task registered its job: %+v, %v", info, err)
	}
	if err := l.Launch(ctx, testTask(id), nil); err != nil {
		t.Fatal(err)
	}
	waitAddr(t, ctx, l, id)
	if err := l.Remove(ctx, id); err != nil {
		t.Fatal(err)
	}
}

// testRestart: Restart restarts the worker of a running job in place (same allocation), so it
// starts again and reads its spec and secrets anew; a task without a job has nothing to restart.
func testRestart(t *testing.T, l *Launcher, agent *testenv.Nomad, dir string, id int64) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if err := l.Restart(ctx, id); err != nil {
		t.Fatalf("restart of a task without a job: %v", err)
	}
	if err := l.Launch(ctx, testTask(id), &api.Credentials{Username: "u", Password: "p"}); err != nil {
		t.Fatal(err)
	}
	waitAddr(t, ctx, l, id)
	taskDir := filepath.Join(dir, "task-"+strconv.FormatInt(id, 10))
	readEnvAfter(t, ctx, filepath.Join(taskDir, "starts"), 1, filepath.Join(taskDir, "env"))
	before := runningAlloc(t, agent.Client, jobs.JobID(id))
	if err := l.Restart(ctx, id); err != nil {
		t.Fatalf("restart: %v", err)
	}
	readEnvAfter(t, ctx, filepath.Join(taskDir, "starts"), 2, filepath.Join(taskDir, "env"))
	waitAddr(t, ctx, l, id)
	if after := runningAlloc(t, agent.Client, jobs.JobID(id)); after.ID != before.ID {
		t.Errorf("restart replaced allocation %s with %s; want the worker restarted in place", before.ID, after.ID)
	}
	if err := l.Remove(ctx, id); err != nil {
		t.Fatal(err)
	}
}

// testFailure launches a task whose worker cannot run and checks that Jobs says why.
func testFailure(t *testing.T, l *Launcher, id int64, want string) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := l.Launch(ctx, testTask(id), &api.Credentials{Username: "u", Password: "p"}); err != nil {
		t.Fatal(err)
	}
	info := waitJob(t, ctx, l, id, func(j *api.JobInfo) bool { return j != nil && strings.Contains(j.Message, want) })
	t.Logf("job info: %+v", *info)
	if info.Status == api.JobRunning || info.AllocID == "" {
		t.Errorf("failing job reported %+v", *info)
	}
	if err := l.Remove(ctx, id); err != nil {
		t.Fatal(err)
	}
}

func testPlacementFailure(t *testing.T, l *Launcher, id int64) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := l.Launch(ctx, testTask(id), &api.Credentials{Username: "u", Password: "p"}); err != nil {
		t.Fatal(err)
	}
	info := waitJob(t, ctx, l, id, func(j *api.JobInfo) bool { return j != nil && j.Message != "" })
	t.Logf("job info: %+v", *info)
	if info.Status != api.JobPending || !strings.Contains(info.Message, "placement failed") || !strings.Contains(info.Message, "memory") {
		t.Errorf("unplaceable job reported %+v", *info)
	}
	short, cancelShort := context.WithTimeout(ctx, time.Second)
	defer cancelShort()
	_, err := l.WaitAddr(short, id)
	if !errors.Is(err, context.DeadlineExceeded) || errors.Is(err, jobs.ErrUnavailable) {
		t.Errorf("WaitAddr of an unplaced job: %v, want a deadline error that is not ErrUnavailable", err)
	}
	if err := l.Remove(ctx, id); err != nil {
		t.Fatal(err)
	}
}

func TestNomadUnavailable(t *testing.T) {
	cfg := nomadapi.DefaultConfig()
	cfg.Address = fmt.Sprintf("http://127.0.0.1:%d", testenv.FreePort(t))
	client, err := nomadapi.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	l, err := New(Config{Client: client, Command: "/bin/dts"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	checks := map[string]error{
		"launch": l.Launch(ctx, testTask(1), &api.Credentials{Password: "p"}),
		"stop":   l.Stop(ctx, 1),
		"remove": l.Remove(ctx, 1),
	}
	_, checks["jobs"] = l.Jobs(ctx, allIDs)
	_, checks["wait"] = l.WaitAddr(ctx, 1)
	for op, err := range checks {
		if !errors.Is(err, jobs.ErrUnavailable) {
			t.Errorf("%s with Nomad down: %v, want ErrUnavailable", op, err)
		}
	}
}
