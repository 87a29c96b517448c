// Package precheck checks a task before it runs, from the dispatcher: the source (reachable,
// the account and its privileges, binlog settings, server id, binlog retention against the
// initial copy), the tables the filters match (keys, excluded key columns, row filters bound to
// the real columns, the widest message a row can make) and Kafka (reachable with TLS/SASL,
// topics, partitions, message size limits). The answer is an api.Checklist, each item pass,
// warn or fail with what to do; submit and alter refuse a task with blocking failures.
//
// It also previews a task (Preview): the records the worker would send for the first rows of
// each matched table, rendered by the worker's own renderer, without sending them.
//
// Every network step is bounded, and no answer carries a secret: errors name accounts and
// addresses, never passwords, and grant lines (which hold password hashes) are parsed, not
// shown.
package precheck

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/go-mysql-org/go-mysql/client"

	"github.com/dtsrepl/dts/api"
	"github.com/dtsrepl/dts/worker/binlog"
	"github.com/dtsrepl/dts/worker/filter"
	"github.com/dtsrepl/dts/worker/produce"
	"github.com/dtsrepl/dts/worker/render"
)

// Parts selects what a precheck looks at: an alter checks only what it changed.
type Parts struct {
	// Source: reachability, account, privileges, binlog settings, server id, retention.
	Source bool
	// Tables: the matched tables, their keys, excluded columns, row filters and row widths.
	Tables bool
	// Kafka: reachability, topics, partitions, message size limits.
	Kafka bool
}

// All is every part.
func All() Parts { return Parts{Source: true, Tables: true, Kafka: true} }

// Any reports whether any part is selected.
func (p Parts) Any() bool { return p.Source || p.Tables || p.Kafka }

// DefaultTimeout bounds a whole precheck.
const DefaultTimeout = 30 * time.Second

// stepTimeout bounds one network step (a connection, a query, a Kafka request).
const stepTimeout = 10 * time.Second

// Input is what a precheck checks.
type Input struct {
	// Spec is the whole task: for an alter, the spec as it would be stored, with the source.
	Spec *api.TaskSpec
	// Creds is the account the worker would log in with (and the task's Kafka secrets);
	// nil: the spec's own.
	Creds *api.Credentials
	// TaskID is the task's id, 0 for a task not submitted yet.
	TaskID int64
	// Parts is what to check; the zero value checks everything.
	Parts Parts
	// ServerIDConflict is the dispatcher's check that no other task on the source has the
	// task's server id (nil: not checked here).
	ServerIDConflict func(ctx context.Context) error
	// Timeout bounds the whole check (default DefaultTimeout).
	Timeout time.Duration
	// ReachTimeout bounds the first connection to the source and to the brokers, tried
	// together: a server that drops packets costs this long, and the checks that need it are
	// skipped (default DefaultReachTimeout).
	ReachTimeout time.Duration
}

// DefaultReachTimeout bounds the first connection to each server.
const DefaultReachTimeout = 5 * time.Second

// Run checks a task and answers its checklist. It never fails: what it could not check is an
// item too.
func Run(ctx context.Context, in Input) *api.Checklist {
	if in.Timeout <= 0 {
		in.Timeout = DefaultTimeout
	}
	if in.ReachTimeout <= 0 {
		in.ReachTimeout = DefaultReachTimeout
	}
	if !in.Parts.Any() {
		in.Parts = All()
	}
	ctx, cancel := context.WithTimeout(ctx, in.Timeout)
	defer cancel()
	r := &run{in: in, spec: in.Spec, list: &api.Checklist{Result: api.CheckPass, Items: []api.CheckItem{}}}
	r.check(ctx)
	return r.list
}

// run is one precheck in progress.
type run struct {
	in   Input
	spec *api.TaskSpec
	list *api.Checklist
	rend *render.Renderer
	set  *filter.Set

	conn   *client.Conn
	flavor string
	tables []*tableInfo // the matched tables, once read
	kafka  *produce.ClusterInfo
}

func (r *run) add(id string, st api.CheckStatus, title, detail, fix string) {
	r.list.Add(api.CheckItem{ID: id, Status: st, Title: title, Detail: detail, Fix: fix, Blocking: st == api.CheckFail})
}

// unreachable adds a fail that does not block: the dispatcher's view of the network is not the
// worker's.
func (r *run) unreachable(id, title, detail, fix string) {
	r.list.Add(api.CheckItem{ID: id, Status: api.CheckFail, Title: title, Detail: detail, Fix: fix})
}

func (r *run) check(ctx context.Context) {
	rend, err := render.New(r.spec)
	if err != nil {
		r.add("task.filters", api.CheckFail, "filters compile", err.Error(), "fix the filter the message names")
		return
	}
	r.rend, r.set = rend, rend.Filters()
	p := r.in.Parts
	if (p.Source || p.Tables) && r.in.TaskID > 0 && r.in.Creds == nil {
		r.add("source.credentials", api.CheckWarn, "an account to log in with",
			"the dispatcher cannot read the account of this task, so the source and table checks did not run", "give source.username and source.password in the alter to check them")
		p.Source, p.Tables = false, false
	}
	srcErr, kafkaErr := r.probe(ctx, p.Source || p.Tables, p.Kafka || p.Tables)
	if (p.Source || p.Tables) && srcErr != nil {
		addr := SourceDialer(r.spec, r.in.Creds, r.in.TaskID).Source.Addr()
		r.unreachable("source.reachable", "the source answers", fmt.Sprintf("%s cannot be reached from the dispatcher: %v", addr, srcErr),
			"check the host and port, and that the source accepts connections from the dispatcher's and the workers' hosts; the other source checks did not run")
		p.Source, p.Tables = false, false
	}
	if (p.Kafka || p.Tables) && kafkaErr != nil {
		r.unreachable("kafka.reachable", "Kafka answers", fmt.Sprintf("%s cannot be reached from the dispatcher: %v", r.spec.Kafka.Addr, kafkaErr),
			"check kafka.addr, and that the brokers accept connections from the dispatcher's and the workers' hosts; the topic checks did not run")
		p.Kafka = false
	}
	if p.Source || p.Tables {
		if r.connect(ctx) {
			defer r.conn.Close()
			if p.Source {
				r.sourceSettings(ctx)
				r.privileges(ctx)
				r.serverID(ctx)
			}
			r.readTables(ctx)
			r.tableChecks(ctx)
			if p.Source && !r.spec.IsIncr() {
				r.retention(ctx)
			}
		}
	}
	if p.Source && r.in.ServerIDConflict != nil {
		// Also when the source is unreachable: it is the dispatcher's own knowledge.
		if err := r.in.ServerIDConflict(ctx); err != nil {
			r.add("source.server_id.tasks", api.CheckFail, "no other task on the source has the server id", err.Error(), "give this task another source.server_id")
		}
	}
	if (p.Kafka || p.Tables) && kafkaErr == nil {
		r.kafkaChecks(ctx)
	}
	if len(r.tables) > 0 {
		for _, t := range r.tables {
			r.list.Tables = append(r.list.Tables, t.check)
		}
	}
}

// step is the bound of one network step: shorter when the caller wants to know soon that a
// server cannot be reached.
func (r *run) step() time.Duration { return min(stepTimeout, 2*r.in.ReachTimeout) }

// probe opens a TCP connection to the source and to the brokers at once, each bounded by
// ReachTimeout: a server that cannot be reached is known after that long, whatever the
// clients' own timeouts. Kafka is reachable when one broker is.
func (r *run) probe(ctx context.Context, source, kafka bool) (srcErr, kafkaErr error) {
	ctx, cancel := context.WithTimeout(ctx, r.in.ReachTimeout)
	defer cancel()
	dial := func(addr string) error {
		var d net.Dialer
		c, err := d.DialContext(ctx, "tcp", addr)
		if err != nil {
			return err
		}
		return c.Close()
	}
	var wg sync.WaitGroup
	if source && r.spec.Source != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			srcErr = dial(r.spec.Source.Addr())
		}()
	}
	if kafka {
		brokers := produce.SplitAddrs(r.spec.Kafka.Addr)
		errs := make([]error, len(brokers))
		var kwg sync.WaitGroup
		for i, b := range brokers {
			kwg.Add(1)
			go func() {
				defer kwg.Done()
				errs[i] = dial(b)
			}()
		}
		kwg.Wait()
		kafkaErr = errors.Join(errs...)
		for _, e := range errs {
			if e == nil {
				kafkaErr = nil
			}
		}
	}
	wg.Wait()
	return srcErr, kafkaErr
}

// SourceDialer is how the worker of task taskID would connect to its source with creds.
func SourceDialer(spec *api.TaskSpec, creds *api.Credentials, taskID int64) binlog.Dialer {
	var src api.Source
	if spec.Source != nil {
		src = *spec.Source
	}
	if creds != nil && creds.Username != "" {
		src.Username, src.Password = creds.Username, creds.Password
	}
	name := "dts-precheck"
	if taskID > 0 {
		src.ServerID = src.EffectiveServerID(taskID)
		name = "dts-task-" + strconv.FormatInt(taskID, 10)
	}
	return binlog.Dialer{Source: src, ReplicaName: name}
}

// KafkaConfig is how the worker of task taskID would connect to Kafka.
func KafkaConfig(spec *api.TaskSpec, creds *api.Credentials, taskID int64) (produce.Config, error) {
	id := "dts-precheck"
	if taskID > 0 {
		id = "dts-task-" + strconv.FormatInt(taskID, 10)
	}
	return produce.FromSpec(spec.Kafka, creds, id)
}

// IsUnreachable reports whether err is the network failing to reach a server (refused, timed
// out, no route, a name that does not resolve) rather than the server answering something
// wrong: what the dispatcher cannot reach, the worker on another host may.
func IsUnreachable(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, produce.ErrRejected) || errors.Is(err, binlog.ErrAccessDenied) || errors.Is(err, binlog.ErrTLSVerify) ||
		errors.Is(err, binlog.ErrInsecureAuth) || errors.Is(err, binlog.ErrNotMySQL) || errors.Is(err, binlog.ErrNoTLS) {
		return false
	}
	var dns *net.DNSError
	var op *net.OpError
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, os.ErrDeadlineExceeded),
		errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH),
		errors.Is(err, syscall.ECONNRESET), errors.Is(err, errNoGreeting), errors.As(err, &dns):
		return true
	case errors.As(err, &op) && op.Op == "dial":
		return true
	}
	// Libraries that flatten errors to text (sarama's "client has run out of available
	// brokers", go-mysql's traced errors) still name the cause.
	msg := strings.ToLower(err.Error())
	for _, s := range []string{"connection refused", "i/o timeout", "no route to host", "network is unreachable", "run out of available brokers", "no such host", "deadline exceeded"} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}

// plural writes n and the noun, with an s when n is not 1.
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// list writes at most max names, and how many more.
func list(names []string, max int) string {
	if len(names) <= max {
		return strings.Join(names, ", ")
	}
	return strings.Join(names[:max], ", ") + fmt.Sprintf(" and %d more", len(names)-max)
}
