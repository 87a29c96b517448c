package precheck_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"

	"github.com/dtsrepl/dts/api"
	"github.com/dtsrepl/dts/internal/testenv"
	"github.com/dtsrepl/dts/precheck"
)

func TestMain(m *testing.M) { testenv.Main(m) }

const (
	replUser = "dts_repl"
	replPass = "repl-secret-Ab3"
)

// source starts a MariaDB with a shop database: orders (a primary key), notes (none), docs (a
// LONGTEXT column), and the replication account dts documents.
func source(t *testing.T, opts ...testenv.MariaDBOption) *testenv.MariaDB {
	t.Helper()
	db := testenv.StartMariaDB(t, opts...)
	db.Exec(t,
		"CREATE DATABASE shop",
		"CREATE TABLE shop.orders (id INT PRIMARY KEY, status INT, qty INT, note VARCHAR(100))",
		"CREATE TABLE shop.notes (body VARCHAR(200))",
		"CREATE TABLE shop.docs (id INT PRIMARY KEY, body LONGTEXT)",
		"INSERT INTO shop.orders VALUES (1, 1, 2, 'a'), (2, 0, 3, 'b'), (3, 1, 4, 'c')",
	)
	db.CreateReplicationUser(t, replUser, replPass)
	return db
}

func spec(db *testenv.MariaDB, kafka string, filters ...api.Filter) *api.TaskSpec {
	return &api.TaskSpec{
		Source:  &api.Source{Host: db.Host, Port: db.Port, Username: replUser, Password: replPass},
		Kafka:   api.Kafka{Addr: kafka, Topic: "shop_changes"},
		Filters: filters,
	}
}

func run(t *testing.T, s *api.TaskSpec) *api.Checklist {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	l := precheck.Run(ctx, precheck.Input{Spec: s})
	b, _ := json.MarshalIndent(l, "", "  ")
	t.Logf("checklist: %s", b)
	for _, secret := range []string{replPass, testenv.Endpoint{}.Password} {
		if secret != "" && strings.Contains(string(b), secret) {
			t.Errorf("the checklist shows a secret")
		}
	}
	return l
}

// want finds item id and checks its status (and blocking) and that its detail holds each of
// words.
func want(t *testing.T, l *api.Checklist, id string, st api.CheckStatus, blocking bool, words ...string) {
	t.Helper()
	it := l.Item(id)
	if it == nil {
		t.Errorf("no item %s", id)
		return
	}
	if it.Status != st || it.Blocking != blocking {
		t.Errorf("%s: %s blocking=%v, want %s blocking=%v: %s", id, it.Status, it.Blocking, st, blocking, it.Detail)
	}
	for _, w := range words {
		if !strings.Contains(it.Detail, w) {
			t.Errorf("%s: detail %q lacks %q", id, it.Detail, w)
		}
	}
}

func createTopic(t *testing.T, k *testenv.Kafka, topic string, partitions int32) {
	t.Helper()
	admin, err := sarama.NewClusterAdmin(k.Addrs, testenv.SaramaConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	if err := admin.CreateTopic(topic, &sarama.TopicDetail{NumPartitions: partitions, ReplicationFactor: 1}, false); err != nil {
		t.Fatalf("create topic %s: %v", topic, err)
	}
}

// TestPrecheck runs the checks on one source: a task that passes, then one broken in each way
// the checks find.
func TestPrecheck(t *testing.T) {
	t.Parallel()
	db := source(t)
	kafka := testenv.StartKafka(t, 3)
	createTopic(t, kafka, "shop_changes", 3)

	t.Run("passes", func(t *testing.T) {
		l := run(t, spec(db, kafka.Addr(), api.Filter{DBName: "shop", Match: "orders", Filter: "status = 1"}))
		if l.Result != api.CheckPass {
			t.Errorf("result %s, want pass", l.Result)
		}
		for _, id := range []string{"source.reachable", "source.credentials", "source.log_bin", "source.binlog_format", "source.binlog_row_image",
			"source.binlog_row_metadata", "source.gtid", "source.privileges", "source.server_id", "tables.matched", "source.select",
			"tables.primary_key", "tables.filter_columns", "kafka.reachable", "kafka.topics", "kafka.message_size"} {
			want(t, l, id, api.CheckPass, false)
		}
		want(t, l, "kafka.topics", api.CheckPass, false, "shop_changes (3 partitions)")
		if len(l.Tables) != 1 || l.Tables[0].Table != "orders" || l.Tables[0].Partitions != 3 || l.Tables[0].WidestMessageBytes == 0 ||
			strings.Join(l.Tables[0].PrimaryKey, ",") != "id" {
			t.Errorf("tables %+v", l.Tables)
		}
	})
	t.Run("no match, unknown column, no key, excluded key, wide rows", func(t *testing.T) {
		s := spec(db, kafka.Addr(),
			api.Filter{DBName: "shop", Match: `/orders_\d+/`},
			api.Filter{DBName: "shop", Match: "orders", Filter: "colour = 'red'"},
			api.Filter{DBName: "shop", Match: "notes"},
			api.Filter{DBName: "shop", Match: "docs"},
		)
		s.Kafka.ExcludeColumns = api.StringList{"ID"}
		l := run(t, s)
		want(t, l, "tables.filter_matches", api.CheckWarn, false, `filters[0]`, `orders_`)
		want(t, l, "tables.filter_columns", api.CheckFail, true, "colour", "shop.orders")
		want(t, l, "tables.primary_key", api.CheckWarn, false, "shop.notes")
		want(t, l, "tables.key_excluded", api.CheckFail, true, "id", "shop.orders")
		want(t, l, "kafka.message_size", api.CheckWarn, false, "shop.docs", "body")
		if l.Result != api.CheckFail || len(l.Blocking()) != 2 {
			t.Errorf("result %s, blocking %+v", l.Result, l.Blocking())
		}
	})
	t.Run("missing privileges", func(t *testing.T) {
		db.Exec(t, "CREATE USER 'reader'@'127.0.0.1' IDENTIFIED BY 'reader-pw'", "GRANT SELECT ON shop.* TO 'reader'@'127.0.0.1'")
		s := spec(db, kafka.Addr(), api.Filter{DBName: "shop", Match: "orders"})
		s.Source.Username, s.Source.Password = "reader", "reader-pw"
		l := run(t, s)
		want(t, l, "source.privileges", api.CheckFail, true, "REPLICATION SLAVE", "REPLICATION CLIENT")
		want(t, l, "source.select", api.CheckPass, false)
	})
	t.Run("wrong password", func(t *testing.T) {
		s := spec(db, kafka.Addr(), api.Filter{DBName: "shop", Match: "orders"})
		s.Source.Password = "not-the-password"
		l := run(t, s)
		want(t, l, "source.credentials", api.CheckFail, true, "Access denied")
	})
	t.Run("retention shorter than the copy", func(t *testing.T) {
		db.Exec(t, "SET GLOBAL binlog_expire_logs_seconds = 3600", "ANALYZE TABLE shop.orders")
		t.Cleanup(func() { db.Exec(t, "SET GLOBAL binlog_expire_logs_seconds = 0") })
		s := spec(db, kafka.Addr(), api.Filter{DBName: "shop", Match: "orders"})
		incr := false
		s.Incr = &incr
		s.RateLimit = &api.RateLimit{Rate: 0.0005}
		l := run(t, s)
		want(t, l, "source.binlog_retention", api.CheckFail, true, "binlog_expire_logs_seconds = 3600")
		s.RateLimit = nil
		l = run(t, s)
		want(t, l, "source.binlog_retention", api.CheckPass, false, "1h0m0s")
	})
	t.Run("unreachable", func(t *testing.T) {
		s := spec(db, "127.0.0.1:1", api.Filter{DBName: "shop", Match: "orders"})
		s.Source.Port = 1
		l := run(t, s)
		want(t, l, "source.reachable", api.CheckFail, false, "cannot be reached")
		want(t, l, "kafka.reachable", api.CheckFail, false, "cannot be reached")
		if len(l.Blocking()) != 0 {
			t.Errorf("unreachable servers block: %+v", l.Blocking())
		}
	})
}

// TestPrecheckSilent: servers that accept connections and never answer are unreachable after
// the reach bound, not a hang and not a blocking failure.
func TestPrecheckSilent(t *testing.T) {
	t.Parallel()
	src, broker := testenv.StartSilentServer(t), testenv.StartSilentServer(t)
	s := &api.TaskSpec{
		Source:  &api.Source{Host: src.Host, Port: src.Port, Username: "u", Password: "p"},
		Kafka:   api.Kafka{Addr: fmt.Sprintf("%s:%d", broker.Host, broker.Port), Topic: "t"},
		Filters: []api.Filter{{DBName: "shop"}},
	}
	l := precheck.Run(context.Background(), precheck.Input{Spec: s, ReachTimeout: time.Second})
	want(t, l, "source.reachable", api.CheckFail, false, "did not complete the MySQL handshake")
	want(t, l, "kafka.reachable", api.CheckFail, false, "cannot be reached")
	if len(l.Blocking()) != 0 {
		t.Errorf("silent servers block: %+v", l.Blocking())
	}
}

// TestPrecheckRowImage: a source logging MINIMAL row images fails, blocking.
func TestPrecheckRowImage(t *testing.T) {
	t.Parallel()
	db := source(t, testenv.WithServerArgs("--binlog-row-image=MINIMAL", "--binlog-row-metadata=MINIMAL"))
	kafka := testenv.StartKafka(t, 1)
	l := run(t, spec(db, kafka.Addr(), api.Filter{DBName: "shop", Match: "orders"}))
	want(t, l, "source.binlog_row_image", api.CheckFail, true, "MINIMAL")
	want(t, l, "source.binlog_row_metadata", api.CheckWarn, false, "MINIMAL")
	want(t, l, "kafka.topics", api.CheckWarn, false, "shop_changes")
}

// TestPrecheckTLSAndSASL: the source's TLS and the brokers' TLS and SASL are checked the way
// the worker connects; a wrong CA or password is a blocking failure that names the fix, and no
// secret is shown.
func TestPrecheckTLSAndSASL(t *testing.T) {
	t.Parallel()
	ca := testenv.NewCA(t, "precheck-ca")
	other := testenv.NewCA(t, "other-ca")
	db := source(t, testenv.WithTLS(t, ca, true))
	kafka := testenv.StartSecureKafka(t, 1, testenv.SecureKafka{CA: ca, Mechanism: api.SASLScramSHA256, User: "dts", Password: "sasl-secret-1"})
	good := func() *api.TaskSpec {
		s := spec(db, kafka.Addr(), api.Filter{DBName: "shop", Match: "orders"})
		s.Source.TLS = &api.SourceTLS{Mode: api.TLSVerifyIdentity, CAPEM: ca.PEM}
		s.Kafka.TLS = &api.KafkaTLS{Enabled: true, CAPEM: ca.PEM}
		s.Kafka.SASL = &api.KafkaSASL{Mechanism: api.SASLScramSHA256, Username: "dts", Password: "sasl-secret-1"}
		return s
	}
	l := run(t, good())
	want(t, l, "source.tls", api.CheckPass, false, "verify_identity")
	want(t, l, "kafka.reachable", api.CheckPass, false, "TLS", "SASL SCRAM-SHA-256")
	if strings.Contains(fmt.Sprint(l), "sasl-secret-1") {
		t.Error("the checklist shows the SASL password")
	}

	s := good()
	s.Source.TLS.CAPEM = other.PEM
	s.Kafka.SASL.Password = "wrong-secret-2"
	l = run(t, s)
	want(t, l, "source.tls", api.CheckFail, true, "source.tls.ca_pem")
	want(t, l, "kafka.reachable", api.CheckFail, true, "kafka.sasl")
	if strings.Contains(fmt.Sprint(l), "wrong-secret-2") {
		t.Error("the checklist shows the SASL password")
	}

	s = good()
	s.Source.TLS = nil
	l = run(t, s)
	want(t, l, "source.credentials", api.CheckFail, true, "source.tls")
}
