package e2e

import (
	"context"
	"fmt"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/dtsrepl/dts/api"
	"github.com/dtsrepl/dts/internal/testenv"
	"github.com/dtsrepl/dts/store/consul"
)

// TestExactlyOnceKillNine kills an exactly_once worker with SIGKILL six times under a steady
// write load: a read_committed consumer sees every row version exactly once, in order per key.
func TestExactlyOnceKillNine(t *testing.T) {
	t.Parallel()
	bin := testenv.Build(t, "./cmd/dts")
	killNine(t, bin, testenv.StartMariaDB(t), api.ExactlyOnce)
}

// TestExactlyOnceSplitBrain freezes a worker (SIGSTOP) past its Consul session, lets a second
// worker take the task over, and wakes the first (SIGCONT): nothing the first writes after the
// takeover is visible to a read_committed consumer, and it stops, fenced.
func TestExactlyOnceSplitBrain(t *testing.T) {
	t.Parallel()
	bin := testenv.Build(t, "./cmd/dts")
	c := testenv.StartConsul(t)
	db := testenv.StartMariaDB(t)
	kafka := testenv.StartKafka(t, 2)
	db.Exec(t, "CREATE DATABASE t", "CREATE TABLE t.kv (id INT PRIMARY KEY, seq INT, pad VARCHAR(200))")
	st := consul.New(c.Client, "")
	ctx := context.Background()
	id, err := st.Create(ctx, &api.Task{Version: 1, Desired: api.DesiredRunning, Spec: api.TaskSpec{
		Source:  &api.Source{Host: db.Host, Port: db.Port, Username: db.User},
		Kafka:   api.Kafka{Addr: kafka.Addr(), Topic: "kv", PartitionMode: api.PartitionByPrimaryKey, Delivery: api.ExactlyOnce},
		Filters: []api.Filter{{DBName: "t", Match: "kv"}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	env := childEnv("CONSUL_HTTP_ADDR="+c.Addr, "DTS_SOURCE_USER="+db.User, "DTS_SOURCE_PASSWORD="+db.Password)
	start := func(name string) *testenv.Process {
		port := testenv.FreePort(t)
		return testenv.StartProcess(t, name, t.TempDir(), env, syscall.SIGTERM, bin, "worker", "--task", fmt.Sprint(id),
			"--listen", net.JoinHostPort("127.0.0.1", fmt.Sprint(port)), "--log-level", "info")
	}
	status := func() *api.Status {
		s, _ := st.Status(ctx, id)
		return s
	}
	wait := func(what string, ok func(*api.Status) bool) {
		t.Helper()
		deadline := time.Now().Add(90 * time.Second)
		for s := status(); s == nil || !ok(s); s = status() {
			if time.Now().After(deadline) {
				t.Fatalf("status never %s: %+v", what, s)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	a := start("worker-a")
	wait("Running", func(s *api.Status) bool { return s.State == api.StateRunning })

	l := testenv.NewLoad(db)
	l.Pause = 5 * time.Millisecond
	lctx, cancel := context.WithCancel(ctx)
	defer cancel()
	loadErr := make(chan error, 1)
	go func() { loadErr <- l.Run(t, lctx, 50, 5) }()
	time.Sleep(2 * time.Second)

	// A freezes with a transaction open; its session expires and B takes over.
	if err := a.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	b := start("worker-b")
	wait("taken over by B", func(s *api.Status) bool {
		return s.State == api.StateRunning && !strings.Contains(s.Worker, fmt.Sprint(a.Pid()))
	})
	time.Sleep(2 * time.Second)
	// A wakes up, still believing it runs the task.
	if err := a.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	time.Sleep(3 * time.Second)
	cancel()
	if err := <-loadErr; err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(60 * time.Second)
	for exited, _ := a.Exited(); !exited; exited, _ = a.Exited() {
		if time.Now().After(deadline) {
			t.Fatalf("the frozen worker kept running after it woke up:\n%s", a.Log())
		}
		time.Sleep(100 * time.Millisecond)
	}
	if !strings.Contains(a.Log(), "fenced") && !strings.Contains(a.Log(), "lock lost") {
		t.Errorf("the first worker stopped without saying it was fenced:\n%s", a.Log())
	}
	total := l.Total()
	kafka.WaitCommitted(t, "kv", total, 90*time.Second)
	msgs, dups := l.VerifyCommitted(t, kafka, "kv")
	if dups != 0 || msgs != total {
		t.Errorf("a read_committed consumer saw %d messages for %d row changes (%d duplicates)", msgs, total, dups)
	}
	t.Logf("%d row changes, %d committed messages; %d offsets written in all (with aborted records and markers)", total, msgs, kafka.Written(t, "kv"))
	if exited, err := b.Exited(); exited {
		t.Fatalf("the second worker exited: %v\n%s", err, b.Log())
	}
}
