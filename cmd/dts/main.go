// Command dts streams MySQL and MariaDB binlogs into Kafka. One binary holds every part:
//
//	dts dispatcher   the HTTP API, tasks in Consul KV, one Nomad job per task
//	dts worker       one task's replicator (run by Nomad, or by hand with --task-file)
//	dts dev          the dispatcher with an embedded store and in-process workers
//	dts task         a client for the API
//	dts version
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

var commands = map[string]func(ctx context.Context, args []string) error{
	"dispatcher": runDispatcher,
	"worker":     runWorker,
	"dev":        runDev,
	"task":       runTask,
	"version":    runVersion,
}

const usage = `dts streams MySQL/MariaDB binlogs into Kafka.

Usage:
  dts dispatcher [flags]   HTTP API; tasks in Consul KV (CONSUL_HTTP_ADDR), workers as Nomad jobs (NOMAD_ADDR)
  dts worker [flags]       run one task: --task ID (Consul) or --task-file FILE --state-dir DIR
  dts dev [flags]          everything on this machine: embedded store, in-process workers
  dts task <command>       API client: submit, list, get, alter, stop, start, delete, precheck, preview, verify
  dts version              print the version

Run "dts <command> -h" for a command's flags. Every flag can also be set by the environment
variable shown in brackets.
`

func main() {
	if len(os.Args) < 2 || os.Args[1] == "-h" || os.Args[1] == "--help" || os.Args[1] == "help" {
		fmt.Fprint(os.Stderr, usage)
		if len(os.Args) < 2 {
			os.Exit(2)
		}
		return
	}
	cmd, ok := commands[os.Args[1]]
	if !ok {
		fmt.Fprintf(os.Stderr, "dts: unknown command %q\n\n%s", os.Args[1], usage)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := cmd(ctx, os.Args[2:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		var ue usageError
		if errors.As(err, &ue) {
			fmt.Fprintf(os.Stderr, "dts %s: %v\n", os.Args[1], err)
			os.Exit(2)
		}
		fmt.Fprintf(os.Stderr, "dts %s: %v\n", os.Args[1], err)
		os.Exit(1)
	}
}

// usageError is a mistake on the command line (exit status 2).
type usageError struct{ error }
