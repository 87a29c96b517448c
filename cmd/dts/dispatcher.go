package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	consulapi "github.com/hashicorp/consul/api"
	nomadapi "github.com/hashicorp/nomad/api"

	"github.com/dtsrepl/dts/api"
	"github.com/dtsrepl/dts/dispatcher"
	"github.com/dtsrepl/dts/jobs/nomad"
	"github.com/dtsrepl/dts/store"
	"github.com/dtsrepl/dts/store/consul"
)

// apiFlags are the flags the dispatcher and dts dev share.
type apiFlags struct {
	listen           *string
	authUser         *string
	authPassword     *string
	sourceUser       *string
	sourcePassword   *string
	sourceAllow      *string
	placementTimeout *time.Duration
	backendTimeout   *time.Duration
	reconcile        *time.Duration
	reconcileGrace   *time.Duration
	timezone         *string
}

func (f *flagSet) apiFlags(defUser, defPassword string) apiFlags {
	return apiFlags{
		listen:           f.string("listen", "DTS_LISTEN", "127.0.0.1:8080", "address of the HTTP API"),
		authUser:         f.secret("auth-user", "DTS_AUTH_USER", defUser, "Basic auth user of the API"),
		authPassword:     f.secret("auth-password", "DTS_AUTH_PASSWORD", defPassword, "Basic auth password of the API"),
		sourceUser:       f.secret("source-user", "DTS_SOURCE_USER", "", "default replication account, for tasks that give only the source's host and port"),
		sourcePassword:   f.secret("source-password", "DTS_SOURCE_PASSWORD", "", "password of the default replication account"),
		sourceAllow:      f.string("source-allow", "DTS_SOURCE_ALLOW", "", "comma-separated host names, IP addresses and networks (CIDR) the default replication account may log in to; required with --source-user (names are matched as written, never resolved)"),
		placementTimeout: f.duration("placement-timeout", "DTS_PLACEMENT_TIMEOUT", dispatcher.DefaultPlacementTimeout, "how long submit waits for the worker's address"),
		backendTimeout:   f.duration("backend-timeout", "DTS_BACKEND_TIMEOUT", dispatcher.DefaultBackendTimeout, "bound of each call to the store or the scheduler; past it a request answers -503 with the reason"),
		reconcile:        f.duration("reconcile-interval", "DTS_RECONCILE_INTERVAL", dispatcher.DefaultReconcileInterval, "how often the leading dispatcher brings jobs and credentials in line with the stored tasks"),
		reconcileGrace:   f.duration("reconcile-grace", "DTS_RECONCILE_GRACE", dispatcher.DefaultReconcileGrace, "age after which a task with neither credentials nor job (a submit that died) is deleted"),
		timezone:         f.string("timezone", "DTS_TIMEZONE", "Local", "time zone of the times the API writes"),
	}
}

func (a apiFlags) config(log *slog.Logger, st dispatcher.Store, l dispatcher.Launcher, insecure bool) (dispatcher.Config, error) {
	loc, err := time.LoadLocation(*a.timezone)
	if err != nil {
		return dispatcher.Config{}, usageError{fmt.Errorf("--timezone: %w", err)}
	}
	cfg := dispatcher.Config{
		Store: st, Launcher: l,
		AuthUser: *a.authUser, AuthPassword: *a.authPassword, Insecure: insecure,
		PlacementTimeout:  *a.placementTimeout,
		BackendTimeout:    *a.backendTimeout,
		ReconcileInterval: *a.reconcile,
		ReconcileGrace:    *a.reconcileGrace,
		Location:          loc,
		Logger:            log,
		SubmitPrecheck:    true,
	}
	allow, err := a.allowList()
	if err != nil {
		return dispatcher.Config{}, err
	}
	if *a.sourceUser != "" {
		cfg.DefaultCredentials = &api.Credentials{Username: *a.sourceUser, Password: *a.sourcePassword}
		cfg.SourceAllow = allow
	} else if allow != nil {
		log.Warn("--source-allow has no effect without a default replication account (--source-user)")
	}
	return cfg, nil
}

// allowList checks the default account's flags: an account needs the list of hosts it may log
// in to. Without one, anyone who may use the API could point a task at a server of theirs and
// receive the account's password when the worker logs in.
func (a apiFlags) allowList() (*dispatcher.HostAllowList, error) {
	if strings.TrimSpace(*a.sourceAllow) == "" {
		if *a.sourceUser != "" {
			return nil, usageError{errors.New("--source-user is set but --source-allow is empty: the default replication account would log in to any host a task names, so anyone who can submit a task could collect its password with a server of their own. List the hosts and networks it may log in to with --source-allow (DTS_SOURCE_ALLOW), e.g. --source-allow 10.0.0.0/8,db1.example.com")}
		}
		return nil, nil
	}
	l, err := dispatcher.ParseHostAllowList(*a.sourceAllow)
	if err != nil {
		return nil, usageError{fmt.Errorf("--source-allow: %w", err)}
	}
	return l, nil
}

func runDispatcher(ctx context.Context, args []string) error {
	fs := newFlagSet("dispatcher", "dispatcher [flags]   (Consul: CONSUL_HTTP_ADDR, CONSUL_HTTP_TOKEN; Nomad: NOMAD_ADDR, NOMAD_TOKEN)")
	af := fs.apiFlags("", "")
	insecure := fs.bool("insecure", "DTS_INSECURE", false, "serve the API without authentication (never in production)")
	prefix := fs.string("consul-prefix", "DTS_CONSUL_PREFIX", store.DefaultPrefix, "Consul KV prefix of dts's keys")
	driver := fs.string("driver", "DTS_NOMAD_DRIVER", nomad.DriverRawExec, "Nomad task driver of workers: raw_exec, exec or docker")
	command := fs.string("worker-command", "DTS_WORKER_COMMAND", "", "path of the dts binary on Nomad clients (raw_exec, exec; default: this binary)")
	image := fs.string("worker-image", "DTS_WORKER_IMAGE", "", "worker container image (docker)")
	datacenters := fs.string("datacenters", "DTS_NOMAD_DATACENTERS", "*", "comma-separated datacenters workers may run in")
	workerConsul := fs.string("worker-consul-addr", "DTS_WORKER_CONSUL_ADDR", "", "Consul address workers use (default: CONSUL_HTTP_ADDR)")
	workerLogLevel := fs.string("worker-log-level", "DTS_WORKER_LOG_LEVEL", "info", "log level of workers")
	workerCPU := fs.int64("worker-cpu", "DTS_WORKER_CPU", nomad.DefaultCPU, "CPU each worker reserves, in MHz (an idle worker uses a few; a task's resources.cpu overrides it)")
	workerMemory := fs.int64("worker-memory", "DTS_WORKER_MEMORY", nomad.DefaultMemoryMB, "memory each worker reserves, in MiB (an idle worker uses about 25; a task's resources.memory_mb overrides it)")
	workerMemoryMax := fs.int64("worker-memory-max", "DTS_WORKER_MEMORY_MAX", nomad.DefaultMemoryMaxMB, "memory each worker may burst to, in MiB, where the client has memory to spare (Nomad's memory_max)")
	logs := fs.logFlags("json")
	if err := fs.parse(args); err != nil {
		return err
	}
	log, err := logs.logger(os.Stdout)
	if err != nil {
		return err
	}
	if (*af.authUser == "" || *af.authPassword == "") && !*insecure {
		return usageError{errors.New("set --auth-user and --auth-password (DTS_AUTH_USER, DTS_AUTH_PASSWORD), or --insecure to serve the API without authentication")}
	}
	if _, err := af.allowList(); err != nil {
		return err
	}

	ccfg := consulapi.DefaultConfig()
	if ccfg.Transport != nil {
		// Consul refuses more than 200 connections from one address.
		ccfg.Transport.MaxConnsPerHost = 64
		// The dispatcher talks to the Consul agent of its own node: compressing the answers
		// costs both processes CPU for nothing (a list of 1,000 tasks took 15% longer).
		ccfg.Transport.DisableCompression = true
	}
	// Every call has its request's deadline; the client's timeout is the bound of last resort,
	// above the longest blocking query the dispatcher makes (the reconciler's lock, 15 s).
	if ccfg.HttpClient, err = consulapi.NewHttpClient(ccfg.Transport, ccfg.TLSConfig); err != nil {
		return fmt.Errorf("consul client: %w", err)
	}
	ccfg.HttpClient.Timeout = clientTimeout
	cc, err := consulapi.NewClient(ccfg)
	if err != nil {
		return fmt.Errorf("consul client: %w", err)
	}
	ncfg := nomadapi.DefaultConfig()
	if !strings.HasPrefix(ncfg.Address, "unix://") {
		// Nomad likewise refuses more than http_max_conns_per_client (default 100) concurrent
		// connections from one address, and the default client has no bound: a burst of submits
		// would get 429s. Requests beyond the bound wait for a connection instead.
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.MaxConnsPerHost = 32
		tr.MaxIdleConnsPerHost = 32
		tr.ForceAttemptHTTP2 = false
		// The bound of last resort, above the longest blocking query (a wait for a worker's
		// address, 30 s); every call also has its request's deadline.
		ncfg.HttpClient = &http.Client{Transport: tr, Timeout: clientTimeout}
		if err := nomadapi.ConfigureTLS(ncfg.HttpClient, ncfg.TLSConfig); err != nil {
			return fmt.Errorf("nomad client TLS: %w", err)
		}
	}
	nc, err := nomadapi.NewClient(ncfg)
	if err != nil {
		return fmt.Errorf("nomad client: %w", err)
	}
	cmd := *command
	if cmd == "" && *driver != nomad.DriverDocker {
		if cmd, err = os.Executable(); err != nil {
			return fmt.Errorf("find the dts binary for workers (set --worker-command): %w", err)
		}
	}
	consulForWorkers := *workerConsul
	if consulForWorkers == "" {
		consulForWorkers = ccfg.Address
	}
	launcher, err := nomad.New(nomad.Config{
		Client:      nc,
		Driver:      *driver,
		Command:     cmd,
		Image:       *image,
		Datacenters: strings.Split(*datacenters, ","),
		ConsulAddr:  consulForWorkers,
		ConsulToken: ccfg.Token,
		ExtraEnv:    map[string]string{"DTS_LOG_LEVEL": *workerLogLevel},
		CPU:         int(*workerCPU),
		MemoryMB:    int(*workerMemory),
		MemoryMaxMB: int(*workerMemoryMax),
		CallTimeout: *af.backendTimeout,
		Logger:      log,
	})
	if err != nil {
		return err
	}
	st := consul.New(cc, *prefix).WithCallTimeout(*af.backendTimeout)
	cfg, err := af.config(log, st, launcher, *insecure)
	if err != nil {
		return err
	}
	if cfg.Leadership, err = st.Leadership(workerName()); err != nil {
		return err
	}
	srv, err := dispatcher.New(cfg)
	if err != nil {
		return usageError{err}
	}
	ln, err := net.Listen("tcp", *af.listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", *af.listen, err)
	}
	log.Info("dts dispatcher serving", "version", version, "addr", ln.Addr().String(), "consul", ccfg.Address, "nomad", nc.Address(), "driver", *driver, "auth", !*insecure || *af.authUser != "")
	return serveAndReconcile(ctx, srv, ln)
}

// clientTimeout bounds any one HTTP call to Consul or Nomad, whatever its context.
const clientTimeout = time.Minute

// serveAndReconcile serves the API and runs the reconciler until ctx ends or serving fails.
func serveAndReconcile(ctx context.Context, srv *dispatcher.Server, ln net.Listener) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Reconcile(ctx)
	}()
	err := srv.Serve(ctx, ln)
	cancel()
	<-done
	return err
}
