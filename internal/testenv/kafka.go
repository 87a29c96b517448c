package testenv

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kfake"
)

// Kafka is a Kafka-protocol broker: in-process kfake (Cluster set) or the devkafka binary
// (Proc set).
type Kafka struct {
	Addrs   []string
	Cluster *kfake.Cluster
	Proc    *Process

	opts []kfake.Opt // how Cluster was started, for Restart
	// secure sets up the test's own clients (Read, Produce) for a secured broker.
	secure func(*sarama.Config)
}

// clientConfig is how the test's own clients reach the broker.
func (k *Kafka) clientConfig() *sarama.Config {
	cfg := SaramaConfig()
	if k.secure != nil {
		k.secure(cfg)
	}
	return cfg
}

// SecureKafka says how StartSecureKafka secures a broker.
type SecureKafka struct {
	// CA, when set, signs the broker's certificate (for 127.0.0.1) and TLS is on.
	CA *CA
	// ServerName is the name the certificate carries instead of 127.0.0.1 (a mismatch test).
	ServerName string
	// RequireClientCert makes the broker refuse clients without a certificate signed by CA
	// (mutual TLS); the test's own clients get one.
	RequireClientCert bool
	// Mechanism, User and Password, when set, turn SASL on with that superuser.
	Mechanism, User, Password string
}

// StartSecureKafka starts an in-process broker with TLS and/or SASL. The test's own clients get
// a PLAIN superuser of their own.
func StartSecureKafka(t testing.TB, partitions int, sec SecureKafka, opts ...kfake.Opt) *Kafka {
	t.Helper()
	var clientTLS *tls.Config
	if sec.CA != nil {
		name := sec.ServerName
		if name == "" {
			name = "127.0.0.1"
		}
		cert := sec.CA.Issue(t, name)
		serverTLS := &tls.Config{Certificates: []tls.Certificate{cert.TLS}, MinVersion: tls.VersionTLS12}
		pool, err := x509.SystemCertPool()
		if err != nil || pool == nil {
			pool = x509.NewCertPool()
		}
		pool.AppendCertsFromPEM([]byte(sec.CA.PEM))
		clientTLS = &tls.Config{RootCAs: pool, ServerName: name}
		if sec.RequireClientCert {
			clients := x509.NewCertPool()
			clients.AppendCertsFromPEM([]byte(sec.CA.PEM))
			serverTLS.ClientAuth, serverTLS.ClientCAs = tls.RequireAndVerifyClientCert, clients
			clientTLS.Certificates = []tls.Certificate{sec.CA.Issue(t, "testenv").TLS}
		}
		opts = append(opts, kfake.TLS(serverTLS))
	}
	if sec.Mechanism != "" {
		opts = append(opts, kfake.EnableSASL(), kfake.Superuser(sec.Mechanism, sec.User, sec.Password), kfake.Superuser("PLAIN", "testenv", "testenv"))
	}
	k := StartKafka(t, partitions, opts...)
	k.secure = func(cfg *sarama.Config) {
		if clientTLS != nil {
			cfg.Net.TLS.Enable = true
			cfg.Net.TLS.Config = clientTLS
		}
		if sec.Mechanism != "" {
			cfg.Net.SASL.Enable = true
			cfg.Net.SASL.Mechanism = sarama.SASLTypePlaintext
			cfg.Net.SASL.User, cfg.Net.SASL.Password = "testenv", "testenv"
		}
	}
	return k
}

// Addr is the comma-separated broker list, as a task's kafka.addr.
func (k *Kafka) Addr() string { return strings.Join(k.Addrs, ",") }

// StartKafka starts an in-process kfake broker whose auto-created topics have the given number
// of partitions, and closes it in t.Cleanup.
func StartKafka(t testing.TB, partitions int, opts ...kfake.Opt) *Kafka {
	t.Helper()
	opts = append([]kfake.Opt{
		kfake.NumBrokers(1),
		kfake.Ports(FreePort(t)),
		kfake.AllowAutoTopicCreation(),
		kfake.DefaultNumPartitions(partitions),
	}, opts...)
	c, err := kfake.NewCluster(opts...)
	if err != nil {
		t.Fatalf("start kfake: %v", err)
	}
	k := &Kafka{Addrs: c.ListenAddrs(), Cluster: c, opts: opts}
	t.Cleanup(func() {
		if k.Cluster != nil {
			k.Cluster.Close()
		}
	})
	return k
}

// StartDurableKafka starts an in-process broker that keeps its data in a directory, so Stop and
// Restart (on the same port) lose nothing: a broker outage for fault tests.
func StartDurableKafka(t testing.TB, partitions int, opts ...kfake.Opt) *Kafka {
	t.Helper()
	return StartKafka(t, partitions, append([]kfake.Opt{kfake.DataDir(t.TempDir())}, opts...)...)
}

// Stop stops an in-process broker; clients see connections refused until Restart.
func (k *Kafka) Stop() {
	if k.Cluster != nil {
		k.Cluster.Close()
		k.Cluster = nil
	}
}

// Restart starts a stopped in-process broker again on the same port with the same options.
func (k *Kafka) Restart(t testing.TB) {
	t.Helper()
	if k.Cluster != nil {
		t.Fatal("restart kfake: it is running")
	}
	var err error
	for range 50 { // the port may linger a moment after Close
		if k.Cluster, err = kfake.NewCluster(k.opts...); err == nil {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("restart kfake: %v", err)
}

// StartKafkaProcess builds and starts deploy/devkafka as its own process.
func StartKafkaProcess(t testing.TB, partitions int) *Kafka {
	t.Helper()
	bin := Build(t, "./deploy/devkafka")
	port := FreePort(t)
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	proc := StartProcess(t, "devkafka", t.TempDir(), baseEnv(), syscall.SIGTERM,
		bin, "--listen", addr, "--partitions", strconv.Itoa(partitions))
	k := &Kafka{Addrs: []string{addr}, Proc: proc}
	err := WaitFor(context.Background(), proc, 30*time.Second, func(context.Context) error {
		c, err := sarama.NewClient(k.Addrs, k.clientConfig())
		if err != nil {
			return err
		}
		return c.Close()
	})
	if err != nil {
		t.Fatalf("devkafka did not start: %v", err)
	}
	return k
}

// SaramaConfig is a client configuration that works against kfake.
func SaramaConfig() *sarama.Config {
	cfg := sarama.NewConfig()
	cfg.Version = sarama.V3_6_0_0
	cfg.ClientID = "dts-test"
	cfg.Metadata.Retry.Backoff = 50 * time.Millisecond
	cfg.Producer.Return.Successes = true
	cfg.Producer.RequiredAcks = sarama.WaitForAll
	return cfg
}

// Record is one Kafka record read back by a test.
type Record struct {
	Topic     string
	Partition int32
	Offset    int64
	Key       []byte
	Value     []byte
}

// JSON decodes the record's value.
func (r Record) JSON(t testing.TB) map[string]any {
	t.Helper()
	var m map[string]any
	d := json.NewDecoder(strings.NewReader(string(r.Value)))
	d.UseNumber()
	if err := d.Decode(&m); err != nil {
		t.Fatalf("record %s/%d@%d is not JSON: %v: %s", r.Topic, r.Partition, r.Offset, err, r.Value)
	}
	return m
}

// CompactJSON re-encodes a JSON document with its object keys sorted and its numbers as written,
// so that two encodings of one value compare equal; what is not JSON is returned as it is.
func CompactJSON(b []byte) string {
	var v any
	d := json.NewDecoder(strings.NewReader(string(b)))
	d.UseNumber()
	if err := d.Decode(&v); err != nil {
		return string(b)
	}
	out, _ := json.Marshal(v)
	return string(out)
}

// Topics lists the broker's topics.
func (k *Kafka) Topics(t testing.TB) []string {
	t.Helper()
	c, err := sarama.NewClient(k.Addrs, k.clientConfig())
	if err != nil {
		t.Fatalf("kafka client: %v", err)
	}
	defer c.Close()
	ts, err := c.Topics()
	if err != nil {
		t.Fatalf("kafka topics: %v", err)
	}
	return ts
}

// Read returns every record of topic, partition by partition in offset order. A topic that does
// not exist reads as empty.
func (k *Kafka) Read(t testing.TB, topic string) []Record {
	t.Helper()
	recs, err := k.read(topic)
	if err != nil {
		t.Fatalf("read topic %s: %v", topic, err)
	}
	return recs
}

// WaitRecords polls topic until it holds at least n records or timeout passes.
func (k *Kafka) WaitRecords(t testing.TB, topic string, n int, timeout time.Duration) []Record {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var recs []Record
	for {
		var err error
		recs, err = k.read(topic)
		if err == nil && len(recs) >= n {
			return recs
		}
		if time.Now().After(deadline) {
			t.Fatalf("topic %s: want at least %d records, have %d after %s (last error: %v)", topic, n, len(recs), timeout, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// ReadCommitted returns what a consumer with isolation.level read_committed sees of topic:
// nothing of aborted or open transactions.
func (k *Kafka) ReadCommitted(t testing.TB, topic string) []Record {
	t.Helper()
	recs, err := k.readAs(topic, true)
	if err != nil {
		t.Fatalf("read topic %s: %v", topic, err)
	}
	return recs
}

// WaitCommitted polls topic until a read_committed consumer sees at least n records.
func (k *Kafka) WaitCommitted(t testing.TB, topic string, n int, timeout time.Duration) []Record {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		recs, err := k.readAs(topic, true)
		if err == nil && len(recs) >= n {
			return recs
		}
		if time.Now().After(deadline) {
			t.Fatalf("topic %s: want at least %d committed records, have %d after %s (last error: %v)", topic, n, len(recs), timeout, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func (k *Kafka) read(topic string) ([]Record, error) { return k.readAs(topic, false) }

// Written counts the offsets of topic: every record written, committed or aborted, and the
// transaction markers.
func (k *Kafka) Written(t testing.TB, topic string) int64 {
	t.Helper()
	c, err := sarama.NewClient(k.Addrs, k.clientConfig())
	if err != nil {
		t.Fatalf("kafka client: %v", err)
	}
	defer c.Close()
	parts, err := c.Partitions(topic)
	if err != nil {
		t.Fatalf("partitions of %s: %v", topic, err)
	}
	var n int64
	for _, p := range parts {
		high, err := c.GetOffset(topic, p, sarama.OffsetNewest)
		if err != nil {
			t.Fatalf("offsets of %s/%d: %v", topic, p, err)
		}
		low, err := c.GetOffset(topic, p, sarama.OffsetOldest)
		if err != nil {
			t.Fatalf("offsets of %s/%d: %v", topic, p, err)
		}
		n += high - low
	}
	return n
}

func (k *Kafka) readAs(topic string, committed bool) ([]Record, error) {
	cfg := k.clientConfig()
	if committed {
		cfg.Consumer.IsolationLevel = sarama.ReadCommitted
	}
	c, err := sarama.NewClient(k.Addrs, cfg)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	if err := c.RefreshMetadata(); err != nil {
		return nil, err
	}
	topics, err := c.Topics()
	if err != nil {
		return nil, err
	}
	found := false
	for _, tp := range topics {
		found = found || tp == topic
	}
	if !found {
		return nil, nil
	}
	parts, err := c.Partitions(topic)
	if err != nil {
		return nil, err
	}
	cons, err := sarama.NewConsumerFromClient(c)
	if err != nil {
		return nil, err
	}
	defer cons.Close()
	var out []Record
	for _, p := range parts {
		high, err := c.GetOffset(topic, p, sarama.OffsetNewest)
		if err != nil {
			return nil, err
		}
		low, err := c.GetOffset(topic, p, sarama.OffsetOldest)
		if err != nil {
			return nil, err
		}
		if high <= low {
			continue
		}
		pc, err := cons.ConsumePartition(topic, p, low)
		if err != nil {
			return nil, err
		}
		timeout := time.After(60 * time.Second)
		// Transaction markers take offsets no consumer sees, and read_committed stops at the last
		// stable offset: a partition ending in a marker or an open transaction never reaches its
		// high watermark, so quiet seconds end it. Read uncommitted, only a marker can end it, and
		// only after a record: the quiet wait is longer and starts with the first record, as under
		// load one fetch can take seconds.
		quietFor := 3 * time.Second
		quiet := time.NewTimer(quietFor)
		if !committed {
			quietFor = 10 * time.Second
			quiet.Stop()
		}
	loop:
		for {
			select {
			case m := <-pc.Messages():
				out = append(out, Record{Topic: topic, Partition: p, Offset: m.Offset, Key: m.Key, Value: m.Value})
				if m.Offset+1 >= high {
					break loop
				}
				quiet.Reset(quietFor)
			case <-quiet.C:
				break loop
			case err := <-pc.Errors():
				pc.Close()
				return nil, err
			case <-timeout:
				pc.Close()
				return nil, errors.New("timed out reading partition")
			}
		}
		pc.Close()
	}
	return out, nil
}

// Produce writes one record, for tests of the broker itself.
func (k *Kafka) Produce(t testing.TB, topic string, key, value []byte) (int32, int64) {
	t.Helper()
	p, err := sarama.NewSyncProducer(k.Addrs, k.clientConfig())
	if err != nil {
		t.Fatalf("producer: %v", err)
	}
	defer p.Close()
	part, off, err := p.SendMessage(&sarama.ProducerMessage{Topic: topic, Key: sarama.ByteEncoder(key), Value: sarama.ByteEncoder(value)})
	if err != nil {
		t.Fatalf("produce to %s: %v", topic, err)
	}
	return part, off
}
