package taskfile_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dtsrepl/dts/api"
	"github.com/dtsrepl/dts/store"
	"github.com/dtsrepl/dts/worker"
	"github.com/dtsrepl/dts/worker/taskfile"
)

var _ worker.TaskRecord = (*taskfile.Record)(nil)

const body = `{"task":{"source":{"host":"127.0.0.1","port":3306},"kafka":{"addr":"127.0.0.1:9092","topic":"t"},"filters":[{"dbname":"d","match":"x"}]}}`

func TestReadSpec(t *testing.T) {
	tests := []struct {
		name, content, err string
	}{
		{"submit body", body, ""},
		{"bare task", `{"source":{"host":"127.0.0.1","port":3306},"kafka":{"addr":"127.0.0.1:9092","topic":"t"},"filters":[{"dbname":"d"}]}`, ""},
		{"not json", `task:`, "body: is not valid JSON"},
		{"unknown field with its path", strings.Replace(body, `"port":3306`, `"port":3306,"ssl":true`, 1), "task.source.ssl: unknown field"},
		{"duplicate key", strings.Replace(body, `"topic":"t"`, `"topic":"t","topic":"u"`, 1), "task.kafka.topic: duplicate key"},
		{"case-folded key", strings.Replace(body, `"kafka"`, `"Kafka"`, 1), `task.Kafka: unknown field (did you mean "kafka"?)`},
		{"bare task with a duplicate key", `{"source":{"host":"127.0.0.1","port":3306,"port":3307},"kafka":{"addr":"127.0.0.1:9092","topic":"t"},"filters":[{"dbname":"d"}]}`, "task.source.port: duplicate key"},
		{"invalid spec", `{"task":{"source":{"host":"h","port":0},"kafka":{"addr":"127.0.0.1:9092","topic":"t"},"filters":[{"dbname":"d"}]}}`, "task.source.port"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "task.json")
			if err := os.WriteFile(p, []byte(tt.content), 0o600); err != nil {
				t.Fatal(err)
			}
			spec, _, err := taskfile.ReadSpec(p)
			if tt.err == "" {
				if err != nil || spec.Kafka.Topic != "t" {
					t.Fatalf("spec %+v, err %v", spec, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Fatalf("err %v, want it to mention %q", err, tt.err)
			}
		})
	}
}

// TestRecord covers the lock, the status round trip and spec edits as new versions.
func TestRecord(t *testing.T) {
	dir := t.TempDir()
	spec := filepath.Join(dir, "task.json")
	if err := os.WriteFile(spec, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	state := filepath.Join(dir, "state")
	a, b := taskfile.New(1, spec, state), taskfile.New(1, spec, state)
	ctx := context.Background()
	if err := a.SaveStatus(ctx, &api.Status{State: api.StateRunning}); !errors.Is(err, store.ErrLockLost) {
		t.Fatalf("save without the lock: %v", err)
	}
	if _, err := a.Lock(ctx); err != nil {
		t.Fatal(err)
	}
	short, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	if _, err := b.Lock(short); err == nil {
		t.Fatal("a second control took a held lock")
	}
	if st, err := a.Status(ctx); err != nil || st != nil {
		t.Fatalf("status before any save: %+v, %v", st, err)
	}
	want := &api.Status{State: api.StateRunning, Pos: "MariaDB/0-1-5", RowsSent: 7}
	if err := a.SaveStatus(ctx, want); err != nil {
		t.Fatal(err)
	}
	if got, err := b.Status(ctx); err != nil || got.Pos != want.Pos || got.RowsSent != 7 {
		t.Fatalf("status %+v, %v", got, err)
	}
	if err := a.Unlock(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Lock(ctx); err != nil {
		t.Fatalf("lock after unlock: %v", err)
	}
	defer b.Unlock(ctx)

	task, err := b.Task(ctx)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan *api.Task, 1)
	go func() {
		t2, _ := b.WatchTask(ctx, task.Version)
		done <- t2
	}()
	edited := strings.Replace(body, `"topic":"t"`, `"topic":"t2"`, 1)
	if err := os.WriteFile(spec, []byte(edited), 0o600); err != nil {
		t.Fatal(err)
	}
	select {
	case t2 := <-done:
		if t2 == nil || t2.Version == task.Version || t2.Spec.Kafka.Topic != "t2" {
			t.Fatalf("watch returned %+v", t2)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("an edit of the task file was not seen")
	}
}
