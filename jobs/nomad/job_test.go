package nomad

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"text/template"
	"time"

	"github.com/dtsrepl/dts/api"
	"github.com/dtsrepl/dts/jobs"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

func sampleTask(password string) *api.Task {
	mode := api.TopicModeTable
	return &api.Task{
		ID: 42,
		Spec: api.TaskSpec{
			// The stored spec never holds the password; this one does, to prove BuildJob
			// ignores it.
			Source:  &api.Source{Host: "127.0.0.1", Port: 3306, Username: "replicator", Password: password},
			Kafka:   api.Kafka{Addr: "127.0.0.1:9092", TopicMode: &mode},
			Filters: []api.Filter{{DBName: "shop", Match: "/orders_\\d+/"}},
		},
		Version: 7,
		Desired: api.DesiredRunning,
	}
}

func sampleConfig(driver string) Config {
	return Config{
		Driver:      driver,
		Command:     "/usr/local/bin/dts",
		Image:       "registry.example/dts:1.0",
		ConsulAddr:  "127.0.0.1:8500",
		ConsulToken: "3f1c0d6e-consul-token",
		ExtraEnv:    map[string]string{"DTS_LOG_LEVEL": "info"},
	}
}

func TestBuildJobGolden(t *testing.T) {
	for _, tc := range []struct {
		driver, golden string
	}{
		{DriverRawExec, "job_raw_exec.golden.json"},
		{DriverDocker, "job_docker.golden.json"},
	} {
		t.Run(tc.driver, func(t *testing.T) {
			got, err := json.MarshalIndent(BuildJob(sampleConfig(tc.driver), sampleTask("pw")), "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, '\n')
			path := filepath.Join("testdata", tc.golden)
			if *update {
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test ./jobs/nomad -update to create it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("BuildJob differs from %s (run go test ./jobs/nomad -update if the change is intended):\n%s", path, got)
			}
		})
	}
}

func TestBuildJobShape(t *testing.T) {
	job := BuildJob(Config{Command: "/bin/dts"}, sampleTask(""))
	if *job.ID != "dts-task-42" || *job.Name != "dts-task-42" || *job.Type != "service" {
		t.Fatalf("job id/name/type = %s/%s/%s", *job.ID, *job.Name, *job.Type)
	}
	if len(job.Datacenters) != 1 || job.Datacenters[0] != "*" {
		t.Errorf("datacenters = %v, want [*]", job.Datacenters)
	}
	if job.Region != nil || job.Namespace != nil {
		t.Errorf("region and namespace set without config")
	}
	wantMeta := map[string]string{"dts_task_id": "42", "dts_source": "127.0.0.1:3306", "dts_dest": "127.0.0.1:9092"}
	for k, v := range wantMeta {
		if job.Meta[k] != v {
			t.Errorf("meta %s = %q, want %q", k, job.Meta[k], v)
		}
	}
	tg := job.TaskGroups[0]
	if *tg.Name != "worker" || *tg.Count != 1 {
		t.Errorf("group %s count %d", *tg.Name, *tg.Count)
	}
	task := tg.Tasks[0]
	if task.Driver != "raw_exec" || *task.KillTimeout != 60*time.Second || task.KillSignal != "SIGTERM" {
		t.Errorf("task driver %s kill %s %s", task.Driver, *task.KillTimeout, task.KillSignal)
	}
	if *task.Resources.CPU != DefaultCPU || *task.Resources.MemoryMB != DefaultMemoryMB || *task.Resources.MemoryMaxMB != DefaultMemoryMaxMB {
		t.Errorf("resources %d/%d/%d", *task.Resources.CPU, *task.Resources.MemoryMB, *task.Resources.MemoryMaxMB)
	}
	args := task.Config["args"].([]string)
	if strings.Join(args, " ") != "worker --task 42 --listen ${NOMAD_ADDR_http}" {
		t.Errorf("args = %q", args)
	}
	if _, ok := task.Env["CONSUL_HTTP_ADDR"]; ok {
		t.Errorf("CONSUL_HTTP_ADDR set without ConsulAddr")
	}
	// The worker's stop ends a quarter of the kill timeout before Nomad kills it.
	if got := task.Env["DTS_STOP_TIMEOUT"]; got != "45s" {
		t.Errorf("DTS_STOP_TIMEOUT = %q, want 45s", got)
	}

	// Routing, filters and the rate limit are applied by the running worker: changing them must
	// not change the job, or Nomad would replace the allocation on every alter.
	altered := sampleTask("")
	altered.Spec.Kafka.TopicMode = nil
	altered.Spec.Kafka.Topic = "all_rows"
	altered.Spec.Filters = append(altered.Spec.Filters, api.Filter{DBName: "other"})
	altered.Spec.RateLimit = &api.RateLimit{Rate: 10}
	altered.Version++
	a, _ := json.Marshal(BuildJob(Config{Command: "/bin/dts"}, sampleTask("")))
	b, _ := json.Marshal(BuildJob(Config{Command: "/bin/dts"}, altered))
	if string(a) != string(b) {
		t.Errorf("an alter of routing changed the job:\n%s\n%s", a, b)
	}
}

// TestBuildJobCarriesNoSecrets checks that nothing secret reaches the job, whatever the
// password looks like and wherever it was given.
// TestTaskResources: a task's own resources override the dispatcher's, field by field, and show
// in the job's meta, which the reconciler compares with the task.
func TestTaskResources(t *testing.T) {
	cfg := Config{Command: "/bin/dts", CPU: 30, MemoryMB: 80, MemoryMaxMB: 400}
	tests := []struct {
		own  *api.Resources
		want [3]int
	}{
		{nil, [3]int{30, 80, 400}},
		{&api.Resources{CPU: 200}, [3]int{200, 80, 400}},
		{&api.Resources{MemoryMB: 128, MemoryMaxMB: 1024}, [3]int{30, 128, 1024}},
		{&api.Resources{MemoryMB: 600}, [3]int{30, 600, 600}}, // memory_max never below memory
	}
	for _, tc := range tests {
		task := sampleTask("")
		task.Spec.Resources = tc.own
		r := BuildJob(cfg, task).TaskGroups[0].Tasks[0].Resources
		if got := [3]int{*r.CPU, *r.MemoryMB, *r.MemoryMaxMB}; got != tc.want {
			t.Errorf("%+v: resources %v, want %v", tc.own, got, tc.want)
		}
		l := &Launcher{cfg: cfg}
		l.cfg.applyDefaults()
		held := jobs.Held{Job: true, Running: true, Meta: BuildJob(cfg, task).Meta}
		if !l.Current(task, held) {
			t.Errorf("%+v: a job built from the task is not current", tc.own)
		}
		other := *task
		other.Spec.Resources = &api.Resources{CPU: 999}
		if l.Current(&other, held) {
			t.Errorf("%+v: a job of other resources is current", tc.own)
		}
	}
}

func TestBuildJobCarriesNoSecrets(t *testing.T) {
	for _, tc := range []struct {
		name, password, token string
	}{
		{"plain", "dtsfor3.1415926", "b1946ac9-2b7f-4c1c-9e2d-consul"},
		{"quotes and shell", `p"a'$(x)` + "`y`", "tok-$NOMAD_TOKEN"},
		{"template syntax", "{{ .password }}${NOMAD_PORT_http}", "{{env \"X\"}}"},
		{"newline and equals", "a=b\nC=d #e", "t\n=t"},
		{"unicode", "пароль-密码-🔑", "🔑token"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, driver := range []string{DriverRawExec, DriverExec, DriverDocker} {
				cfg := sampleConfig(driver)
				cfg.ConsulToken = tc.token
				b, err := json.Marshal(BuildJob(cfg, sampleTask(tc.password)))
				if err != nil {
					t.Fatal(err)
				}
				for _, secret := range []string{tc.password, tc.token} {
					if strings.Contains(string(b), mustJSONString(t, secret)) || strings.Contains(string(b), secret) {
						t.Errorf("%s job contains secret %q:\n%s", driver, secret, b)
					}
				}
			}
		})
	}
}

// mustJSONString is s as it appears inside a JSON string.
func mustJSONString(t *testing.T, s string) string {
	t.Helper()
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	return string(b[1 : len(b)-1])
}

// varItem stands in for consul-template's NomadVarItem, which the template reaches through its
// Value field.
type varItem struct{ Value string }

// TestSecretsTemplate renders the template with stand-ins for nomadVar and base64Encode, as
// consul-template does; the integration test renders it in Nomad. Only the items the Variable
// has are rendered.
func TestSecretsTemplate(t *testing.T) {
	password := "p=\"w'$x\n#"
	for _, tc := range []struct {
		name  string
		items map[string]varItem
		want  []string
	}{
		{
			name:  "source account",
			items: map[string]varItem{"username": {"repl"}, "password": {password}},
			want:  []string{"DTS_SOURCE_USER_B64=" + b64("repl"), "DTS_SOURCE_PASSWORD_B64=" + b64(password)},
		},
		{
			name:  "with consul token",
			items: map[string]varItem{"username": {"repl"}, "password": {password}, "consul_token": {"tok"}},
			want:  []string{"DTS_SOURCE_USER_B64=" + b64("repl"), "DTS_SOURCE_PASSWORD_B64=" + b64(password), "CONSUL_HTTP_TOKEN=tok"},
		},
		{
			name: "with kafka secrets",
			items: map[string]varItem{"username": {"repl"}, "password": {password}, "kafka_sasl_password": {"sasl " + password},
				"kafka_key_pem": {"-----BEGIN EC PRIVATE KEY-----\nMHc=\n-----END EC PRIVATE KEY-----\n"}},
			want: []string{"DTS_SOURCE_USER_B64=" + b64("repl"), "DTS_SOURCE_PASSWORD_B64=" + b64(password),
				"DTS_KAFKA_SASL_PASSWORD_B64=" + b64("sasl "+password),
				"DTS_KAFKA_KEY_PEM_B64=" + b64("-----BEGIN EC PRIVATE KEY-----\nMHc=\n-----END EC PRIVATE KEY-----\n")},
		},
		{
			name:  "only the SASL password",
			items: map[string]varItem{"username": {"repl"}, "password": {password}, "kafka_sasl_password": {"s"}},
			want:  []string{"DTS_SOURCE_USER_B64=" + b64("repl"), "DTS_SOURCE_PASSWORD_B64=" + b64(password), "DTS_KAFKA_SASL_PASSWORD_B64=" + b64("s")},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var gotPath string
			funcs := template.FuncMap{
				"nomadVar": func(path string) map[string]varItem { gotPath = path; return tc.items },
				"base64Encode": func(s string) (string, error) {
					return base64.StdEncoding.EncodeToString([]byte(s)), nil
				},
			}
			// consul-template parses with missingkey=zero: an item the Variable lacks is a zero
			// item, not nothing.
			tmpl, err := template.New("secrets").Funcs(funcs).Option("missingkey=zero").Parse(secretsTemplate(42))
			if err != nil {
				t.Fatal(err)
			}
			var out strings.Builder
			if err := tmpl.Execute(&out, nil); err != nil {
				t.Fatal(err)
			}
			if gotPath != "nomad/jobs/dts-task-42" {
				t.Errorf("variable path = %q", gotPath)
			}
			if got := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n"); strings.Join(got, "|") != strings.Join(tc.want, "|") {
				t.Errorf("rendered\n%s\nwant lines %q", out.String(), tc.want)
			}
		})
	}
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

func TestConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		name    string
		cfg     Config
		wantErr string
	}{
		{"raw_exec ok", Config{Command: "/bin/dts"}, ""},
		{"memory max follows memory", Config{Command: "/bin/dts", MemoryMB: 1024}, ""},
		{"exec needs command", Config{Driver: "exec"}, "command"},
		{"docker needs image", Config{Driver: "docker"}, "image"},
		{"docker ok", Config{Driver: "docker", Image: "dts:1"}, ""},
		{"unknown driver", Config{Driver: "java", Command: "x"}, "driver"},
		{"memory max below memory", Config{Command: "x", MemoryMB: 1024, MemoryMaxMB: 512}, "memory max"},
		{"secret in extra env", Config{Command: "x", ExtraEnv: map[string]string{"CONSUL_HTTP_TOKEN": "t"}}, "CONSUL_HTTP_TOKEN"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cfg.Validate()
			// Client is always missing here; only the other reasons matter.
			if err == nil || !strings.Contains(err.Error(), "client") {
				t.Fatalf("missing client not reported: %v", err)
			}
			msg := strings.ReplaceAll(err.Error(), "nomad client is required", "")
			if tc.wantErr == "" && strings.TrimSpace(msg) != "" {
				t.Errorf("unexpected error: %v", err)
			}
			if tc.wantErr != "" && !strings.Contains(msg, tc.wantErr) {
				t.Errorf("error %q does not mention %q", err, tc.wantErr)
			}
		})
	}
}
