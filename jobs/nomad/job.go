package nomad

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	nomadapi "github.com/hashicorp/nomad/api"

	"github.com/dtsrepl/dts/api"
	"github.com/dtsrepl/dts/jobs"
)

// Names inside every task's job.
const (
	groupName   = "worker"
	taskName    = "worker"
	portLabel   = "http"
	serviceName = "dts-worker"
)

// Environment the template renders from the task's Variable. The credentials are base64
// encoded so that any character of a password or a PEM survives the env file; the worker
// decodes *_B64.
const (
	envSourceUser        = jobs.EnvSourceUser + jobs.EnvBase64Suffix
	envSourcePassword    = jobs.EnvSourcePassword + jobs.EnvBase64Suffix
	envKafkaSASLPassword = jobs.EnvKafkaSASLPassword + jobs.EnvBase64Suffix
	envKafkaKeyPEM       = jobs.EnvKafkaKeyPEM + jobs.EnvBase64Suffix
	envConsulToken       = "CONSUL_HTTP_TOKEN"
	envConsulAddr        = "CONSUL_HTTP_ADDR"
)

// Items of the task's Variable. The Kafka ones exist only for a task that uses them.
const (
	itemUsername          = "username"
	itemPassword          = "password"
	itemKafkaSASLPassword = "kafka_sasl_password"
	itemKafkaKeyPEM       = "kafka_key_pem"
	itemConsulToken       = "consul_token"
)

// Job meta keys, shown by `nomad job status`. The reconciler compares them with the task to
// find jobs registered from an older spec (Current).
const (
	metaTaskID    = "dts_task_id"
	metaSource    = "dts_source"
	metaDest      = "dts_dest"
	metaResources = "dts_resources"
)

// VariablePath is where the task's secrets live. Nomad's workload identity lets only the job
// nomad/jobs/<job id> read it, so no ACL policy is needed.
func VariablePath(id int64) string { return "nomad/jobs/" + jobs.JobID(id) }

// BuildJob returns the Nomad job that runs task t's worker. It does no I/O. The job carries no
// secret and no spec version: the worker applies alters itself, so re-registering an unchanged
// task leaves the job, and its allocation, as they are.
func BuildJob(cfg Config, t *api.Task) *nomadapi.Job {
	cfg.applyDefaults()
	id := jobs.JobID(t.ID)

	job := &nomadapi.Job{
		ID:          ptr(id),
		Name:        ptr(id),
		Type:        ptr(nomadapi.JobTypeService),
		Datacenters: append([]string(nil), cfg.Datacenters...),
		Meta:        jobMeta(cfg, t),
		TaskGroups:  []*nomadapi.TaskGroup{taskGroup(cfg, t)},
	}
	if cfg.Region != "" {
		job.Region = ptr(cfg.Region)
	}
	if cfg.Namespace != "" {
		job.Namespace = ptr(cfg.Namespace)
	}
	return job
}

func jobMeta(cfg Config, t *api.Task) map[string]string {
	r := resources(cfg, t)
	m := map[string]string{
		metaTaskID:    strconv.FormatInt(t.ID, 10),
		metaDest:      t.Spec.Kafka.Addr,
		metaResources: fmt.Sprintf("cpu=%d memory=%d memory_max=%d", r.CPU, r.MemoryMB, r.MemoryMaxMB),
	}
	if t.Spec.Source != nil {
		m[metaSource] = t.Spec.Source.Addr()
	}
	return m
}

// resources is what task t's worker reserves: the task's own resources where it gives them, the
// dispatcher's defaults elsewhere. A memory_max below the memory reserved is raised to it.
func resources(cfg Config, t *api.Task) api.Resources {
	r := api.Resources{CPU: cfg.CPU, MemoryMB: cfg.MemoryMB, MemoryMaxMB: cfg.MemoryMaxMB}
	if o := t.Spec.Resources; o != nil {
		if o.CPU > 0 {
			r.CPU = o.CPU
		}
		if o.MemoryMB > 0 {
			r.MemoryMB = o.MemoryMB
		}
		if o.MemoryMaxMB > 0 {
			r.MemoryMaxMB = o.MemoryMaxMB
		}
	}
	r.MemoryMaxMB = max(r.MemoryMaxMB, r.MemoryMB)
	return r
}

func taskGroup(cfg Config, t *api.Task) *nomadapi.TaskGroup {
	return &nomadapi.TaskGroup{
		Name:  ptr(groupName),
		Count: ptr(1),
		Networks: []*nomadapi.NetworkResource{{
			Mode:         "host",
			DynamicPorts: []nomadapi.Port{{Label: portLabel}},
		}},
		// Restarts in place first: most failures (Kafka or the source briefly away) heal.
		RestartPolicy: &nomadapi.RestartPolicy{
			Attempts: ptr(5),
			Interval: ptr(5 * time.Minute),
			Delay:    ptr(10 * time.Second),
			Mode:     ptr(nomadapi.RestartPolicyModeDelay),
		},
		// A task must keep running somewhere; the Consul lock keeps two placements apart.
		ReschedulePolicy: &nomadapi.ReschedulePolicy{
			Unlimited:     ptr(true),
			DelayFunction: ptr("exponential"),
			Delay:         ptr(30 * time.Second),
			MaxDelay:      ptr(10 * time.Minute),
		},
		Update: &nomadapi.UpdateStrategy{MaxParallel: ptr(1)},
		// A client cut off from the servers stops its worker after 30s, so the replacement the
		// servers place (replace defaults to true) does not run beside it for long; when the
		// client returns, the replacement holds the task's lock and the position, so it stays.
		// Nomad rejects stop_on_client_after together with a non-zero lost_after.
		Disconnect: &nomadapi.DisconnectStrategy{
			StopOnClientAfter: ptr(30 * time.Second),
			Replace:           ptr(true),
			Reconcile:         ptr(nomadapi.ReconcileOptionKeepReplacement),
		},
		Tasks: []*nomadapi.Task{workerTask(cfg, t)},
	}
}

func workerTask(cfg Config, t *api.Task) *nomadapi.Task {
	id := strconv.FormatInt(t.ID, 10)
	listen := "${NOMAD_ADDR_" + portLabel + "}"
	var config map[string]any
	switch cfg.Driver {
	case DriverDocker:
		// Inside the container's own network namespace the host address does not exist; Docker
		// forwards the allocated host port to the same port in the container.
		listen = "0.0.0.0:${NOMAD_PORT_" + portLabel + "}"
		config = map[string]any{
			"image": cfg.Image,
			// The worker reports the host's address, where the service and clients reach it.
			"args":  []string{"worker", "--task", id, "--listen", listen, "--advertise", "${NOMAD_HOST_ADDR_" + portLabel + "}"},
			"ports": []string{portLabel},
		}
	default:
		config = map[string]any{
			"command": cfg.Command,
			"args":    []string{"worker", "--task", id, "--listen", listen},
		}
	}

	res := resources(cfg, t)
	env := make(map[string]string, len(cfg.ExtraEnv)+2)
	for k, v := range cfg.ExtraEnv {
		env[k] = v
	}
	// The worker's stop ends before Nomad kills it.
	env[jobs.EnvStopTimeout] = jobs.StopBudget(cfg.KillTimeout).String()
	if cfg.ConsulAddr != "" {
		env[envConsulAddr] = cfg.ConsulAddr
	}

	return &nomadapi.Task{
		Name:   taskName,
		Driver: cfg.Driver,
		Config: config,
		Env:    env,
		Services: []*nomadapi.Service{{
			Name:      serviceName,
			Provider:  nomadapi.ServiceProviderConsul,
			PortLabel: portLabel,
			Tags:      []string{"task-" + id},
			Checks: []nomadapi.ServiceCheck{{
				Name:     "healthz",
				Type:     "http",
				Path:     "/healthz",
				Interval: 10 * time.Second,
				Timeout:  2 * time.Second,
			}},
			// A worker that stops answering is restarted, but only after it had a minute to
			// connect to the source and Kafka.
			CheckRestart: &nomadapi.CheckRestart{Limit: 3, Grace: ptr(60 * time.Second)},
		}},
		Resources: &nomadapi.Resources{
			CPU:         ptr(res.CPU),
			MemoryMB:    ptr(res.MemoryMB),
			MemoryMaxMB: ptr(res.MemoryMaxMB),
		},
		// SIGTERM makes the worker flush Kafka and write its checkpoint before it exits.
		KillSignal:  "SIGTERM",
		KillTimeout: ptr(cfg.KillTimeout),
		Templates: []*nomadapi.Template{{
			EmbeddedTmpl: ptr(secretsTemplate(t.ID)),
			DestPath:     ptr("secrets/source.env"),
			Envvars:      ptr(true),
			ChangeMode:   ptr("restart"),
		}},
	}
}

// secretsTemplate renders the task's Variable as an env file: the source account, and the
// Kafka secrets and Consul token where the Variable has them. A missing Variable blocks the
// task before it starts, which Jobs reports, instead of starting a worker without an account.
func secretsTemplate(id int64) string {
	var b strings.Builder
	b.WriteString(`{{ with nomadVar "` + VariablePath(id) + `" -}}` + "\n")
	b.WriteString(envSourceUser + `={{ .` + itemUsername + `.Value | base64Encode }}` + "\n")
	b.WriteString(envSourcePassword + `={{ .` + itemPassword + `.Value | base64Encode }}` + "\n")
	// consul-template gives an item the Variable lacks as a zero item, which `with` takes for
	// true: the test is on its value.
	optional := func(item, line string) {
		b.WriteString(`{{ with .` + item + `.Value -}}` + "\n")
		b.WriteString(line + "\n")
		b.WriteString(`{{ end -}}` + "\n")
	}
	optional(itemKafkaSASLPassword, envKafkaSASLPassword+`={{ . | base64Encode }}`)
	optional(itemKafkaKeyPEM, envKafkaKeyPEM+`={{ . | base64Encode }}`)
	optional(itemConsulToken, envConsulToken+`={{ . }}`)
	b.WriteString(`{{ end -}}` + "\n")
	return b.String()
}

func ptr[T any](v T) *T { return &v }
