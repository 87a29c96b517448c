package main

import (
	"cmp"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"

	consulapi "github.com/hashicorp/consul/api"

	"github.com/dtsrepl/dts/api"
	"github.com/dtsrepl/dts/jobs"
	"github.com/dtsrepl/dts/store"
	"github.com/dtsrepl/dts/store/consul"
	"github.com/dtsrepl/dts/worker"
	"github.com/dtsrepl/dts/worker/taskfile"
)

func runWorker(ctx context.Context, args []string) error {
	fs := newFlagSet("worker", "worker --task ID | --task-file FILE --state-dir DIR [flags]")
	taskID := fs.int64("task", "DTS_TASK_ID", 0, "id of the task to run; its spec and status live in Consul KV (CONSUL_HTTP_ADDR, CONSUL_HTTP_TOKEN)")
	taskFile := fs.string("task-file", "DTS_TASK_FILE", "", "run the task in this JSON file (the submit body) without Consul")
	stateDir := fs.string("state-dir", "DTS_STATE_DIR", "", "with --task-file: the directory holding the checkpoint and the lock")
	listen := fs.string("listen", "DTS_LISTEN", "127.0.0.1:0", "address serving /healthz, /metrics and /status")
	advertise := fs.string("advertise", "DTS_ADVERTISE", "", "address reported as the task's service_addr (default: the listen address)")
	prefix := fs.string("consul-prefix", "DTS_CONSUL_PREFIX", store.DefaultPrefix, "Consul KV prefix of dts's keys")
	chunk := fs.int64("snapshot-chunk-rows", "DTS_SNAPSHOT_CHUNK_ROWS", 5000, "rows the initial copy reads per query (each chunk is a checkpoint)")
	pprof := fs.bool("pprof", "DTS_PPROF", false, "also serve Go profiles under /debug/pprof/ on the listen address")
	stopTimeout := fs.duration("stop-timeout", jobs.EnvStopTimeout, worker.DefaultStopTimeout, "budget of everything a stop does (waiting for Kafka's acknowledgements, saving the checkpoint, releasing the lock); the Nomad job sets it to three quarters of its kill timeout")
	maxPacket := fs.int64("max-packet-bytes", "DTS_MAX_PACKET_BYTES", 0, "largest packet (a row event) taken from the source (default: half the memory budget, at most 256 MiB); raise it, with the budget, for rows larger than that")
	memoryMB := fs.int64("memory-mb", "DTS_MEMORY_MB", defaultMemoryMB(os.Getenv), "memory budget in MiB (default: under Nomad, what the allocation may use; else 128): the Go runtime's soft limit at three quarters, less at small budgets (at least 32 MiB stays for what is not heap), a third of that for messages awaiting Kafka's acknowledgement (GOGC and GOMEMLIMIT, when set, override the collector's settings)")
	logs := fs.logFlags("json")
	if err := fs.parse(args); err != nil {
		return err
	}
	log, err := logs.logger(os.Stdout)
	if err != nil {
		return err
	}
	mem, err := planMemory(*memoryMB, os.Getenv)
	if err != nil {
		return usageError{err}
	}
	mem.apply(log, *memoryMB)
	creds, err := credentialsFromEnv()
	if err != nil {
		return err
	}
	name := workerName()

	var record worker.TaskRecord
	switch {
	case *taskFile != "":
		if *stateDir == "" {
			return usageError{errors.New("--task-file needs --state-dir")}
		}
		if _, _, err := taskfile.ReadSpec(*taskFile); err != nil {
			return err
		}
		record = taskfile.New(*taskID, *taskFile, *stateDir)
	case *taskID > 0:
		client, err := consulapi.NewClient(consulapi.DefaultConfig())
		if err != nil {
			return fmt.Errorf("consul client: %w", err)
		}
		opts := consul.RecordOptions{Name: name, Logger: log}
		if err := opts.Validate(); err != nil {
			return fmt.Errorf("task record: %w", err)
		}
		record = consul.New(client, *prefix).TaskRecord(*taskID, opts)
	default:
		return usageError{errors.New("give --task ID, or --task-file FILE with --state-dir DIR")}
	}

	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", *listen, err)
	}
	addr := *advertise
	if addr == "" {
		addr = ln.Addr().String()
	}
	log.Info("dts worker starting", "version", version, "task", *taskID, "task_file", *taskFile, "addr", addr, "worker", name)
	w := worker.New(worker.Config{
		TaskID:      *taskID,
		Record:      record,
		Credentials: creds,
		Listener:    ln,
		ServiceAddr: addr,
		Name:        name,
		Logger:      log,

		SnapshotChunkRows: int(*chunk),
		MaxInFlightBytes:  mem.InFlightBytes,
		MaxPacketBytes:    int(cmp.Or(*maxPacket, mem.MaxPacketBytes)),
		MaxResponseBytes:  int(mem.MaxResponseBytes),
		StopTimeout:       *stopTimeout,
		Pprof:             *pprof,
	})
	err = w.Run(ctx)
	if errors.Is(err, store.ErrNotFound) {
		log.Info("the task was deleted; nothing to run")
		return nil
	}
	return err
}

// credentialsFromEnv reads the credentials the launcher passes: the source account
// (jobs.EnvSourceUser, jobs.EnvSourcePassword) and the Kafka secrets (jobs.EnvKafkaSASLPassword,
// jobs.EnvKafkaKeyPEM), each plain or in its base64 form, which Nomad's template writes so any
// character survives the env file. nil when none is set.
func credentialsFromEnv() (*api.Credentials, error) {
	var c api.Credentials
	for _, v := range []struct {
		name string
		dst  *string
	}{
		{jobs.EnvSourceUser, &c.Username},
		{jobs.EnvSourcePassword, &c.Password},
		{jobs.EnvKafkaSASLPassword, &c.KafkaSASLPassword},
		{jobs.EnvKafkaKeyPEM, &c.KafkaKeyPEM},
	} {
		s, err := envMaybeB64(v.name)
		if err != nil {
			return nil, err
		}
		*v.dst = s
	}
	if c == (api.Credentials{}) {
		return nil, nil
	}
	return &c, nil
}

func envMaybeB64(name string) (string, error) {
	if v := os.Getenv(name + jobs.EnvBase64Suffix); v != "" {
		b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(v))
		if err != nil {
			return "", fmt.Errorf("%s%s is not base64: %w", name, jobs.EnvBase64Suffix, err)
		}
		return string(b), nil
	}
	return os.Getenv(name), nil
}

// workerName identifies this process in the lock and the status.
func workerName() string {
	host, _ := os.Hostname()
	name := fmt.Sprintf("%s/%d", host, os.Getpid())
	if alloc := os.Getenv("NOMAD_ALLOC_ID"); alloc != "" {
		name += " alloc " + alloc
	}
	return name
}
