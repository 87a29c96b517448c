package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"

	"github.com/dtsrepl/dts/api"
	"github.com/dtsrepl/dts/dispatcher"
	"github.com/dtsrepl/dts/jobs"
	"github.com/dtsrepl/dts/jobs/local"
	"github.com/dtsrepl/dts/store/bolt"
	"github.com/dtsrepl/dts/worker"
)

// The seed API document's test credentials, the defaults of dts dev.
const (
	devUser     = "replicator"
	devPassword = "dtsfor3.1415926"
)

func runDev(ctx context.Context, args []string) error {
	fs := newFlagSet("dev", "dev [flags]")
	af := fs.apiFlags(devUser, devPassword)
	dataDir := fs.string("data-dir", "DTS_DATA_DIR", "./dts-data", "directory of the embedded store (tasks, statuses, credentials)")
	logs := fs.logFlags("text")
	if err := fs.parse(args); err != nil {
		return err
	}
	log, err := logs.logger(os.Stdout)
	if err != nil {
		return err
	}
	if _, err := af.allowList(); err != nil {
		return err
	}
	if err := checkDevListen(*af.listen, *af.authUser, *af.authPassword); err != nil {
		return err
	}
	db, err := bolt.Open(filepath.Join(*dataDir, "dts.db"))
	if err != nil {
		return err
	}
	defer db.Close()

	name := workerName()
	run := func(ctx context.Context, t *api.Task, creds api.Credentials, ln net.Listener) error {
		c := creds
		w := worker.New(worker.Config{
			// The launcher waits DefaultStopTimeout for a stop before it gives up on the worker.
			StopTimeout: jobs.StopBudget(local.DefaultStopTimeout),
			TaskID:      t.ID,
			Record:      db.TaskRecord(t.ID, name),
			Credentials: &c,
			Listener:    ln,
			Name:        name,
			Logger:      log,
		})
		return w.Run(ctx)
	}
	launcher, err := local.New(local.Config{Run: run, Secrets: db, Logger: log})
	if err != nil {
		return err
	}
	defer func() {
		// The workers' stops end within their budget, a share of this.
		cctx, cancel := context.WithTimeout(context.Background(), local.DefaultStopTimeout)
		defer cancel()
		if err := launcher.Close(cctx); err != nil {
			log.Warn("stop workers", "err", err)
		}
	}()

	cfg, err := af.config(log, db, launcher, *af.authUser == "")
	if err != nil {
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

	// Tasks that were running when dts dev last stopped resume from their checkpoints.
	recs, err := db.List(ctx)
	if err != nil {
		return err
	}
	resumed := 0
	for _, r := range recs {
		if r.Task.Desired != api.DesiredRunning {
			continue
		}
		if err := launcher.Launch(ctx, r.Task, nil); err != nil {
			log.Error("resume task", "task", r.Task.ID, "err", err)
			continue
		}
		resumed++
	}

	abs, _ := filepath.Abs(*dataDir)
	log.Info("dts dev serving: embedded store, workers in this process", "api", "http://"+ln.Addr().String(), "data_dir", abs, "tasks_resumed", resumed)
	if *af.authUser == "" {
		log.Warn("the API has no authentication (--auth-user is empty): anyone who reaches it can submit tasks")
	}
	if *af.authUser == devUser && *af.authPassword == devPassword {
		log.Info("API Basic auth uses the seed's test credentials; set --auth-user and --auth-password for anything but a demo", "user", devUser, "password", devPassword)
	}
	err = serveAndReconcile(ctx, srv, ln)
	if errors.Is(err, context.Canceled) {
		err = nil
	}
	log.Info("dts dev stopping: workers flush and save their positions")
	return err
}

// checkDevListen keeps dts dev on loopback while anyone can log in to it: the seed document's
// test credentials are public, and an empty user means no authentication at all.
func checkDevListen(listen, user, password string) error {
	open := user == ""
	public := user == devUser && password == devPassword
	if !open && !public {
		return nil
	}
	host, _, err := net.SplitHostPort(listen)
	if err != nil {
		return usageError{fmt.Errorf("--listen %q: %w", listen, err)}
	}
	if ip := net.ParseIP(host); host == "localhost" || ip != nil && ip.IsLoopback() {
		return nil
	}
	why := "uses the seed's public test credentials (" + devUser + " / " + devPassword + ")"
	if open {
		why = "has no authentication (--auth-user is empty)"
	}
	return usageError{fmt.Errorf("dts dev %s, so it listens on loopback only, not on %q: set --auth-user and --auth-password (DTS_AUTH_USER, DTS_AUTH_PASSWORD) to listen there", why, listen)}
}
