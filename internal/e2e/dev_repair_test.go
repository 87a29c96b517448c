package e2e

import (
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dtsrepl/dts/api"
	"github.com/dtsrepl/dts/internal/testenv"
	"github.com/dtsrepl/dts/store/bolt"
)

// TestDevTaskWithoutCredentials: a dts dev killed in the middle of a submit used to leave a task
// stored without its credentials (two bbolt transactions; submit now writes both in one). Such a
// task, as an older dts dev left it, must be repairable with the advice the API gives: the list
// says to alter it with the account, start says the same (it used to answer -404 while the list
// advised start), and the alter stores the account and starts the task.
func TestDevTaskWithoutCredentials(t *testing.T) {
	t.Parallel()
	db := testenv.StartMariaDB(t)
	seedDB(t, db)
	kafka := testenv.StartKafkaProcess(t, 1)
	dir := t.TempDir()
	dataDir := filepath.Join(dir, "dts-data")

	// The data directory as the interrupted submit left it.
	store, err := bolt.Open(filepath.Join(dataDir, "dts.db"))
	if err != nil {
		t.Fatal(err)
	}
	spec, err := api.DecodeSubmit(strings.NewReader(seedSubmitBody(db.Port, kafka.Addr(), "repaired")))
	if err != nil {
		t.Fatal(err)
	}
	stored := spec.Redacted()
	now := time.Now()
	id, err := store.Create(context.Background(), &api.Task{Spec: *stored, Version: 1, Desired: api.DesiredRunning, CreatedAt: now, UpdatedAt: now})
	if err != nil {
		t.Fatal(err)
	}
	if err := store.Close(); err != nil {
		t.Fatal(err)
	}

	srv := startServer(t, "dts-dev", dir, childEnv(), "dev", "--data-dir", dataDir)
	base := srv.URL
	var rec recorder
	s, ok := rec.summary(t, base, id)
	if !ok || s.State == api.StateRunning || !strings.Contains(s.Message, "alter the task with source.username and source.password") {
		t.Errorf("the list shows %+v; want it to advise the alter that repairs the task", s)
	}
	rec.api(t, base, http.MethodPost, fmt.Sprintf("/v1/task/%d/start", id), "").
		want(t, api.CodeConflict, "no source credentials are stored", "alter the task with source.username and source.password")

	rec.api(t, base, http.MethodPut, fmt.Sprintf("/v1/dispatch/alter/%d", id), seedSubmitBody(db.Port, kafka.Addr(), "repaired")).ok(t, nil)
	rec.waitState(t, base, id, api.StateRunning, 60*time.Second)
	eventually(t, 30*time.Second, "a position", func() error {
		if s, _ := rec.summary(t, base, id); s.Pos == "" {
			return fmt.Errorf("no pos yet: %+v", s)
		}
		return nil
	})
	insertRows(t, db, 1, 3)
	waitRows(t, kafka, "repaired", 1, 3, 60*time.Second)
	noSecret(t, "response", seedDBPassword, rec.all()...)
	noSecret(t, "dts dev log", seedDBPassword, srv.Proc.Log())
}

// TestDevStartRetriesFailedTask: a task Failed on a permanent error (access denied) waits for a
// fix; once the fix is outside dts (the account is created), POST start makes it try again. It
// used to answer 200 and leave the task Failed.
func TestDevStartRetriesFailedTask(t *testing.T) {
	t.Parallel()
	db := testenv.StartMariaDB(t)
	seedDB(t, db)
	kafka := testenv.StartKafkaProcess(t, 1)
	dir := t.TempDir()
	srv := startServer(t, "dts-dev", dir, childEnv(), "dev", "--data-dir", filepath.Join(dir, "dts-data"))
	base := srv.URL
	var rec recorder
	body := strings.NewReplacer(`"username":"xes_replicator"`, `"username":"late_user"`, seedDBPassword, "late-password").
		Replace(seedSubmitBody(db.Port, kafka.Addr(), "retried"))
	var sub api.SubmitResponse
	// The account does not exist yet: the precheck refuses the task unless forced.
	rec.api(t, base, http.MethodPost, "/v1/dispatch/submit", body).want(t, api.CodeBadRequest, "source.credentials")
	rec.api(t, base, http.MethodPost, "/v1/dispatch/submit?force=true", body).ok(t, &sub)
	s := rec.waitState(t, base, sub.ID, api.StateFailed, 60*time.Second)
	t.Logf("failed as expected: %s", s.Message)

	db.CreateReplicationUser(t, "late_user", "late-password")
	rec.api(t, base, http.MethodPost, fmt.Sprintf("/v1/task/%d/start", sub.ID), "").ok(t, nil)
	rec.waitState(t, base, sub.ID, api.StateRunning, 60*time.Second)
	eventually(t, 30*time.Second, "a position", func() error {
		if s, _ := rec.summary(t, base, sub.ID); s.Pos == "" {
			return fmt.Errorf("no pos yet: %+v", s)
		}
		return nil
	})
	insertRows(t, db, 1, 3)
	waitRows(t, kafka, "retried", 1, 3, 60*time.Second)
}
