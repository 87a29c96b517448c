package produce

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/IBM/sarama"

	"github.com/dtsrepl/dts/api"
)

// FromSpec is the Config of a task's kafka settings with its secrets: the SASL password and the
// client key come from creds (the stored credentials) when they are there, else from the spec
// (a task file). The worker's producer and the dispatcher's precheck, preview and verify all
// reach the cluster through it, alike.
func FromSpec(k api.Kafka, creds *api.Credentials, clientID string) (Config, error) {
	cfg := Config{Brokers: SplitAddrs(k.Addr), ClientID: clientID, Compression: k.Compression, MaxMessageBytes: k.MaxMessageBytes}
	if creds == nil {
		creds = &api.Credentials{}
	}
	if t := k.TLS; t != nil && t.Enabled {
		keyPEM := t.KeyPEM
		if creds.KafkaKeyPEM != "" {
			keyPEM = creds.KafkaKeyPEM
		}
		tc, err := tlsConfig(t, keyPEM)
		if err != nil {
			return cfg, err
		}
		cfg.TLS = tc
	}
	if s := k.SASL; s != nil {
		pass := s.Password
		if creds.KafkaSASLPassword != "" {
			pass = creds.KafkaSASLPassword
		}
		if pass == "" {
			return cfg, errors.New("kafka.sasl.password: no password is known for the task: alter the task with kafka.sasl.password")
		}
		cfg.SASL = &SASL{Mechanism: s.Mechanism, User: s.Username, Password: pass}
	}
	return cfg, nil
}

// tlsConfig builds the TLS configuration of kafka.tls, with the client key keyPEM.
func tlsConfig(t *api.KafkaTLS, keyPEM string) (*tls.Config, error) {
	cfg := &tls.Config{ServerName: t.ServerName, InsecureSkipVerify: t.InsecureSkipVerify, MinVersion: tls.VersionTLS12}
	if t.CAPEM != "" {
		pool, err := api.CertPool(t.CAPEM)
		if err != nil {
			return nil, fmt.Errorf("kafka.tls.ca_pem: %w", err)
		}
		cfg.RootCAs = pool
	}
	if t.CertPEM != "" {
		if keyPEM == "" {
			return nil, errors.New("kafka.tls.key_pem: no client key is known for the task: alter the task with kafka.tls.key_pem")
		}
		cert, err := tls.X509KeyPair([]byte(t.CertPEM), []byte(keyPEM))
		if err != nil {
			return nil, fmt.Errorf("kafka.tls.cert_pem and key_pem: %w", err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg, nil
}

// SplitAddrs splits a comma-separated broker list (kafka.addr).
func SplitAddrs(s string) []string {
	var out []string
	for _, a := range strings.Split(s, ",") {
		if a = strings.TrimSpace(a); a != "" {
			out = append(out, a)
		}
	}
	return out
}

// Reader is a read-only connection to a cluster, made like the producer's (TLS, SASL, frame
// checks) but with a consumer's settings: metadata requests never create topics, and offsets
// are read committed. Close it.
type Reader struct {
	Client sarama.Client
	// Admin is nil when the cluster does not answer admin requests.
	Admin  sarama.ClusterAdmin
	dialer *dialer
}

// NewReader connects to the cluster of cfg. Every network step is bounded by timeout
// (default 10s), and a failed metadata request is retried once.
func NewReader(cfg Config, timeout time.Duration) (*Reader, error) {
	return newReader(cfg, timeout, 1)
}

func newReader(cfg Config, timeout time.Duration, retries int) (*Reader, error) {
	if timeout <= 0 {
		timeout = dialTimeout
	}
	if cfg.MaxResponseBytes <= 0 {
		cfg.MaxResponseBytes = defaultMaxResponseBytes
	}
	d := newDialer(timeout, cfg.MaxResponseBytes, cfg.TLS)
	sc, err := saramaConfig(cfg, d)
	if err != nil {
		return nil, err
	}
	sc.Net.DialTimeout, sc.Net.ReadTimeout, sc.Net.WriteTimeout = timeout, timeout, timeout
	sc.Metadata.AllowAutoTopicCreation = false
	sc.Metadata.Retry.Max = retries
	sc.Metadata.Retry.BackoffFunc = func(int, int) time.Duration { return 200 * time.Millisecond }
	sc.Consumer.IsolationLevel = sarama.ReadCommitted
	sc.Producer.Idempotent = false // never produces; an idempotent config asks for more
	sc.Net.MaxOpenRequests = 5
	client, err := sarama.NewClient(cfg.Brokers, sc)
	if err != nil {
		return nil, connectError(strings.Join(cfg.Brokers, ","), d, err)
	}
	r := &Reader{Client: client, dialer: d}
	if admin, err := sarama.NewClusterAdminFromClient(client); err == nil {
		r.Admin = admin
	}
	return r, nil
}

// Close closes the connections.
func (r *Reader) Close() error {
	if r.Admin != nil {
		return r.Admin.Close() // closes the client too
	}
	return r.Client.Close()
}

// ClusterInfo is what Check learns about a cluster without writing to it.
type ClusterInfo struct {
	// Brokers are the addresses the cluster advertises.
	Brokers []string
	// MessageMaxBytes is the cluster's message.max.bytes, 0 when it could not be read.
	MessageMaxBytes int
	// AutoCreateTopics is auto.create.topics.enable, nil when it could not be read;
	// DefaultPartitions is num.partitions, what an auto-created topic gets (0 when unknown).
	AutoCreateTopics  *bool
	DefaultPartitions int
	// Transactions reports whether the brokers take transactional producers (InitProducerId).
	Transactions bool
	// Topics maps every topic of the cluster to its partition count and limit.
	Topics map[string]TopicInfo
}

// TopicInfo is one topic of a cluster.
type TopicInfo struct {
	Partitions int
	// MaxMessageBytes is the topic's max.message.bytes where it was asked for and set; 0 means
	// the cluster's.
	MaxMessageBytes int
}

// Limit is the largest message topic accepts, by the cluster's and the topic's settings (and
// Kafka's default when neither could be read).
func (c *ClusterInfo) Limit(topic string) int {
	limit := c.MessageMaxBytes
	if limit <= 0 {
		limit = defaultMaxMessageBytes
	}
	if t, ok := c.Topics[topic]; ok && t.MaxMessageBytes > 0 {
		limit = min(limit, t.MaxMessageBytes)
	}
	return limit
}

// Check connects to the cluster like the producer and reads its brokers, settings, topics and
// their partition counts, and the max.message.bytes of the topics named; it produces nothing and
// creates no topic. Errors that connecting again cannot fix (TLS, SASL, not a Kafka broker) match
// ErrRejected; others are the cluster being unreachable. ctx bounds the whole check.
func Check(ctx context.Context, cfg Config, topics []string) (*ClusterInfo, error) {
	// One attempt, each step bounded by what is left of ctx: the check's goroutine ends when
	// ctx does, not one of sarama's retries later.
	timeout := dialTimeout
	if dl, ok := ctx.Deadline(); ok {
		timeout = max(min(time.Until(dl), timeout), 100*time.Millisecond)
	}
	type result struct {
		info *ClusterInfo
		err  error
	}
	done := make(chan result, 1)
	// sarama takes no context: the check runs beside the caller, bounded by its timeouts.
	go func() {
		info, err := check(cfg, timeout, topics)
		done <- result{info, err}
	}()
	select {
	case r := <-done:
		return r.info, r.err
	case <-ctx.Done():
		return nil, fmt.Errorf("check kafka %s: %w", strings.Join(cfg.Brokers, ","), ctx.Err())
	}
}

func check(cfg Config, timeout time.Duration, topics []string) (*ClusterInfo, error) {
	r, err := newReader(cfg, timeout, 0)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	c := r.Client
	info := &ClusterInfo{Topics: map[string]TopicInfo{}}
	for _, b := range c.Brokers() {
		info.Brokers = append(info.Brokers, b.Addr())
	}
	if err := c.RefreshMetadata(); err != nil {
		return nil, connectError(strings.Join(cfg.Brokers, ","), r.dialer, err)
	}
	names, err := c.Topics()
	if err != nil {
		return nil, fmt.Errorf("list topics: %w", err)
	}
	for _, name := range names {
		parts, err := c.Partitions(name)
		if err != nil {
			return nil, fmt.Errorf("partitions of topic %s: %w", name, err)
		}
		info.Topics[name] = TopicInfo{Partitions: len(parts)}
	}
	if b, err := c.Controller(); err == nil {
		if vs, err := b.ApiVersions(&sarama.ApiVersionsRequest{}); err == nil {
			for _, k := range vs.ApiKeys {
				if k.ApiKey == 22 { // InitProducerId
					info.Transactions = true
				}
			}
		}
		if r.Admin != nil {
			entries, err := describeConfig(r.Admin, sarama.ConfigResource{Type: sarama.BrokerResource, Name: strconv.Itoa(int(b.ID())),
				ConfigNames: []string{"message.max.bytes", "auto.create.topics.enable", "num.partitions"}})
			if err == nil {
				for _, e := range entries {
					switch e.Name {
					case "message.max.bytes":
						info.MessageMaxBytes, _ = strconv.Atoi(e.Value)
					case "auto.create.topics.enable":
						if v, err := strconv.ParseBool(e.Value); err == nil {
							info.AutoCreateTopics = &v
						}
					case "num.partitions":
						info.DefaultPartitions, _ = strconv.Atoi(e.Value)
					}
				}
			}
		}
	}
	if r.Admin != nil {
		for _, t := range topics {
			ti, ok := info.Topics[t]
			if !ok {
				continue
			}
			entries, err := describeConfig(r.Admin, sarama.ConfigResource{Type: sarama.TopicResource, Name: t, ConfigNames: []string{"max.message.bytes"}})
			if err == nil {
				ti.MaxMessageBytes = configInt(entries, "max.message.bytes", 0)
				info.Topics[t] = ti
			}
		}
	}
	return info, nil
}
