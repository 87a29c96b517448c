package nomad

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	nomadapi "github.com/hashicorp/nomad/api"
)

// Task drivers the worker job can use.
const (
	// DriverRawExec runs the dts binary directly on the client; for development.
	DriverRawExec = "raw_exec"
	// DriverExec runs the dts binary in a chroot and cgroup on the client.
	DriverExec = "exec"
	// DriverDocker runs the worker from a container image.
	DriverDocker = "docker"
)

// Defaults applied to a zero Config field. A worker idles at about 1 ms of CPU per second and
// 23 MiB of RSS (measured with 9 and 200 workers on the dev agent, see the README), and bounds
// what it buffers to 64 MiB; its reservation is a placement weight, not a cap (raw_exec does not
// limit CPU; exec and docker share CPU by weight), so a small one lets a 2-core client run a few
// hundred lightly loaded workers, and memory_max lets one burst (a copy of wide rows) when the
// client has memory to spare.
const (
	DefaultCPU         = 20
	DefaultMemoryMB    = 64
	DefaultMemoryMaxMB = 512
	DefaultKillTimeout = 60 * time.Second
	DefaultCallTimeout = 10 * time.Second
)

// Config is how tasks' jobs are built and where they are registered.
type Config struct {
	// Client reaches the Nomad API. Required.
	Client *nomadapi.Client
	// Driver is raw_exec (default), exec or docker.
	Driver string
	// Command is the path of the dts binary on the clients; required for raw_exec and exec
	// (for exec it must lie inside the task's chroot, such as /usr/local/bin/dts).
	Command string
	// Image is the worker's container image; required for docker.
	Image string
	// Datacenters the job may run in; default ["*"].
	Datacenters []string
	// Region and Namespace of the jobs and their Variables; empty uses the client's defaults.
	Region    string
	Namespace string
	// ConsulAddr reaches Consul from the worker (its CONSUL_HTTP_ADDR).
	ConsulAddr string
	// ConsulToken is the worker's Consul ACL token. It is a secret: it reaches the worker through
	// the task's Nomad Variable, never through the job.
	ConsulToken string
	// CPU is the worker's CPU share in MHz; default DefaultCPU. A task's own resources override
	// it, as they do MemoryMB and MemoryMaxMB.
	CPU int
	// MemoryMB is the worker's reserved memory; default DefaultMemoryMB.
	MemoryMB int
	// MemoryMaxMB is the most memory the worker may use when the cluster has memory
	// oversubscription enabled (snapshots of wide tables need bursts); default
	// DefaultMemoryMaxMB, or twice MemoryMB when that is more.
	MemoryMaxMB int
	// KillTimeout is how long the worker has after SIGTERM to flush Kafka and write its
	// checkpoint before it is killed; default 60s.
	KillTimeout time.Duration
	// ExtraEnv is non-secret environment for the worker, such as DTS_LOG_LEVEL. It is visible in
	// the job, so it must not hold credentials.
	ExtraEnv map[string]string
	// CallTimeout bounds each launcher method's calls to Nomad (a WaitAddr is bounded by its
	// caller instead); default DefaultCallTimeout. A Nomad that does not answer in time is
	// jobs.ErrUnavailable.
	CallTimeout time.Duration
	// Logger receives what Nomad warns about a job; default discards.
	Logger *slog.Logger
}

// secretEnv are the variables the template renders from the Variable; ExtraEnv may not set them
// because ExtraEnv is written into the job in the clear.
var secretEnv = []string{envSourceUser, envSourcePassword, envConsulToken}

func (c *Config) applyDefaults() {
	if c.Driver == "" {
		c.Driver = DriverRawExec
	}
	if len(c.Datacenters) == 0 {
		c.Datacenters = []string{"*"}
	}
	if c.CPU == 0 {
		c.CPU = DefaultCPU
	}
	if c.MemoryMB == 0 {
		c.MemoryMB = DefaultMemoryMB
	}
	if c.MemoryMaxMB == 0 {
		c.MemoryMaxMB = max(DefaultMemoryMaxMB, 2*c.MemoryMB)
	}
	if c.KillTimeout == 0 {
		c.KillTimeout = DefaultKillTimeout
	}
	if c.CallTimeout == 0 {
		c.CallTimeout = DefaultCallTimeout
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
}

// Validate reports what is missing or inconsistent once defaults are applied.
func (c *Config) Validate() error {
	d := *c
	d.applyDefaults()
	return d.validate()
}

func (c *Config) validate() error {
	var errs []error
	if c.Client == nil {
		errs = append(errs, errors.New("nomad client is required"))
	}
	switch c.Driver {
	case DriverRawExec, DriverExec:
		if c.Command == "" {
			errs = append(errs, fmt.Errorf("command (the dts binary) is required for driver %s", c.Driver))
		}
	case DriverDocker:
		if c.Image == "" {
			errs = append(errs, errors.New("image is required for driver docker"))
		}
	default:
		errs = append(errs, fmt.Errorf("driver %q is not raw_exec, exec or docker", c.Driver))
	}
	if c.CPU < 0 || c.MemoryMB < 0 || c.MemoryMaxMB < 0 {
		errs = append(errs, errors.New("cpu and memory must not be negative"))
	}
	if c.MemoryMaxMB != 0 && c.MemoryMaxMB < c.MemoryMB {
		errs = append(errs, fmt.Errorf("memory max %d MB is below memory %d MB", c.MemoryMaxMB, c.MemoryMB))
	}
	if c.KillTimeout < 0 || c.CallTimeout < 0 {
		errs = append(errs, errors.New("kill and call timeouts must not be negative"))
	}
	for _, k := range secretEnv {
		if _, ok := c.ExtraEnv[k]; ok {
			errs = append(errs, fmt.Errorf("extra env may not set %s: it is a secret and reaches the worker through the task's variable", k))
		}
	}
	return errors.Join(errs...)
}
