// Package produce sends messages to Kafka with sarama: idempotent, acks=all, compressed and
// batched, at most one request in flight per broker so retries cannot reorder a partition, and
// a bound on the bytes in flight so a fast binlog reader waits for a slow cluster instead of
// filling memory.
package produce

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/IBM/sarama"
)

// Acker is told when Kafka has acknowledged a message.
type Acker interface{ Ack() }

// Config configures a Producer.
type Config struct {
	// Brokers are host:port addresses.
	Brokers  []string
	ClientID string
	// Compression is none, gzip, snappy, lz4 (default) or zstd.
	Compression string
	// MaxInFlightBytes bounds the bytes sent and not yet acknowledged (default 64 MiB).
	MaxInFlightBytes int64
	// MaxMessageBytes is the largest message the producer sends, as Kafka measures it against
	// max.message.bytes (a one-record batch). 0 takes the cluster's message.max.bytes, and a
	// topic's own max.message.bytes where it is lower.
	MaxMessageBytes int
	// MaxResponseBytes bounds one response from a broker (default 32 MiB).
	MaxResponseBytes int
	// TLS, when set, encrypts the broker connections; an empty ServerName is each broker's host.
	TLS *tls.Config
	// SASL, when set, authenticates them.
	SASL *SASL
	// TransactionalID, when set, makes the producer transactional (exactly-once): messages go
	// out in transactions (Begin, Commit) and a new producer with the same id fences every older
	// one at the brokers.
	TransactionalID string
	Logger          *slog.Logger
	// OnAck, if set, is told how many messages were acknowledged, after each run of
	// acknowledgements.
	OnAck func(n int)
}

// Errors of delivery.
var (
	// ErrDelivery wraps a message Kafka did not accept.
	ErrDelivery = errors.New("kafka delivery failed")
	// ErrRejected marks failures sending again cannot fix: the broker refuses the message or the
	// producer itself (too large, not authorized, invalid topic, not a Kafka broker). Errors
	// match it with errors.Is; their text is the cause's.
	ErrRejected = errors.New("kafka failure that retrying cannot fix")
	// ErrTooLarge: the message is larger than the topic accepts. Wrapped with ErrRejected.
	ErrTooLarge = errors.New("message larger than the topic accepts")
	// ErrFenced: a newer producer with the same transactional id (a newer incarnation of the
	// task's worker) took over; this one must stop at once.
	ErrFenced = errors.New("fenced by a newer producer of the task")
	// ErrNoTransactions: the brokers do not support transactions.
	ErrNoTransactions = errors.New("the Kafka brokers do not support transactions")
)

// transactionTimeout is how long the brokers keep a transaction open without a word from its
// producer: a worker that died is aborted after it (or at once when its successor starts).
const transactionTimeout = time.Minute

// Defaults.
const (
	defaultMaxMessageBytes  = 1000000
	defaultMaxResponseBytes = 32 << 20
	dialTimeout             = 10 * time.Second
	// batchOverhead is what a record batch of one message adds to it, as Kafka measures
	// max.message.bytes: the batch header (61 bytes) and sarama's bound on a record's own
	// overhead (36).
	batchOverhead = 61 + 36
)

// Producer is an asynchronous producer with acknowledgement callbacks. After its first
// delivery failure it sends nothing more: every connection is cut at once (see dialer), so a
// message queued behind the failed one can never reach Kafka before it.
type Producer struct {
	client sarama.Client
	admin  sarama.ClusterAdmin
	ap     sarama.AsyncProducer
	dialer *dialer
	budget budget
	log    *slog.Logger
	onAck  func(int)

	limit    int // the largest message, by the producer's own bound
	limitsMu sync.Mutex
	limits   map[string]topicLimit

	inflight     atomic.Int64
	lastProgress atomic.Int64 // unix nanoseconds of the last ack, or of a send after none was in flight

	failOnce  sync.Once
	closeOnce sync.Once
	failed    chan struct{}
	err       error
	done      chan struct{}
}

type topicLimit struct {
	bytes int
	at    time.Time
}

// topicLimitTTL is how long a topic's max.message.bytes is believed.
const topicLimitTTL = 5 * time.Minute

// envelope carries a message and its bookkeeping in one allocation, which is reused once Kafka
// has acknowledged the message (sarama reads no message it has returned as a success).
type envelope struct {
	msg        sarama.ProducerMessage
	key, value bytesEncoder
	acker      Acker
	size       int64
	hash       uint32
	origin     fmt.Stringer
}

var envelopes = sync.Pool{New: func() any { return new(envelope) }}

func (e *envelope) release() {
	*e = envelope{}
	envelopes.Put(e)
}

// bytesEncoder is sarama.ByteEncoder by pointer: pointing the message's Key and Value at the
// envelope's own fields allocates nothing, where converting a slice to the interface does.
type bytesEncoder struct{ b []byte }

func (e *bytesEncoder) Encode() ([]byte, error) { return e.b, nil }
func (e *bytesEncoder) Length() int             { return len(e.b) }

func init() {
	// sarama's own bound on a response, for the reads it checks (ours are checked by dialer).
	sarama.MaxResponseSize = defaultMaxResponseBytes
}

// New connects to the cluster.
func New(cfg Config) (*Producer, error) {
	if cfg.MaxInFlightBytes <= 0 {
		cfg.MaxInFlightBytes = 64 << 20
	}
	if cfg.MaxResponseBytes <= 0 {
		cfg.MaxResponseBytes = defaultMaxResponseBytes
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	d := newDialer(dialTimeout, cfg.MaxResponseBytes, cfg.TLS)
	sc, err := saramaConfig(cfg, d)
	if err != nil {
		return nil, err
	}
	addrs := strings.Join(cfg.Brokers, ",")
	client, err := sarama.NewClient(cfg.Brokers, sc)
	if err != nil {
		return nil, connectError(addrs, d, err)
	}
	if cfg.TransactionalID != "" {
		if err := checkTransactions(client); err != nil {
			client.Close()
			return nil, err
		}
	}
	p := &Producer{
		client: client,
		dialer: d,
		budget: budget{max: cfg.MaxInFlightBytes},
		log:    cfg.Logger,
		onAck:  cfg.OnAck,
		limits: map[string]topicLimit{},
		failed: make(chan struct{}),
		done:   make(chan struct{}),
	}
	if admin, err := sarama.NewClusterAdminFromClient(client); err == nil {
		p.admin = admin
	} else {
		p.log.Warn("kafka admin requests unavailable: message size limits are not read from the cluster", "err", err)
	}
	p.limit = cfg.MaxMessageBytes
	if p.limit <= 0 {
		p.limit = p.brokerLimit()
	}
	// sarama bounds a batch, uncompressed, by MaxMessageBytes: keep every batch within what
	// the broker accepts.
	sc.Producer.MaxMessageBytes = p.limit - 12
	ap, err := sarama.NewAsyncProducerFromClient(client)
	if err != nil {
		client.Close()
		if fenced(err) {
			return nil, fmt.Errorf("%w: %w", ErrFenced, err)
		}
		return nil, connectError(addrs, d, err)
	}
	p.ap = ap
	go p.acks()
	return p, nil
}

// rejected is an error retrying cannot fix; it reads as its cause.
type rejected struct{ err error }

func (r rejected) Error() string        { return r.err.Error() }
func (r rejected) Unwrap() error        { return r.err }
func (r rejected) Is(target error) bool { return target == ErrRejected }

func reject(err error) error { return rejected{err} }

// connectError explains a failure to reach the cluster, with what the dialer saw.
func connectError(addrs string, d *dialer, err error) error {
	if f := d.firstFault(); f != nil {
		return reject(fmt.Errorf("connect to kafka %s: %w", addrs, f))
	}
	if errors.Is(err, sarama.ErrSASLAuthenticationFailed) {
		return reject(fmt.Errorf("connect to kafka %s: the brokers refused kafka.sasl's user name or password (or its mechanism): %w", addrs, err))
	}
	if _, last := d.lastError(); last != nil {
		return fmt.Errorf("connect to kafka %s: %w (%v)", addrs, err, last)
	}
	return fmt.Errorf("connect to kafka %s: %w", addrs, err)
}

func saramaConfig(cfg Config, d *dialer) (*sarama.Config, error) {
	sc := sarama.NewConfig()
	sc.Version = sarama.V2_1_0_0
	sc.ClientID = cfg.ClientID
	if sc.ClientID == "" {
		sc.ClientID = "dts"
	}
	// Every connection goes through the dialer: TLS is done there, so the frame checks see
	// Kafka's bytes and not TLS records.
	sc.Net.Proxy.Enable = true
	sc.Net.Proxy.Dialer = d
	sc.Net.MaxOpenRequests = 1 // with idempotence, keeps each partition in order across retries
	sc.Net.DialTimeout = dialTimeout
	sc.Net.ReadTimeout = 30 * time.Second
	sc.Net.WriteTimeout = 30 * time.Second
	// Once the producer has failed, or the address turned out not to be Kafka, nothing is worth
	// waiting for.
	backoff := func(d0 time.Duration) time.Duration {
		if d.isBlown() || d.firstFault() != nil {
			return 0
		}
		return d0
	}
	sc.Metadata.Retry.Max = 10
	sc.Metadata.Retry.BackoffFunc = func(int, int) time.Duration { return backoff(500 * time.Millisecond) }
	sc.Metadata.AllowAutoTopicCreation = true
	sc.Producer.Idempotent = true
	sc.Producer.RequiredAcks = sarama.WaitForAll
	sc.Producer.Retry.Max = 20
	sc.Producer.Retry.BackoffFunc = func(retries, _ int) time.Duration {
		return backoff(min(100*time.Millisecond<<min(retries, 5), 3*time.Second))
	}
	sc.Producer.Return.Successes = true
	sc.Producer.Return.Errors = true
	sc.Producer.Flush.Bytes = 1 << 20
	sc.Producer.Flush.Frequency = 5 * time.Millisecond
	sc.Producer.MaxMessageBytes = defaultMaxMessageBytes
	sc.Producer.Partitioner = newPartitioner
	if cfg.SASL != nil {
		if err := cfg.SASL.configure(sc); err != nil {
			return nil, err
		}
	}
	if cfg.TransactionalID != "" {
		sc.Producer.Transaction.ID = cfg.TransactionalID
		sc.Producer.Transaction.Timeout = transactionTimeout
		sc.Producer.Transaction.Retry.Max = 50
		sc.Producer.Transaction.Retry.BackoffFunc = func(retries, _ int) time.Duration {
			return backoff(min(10*time.Millisecond<<min(retries, 6), 500*time.Millisecond))
		}
	}
	sc.ChannelBufferSize = 4096
	switch cfg.Compression {
	case "", "lz4":
		sc.Producer.Compression = sarama.CompressionLZ4
	case "none":
		sc.Producer.Compression = sarama.CompressionNone
	case "gzip":
		sc.Producer.Compression = sarama.CompressionGZIP
	case "snappy":
		sc.Producer.Compression = sarama.CompressionSnappy
	case "zstd":
		sc.Producer.Compression = sarama.CompressionZSTD
	default:
		return nil, fmt.Errorf("unknown compression %q", cfg.Compression)
	}
	if err := sc.Validate(); err != nil {
		return nil, fmt.Errorf("kafka producer config: %w", err)
	}
	return sc, nil
}

// brokerLimit reads the cluster's message.max.bytes, the limit of topics that set none.
func (p *Producer) brokerLimit() int {
	if p.admin == nil {
		return defaultMaxMessageBytes
	}
	brokers := p.client.Brokers()
	if len(brokers) == 0 {
		return defaultMaxMessageBytes
	}
	entries, err := describeConfig(p.admin, sarama.ConfigResource{Type: sarama.BrokerResource, Name: strconv.Itoa(int(brokers[0].ID())), ConfigNames: []string{"message.max.bytes"}})
	if err != nil {
		p.log.Warn("read the cluster's message.max.bytes; assuming Kafka's default", "err", err, "default", defaultMaxMessageBytes)
		return defaultMaxMessageBytes
	}
	return configInt(entries, "message.max.bytes", defaultMaxMessageBytes)
}

// describeConfig reads the configuration entries of one resource (a broker or a topic).
func describeConfig(admin sarama.ClusterAdmin, r sarama.ConfigResource) ([]sarama.ConfigEntry, error) {
	results, err := admin.DescribeConfigs([]*sarama.ConfigResource{&r}, sarama.DescribeConfigsOptions{})
	if err != nil {
		return nil, err
	}
	var entries []sarama.ConfigEntry
	for _, res := range results {
		if res.Name != r.Name {
			continue
		}
		if res.ErrorCode != 0 {
			return nil, &sarama.DescribeConfigError{Err: res.ErrorCode, ErrMsg: res.ErrorMsg}
		}
		entries = append(entries, res.Configs...)
	}
	return entries, nil
}

func configInt(entries []sarama.ConfigEntry, name string, def int) int {
	for _, e := range entries {
		if e.Name == name {
			if n, err := strconv.Atoi(e.Value); err == nil && n > 0 {
				return n
			}
		}
	}
	return def
}

// Limit is the largest message the producer sends to topic: the topic's max.message.bytes
// when it is lower than the producer's own bound.
func (p *Producer) Limit(topic string) int {
	p.limitsMu.Lock()
	l, ok := p.limits[topic]
	p.limitsMu.Unlock()
	if ok && time.Since(l.at) < topicLimitTTL {
		return l.bytes
	}
	limit := p.limit
	if p.admin != nil {
		entries, err := describeConfig(p.admin, sarama.ConfigResource{Type: sarama.TopicResource, Name: topic, ConfigNames: []string{"max.message.bytes"}})
		if err == nil {
			limit = min(limit, configInt(entries, "max.message.bytes", limit))
		}
		// A topic that does not exist yet is created with the cluster's default.
	}
	p.limitsMu.Lock()
	p.limits[topic] = topicLimit{bytes: limit, at: time.Now()}
	p.limitsMu.Unlock()
	return limit
}

// Partitions returns a topic's partitions (creating the topic when the cluster auto-creates).
func (p *Producer) Partitions(topic string) ([]int32, error) {
	parts, err := p.client.Partitions(topic)
	if err != nil {
		return nil, fmt.Errorf("partitions of %s: %w", topic, err)
	}
	return parts, nil
}

// Size is the size Kafka measures of a message with this key and value.
func Size(key, value []byte) int { return batchOverhead + len(key) + len(value) }

// Send queues a message; a is acknowledged once Kafka has it. origin names where the row comes
// from (its table) in error messages. Send blocks while the in-flight budget is spent, and fails once the
// producer has failed.
func (p *Producer) Send(ctx context.Context, topic string, key, value []byte, hash uint32, a Acker, origin fmt.Stringer) error {
	size := int64(len(key)+len(value)) + 64
	if err := p.budget.acquire(ctx, size, p.failed); err != nil {
		if p.Err() != nil {
			return p.err
		}
		return err
	}
	env := envelopes.Get().(*envelope)
	env.acker, env.size, env.hash, env.origin = a, size, hash, origin
	env.msg.Topic = topic
	if key != nil {
		env.key.b = key
		env.msg.Key = &env.key
	}
	if value != nil { // nil stays nil: a tombstone
		env.value.b = value
		env.msg.Value = &env.value
	}
	env.msg.Metadata = env
	if p.inflight.Add(1) == 1 {
		p.lastProgress.Store(time.Now().UnixNano())
	}
	// The common case, with room in sarama's queue, without a select over three channels.
	select {
	case p.ap.Input() <- &env.msg:
		return nil
	default:
	}
	select {
	case p.ap.Input() <- &env.msg:
		return nil
	case <-p.failed:
		p.unsent(env)
		return p.err
	case <-ctx.Done():
		p.unsent(env)
		return ctx.Err()
	}
}

// unsent gives back what a message Send did not queue held.
func (p *Producer) unsent(env *envelope) {
	p.inflight.Add(-1)
	p.budget.release(env.size)
	env.release()
}

// Failed is closed when a message could not be delivered; Err says why.
func (p *Producer) Failed() <-chan struct{} { return p.failed }

// Err is the first delivery failure.
func (p *Producer) Err() error {
	select {
	case <-p.failed:
		return p.err
	default:
		return nil
	}
}

// Stalled reports how long messages have waited for Kafka without any acknowledgement (0 when
// none is waiting or acknowledgements come), and the last network failure seen.
func (p *Producer) Stalled() (time.Duration, error) {
	if p.inflight.Load() == 0 {
		return 0, nil
	}
	since := time.Since(time.Unix(0, p.lastProgress.Load()))
	at, err := p.dialer.lastError()
	if at.UnixNano() < p.lastProgress.Load() {
		err = nil // a failure from before the last progress is over
	}
	return since, err
}

// fail records the first failure and cuts every connection before anything queued behind the
// failed message can be written.
func (p *Producer) fail(err error) {
	p.failOnce.Do(func() {
		p.dialer.blow()
		p.err = err
		close(p.failed)
	})
}

// acks turns sarama's results into acknowledgements until the producer is closed. Successes
// come in runs (a response acknowledges a whole batch): the clock is read and OnAck called once
// per run, not per message.
func (p *Producer) acks() {
	defer close(p.done)
	succ, errs := p.ap.Successes(), p.ap.Errors()
	for succ != nil || errs != nil {
		select {
		case m, ok := <-succ:
			if !ok {
				succ = nil
				continue
			}
			p.lastProgress.Store(time.Now().UnixNano())
			n := 1
			p.acked(m)
		run:
			for n < maxAckRun {
				select {
				case m, ok := <-succ:
					if !ok {
						succ = nil
						break run
					}
					n++
					p.acked(m)
				default:
					break run
				}
			}
			if p.onAck != nil {
				p.onAck(n)
			}
		case e, ok := <-errs:
			if !ok {
				errs = nil
				continue
			}
			// sarama's partition producer waits for this receive and then backs off: the fuse
			// is blown before it can try the next message.
			p.fail(p.deliveryError(e))
			// Not reused: sarama reads a failed message after returning it (its backoff).
			env := e.Msg.Metadata.(*envelope)
			p.inflight.Add(-1)
			p.budget.release(env.size)
		}
	}
}

// maxAckRun bounds a run of acknowledgements handled before the clock is read again.
const maxAckRun = 1024

// acked handles one acknowledged message.
func (p *Producer) acked(m *sarama.ProducerMessage) {
	env := m.Metadata.(*envelope)
	p.inflight.Add(-1)
	env.acker.Ack()
	p.budget.release(env.size)
	env.release()
}

// permanentErrors are broker answers sending again cannot change.
var permanentErrors = []error{
	sarama.ErrMessageSizeTooLarge, sarama.ErrInvalidMessageSize,
	sarama.ErrTopicAuthorizationFailed, sarama.ErrClusterAuthorizationFailed, sarama.ErrTransactionalIDAuthorizationFailed,
	sarama.ErrInvalidTopic, sarama.ErrInvalidRecord, sarama.ErrPolicyViolation, sarama.ErrUnsupportedCompressionType,
	sarama.ErrUnsupportedForMessageFormat, sarama.ErrInvalidRequiredAcks, sarama.ErrSASLAuthenticationFailed,
}

func (p *Producer) deliveryError(e *sarama.ProducerError) error {
	env, _ := e.Msg.Metadata.(*envelope)
	where := fmt.Sprintf("topic %s", e.Msg.Topic)
	if env != nil && env.origin != nil {
		where += " (row of " + env.origin.String() + ")"
	}
	if f := p.dialer.firstFault(); f != nil {
		return reject(fmt.Errorf("%w: %s: %w", ErrDelivery, where, f))
	}
	if fenced(e.Err) {
		return fmt.Errorf("%w: %s: %w", ErrFenced, where, e.Err)
	}
	if errors.Is(e.Err, sarama.ErrMessageSizeTooLarge) {
		size := 0
		if env != nil {
			size = e.Msg.ByteSize(2) - 36 + batchOverhead
		}
		return reject(fmt.Errorf("%w: %w: %s: a %d-byte message is larger than the topic or the producer accepts (%d bytes): raise max.message.bytes on the topic and kafka.max_message_bytes, exclude the large columns (kafka.exclude_columns), or set kafka.oversized_rows to \"skip\"",
			ErrDelivery, ErrTooLarge, where, size, p.limit))
	}
	for _, perm := range permanentErrors {
		if errors.Is(e.Err, perm) {
			hint := ""
			switch {
			case errors.Is(e.Err, sarama.ErrTopicAuthorizationFailed), errors.Is(e.Err, sarama.ErrClusterAuthorizationFailed):
				hint = ": grant the producer WRITE on the topic (and IDEMPOTENT_WRITE on the cluster for old brokers)"
			case errors.Is(e.Err, sarama.ErrInvalidTopic):
				hint = ": the topic name is not valid in this cluster"
			}
			return reject(fmt.Errorf("%w: %s: %w%s", ErrDelivery, where, e.Err, hint))
		}
	}
	if _, last := p.dialer.lastError(); last != nil {
		return fmt.Errorf("%w: %s partition %d: %w (last network error: %v)", ErrDelivery, where, e.Msg.Partition, e.Err, last)
	}
	return fmt.Errorf("%w: %s partition %d: %w", ErrDelivery, where, e.Msg.Partition, e.Err)
}

// Close flushes what is queued and waits for the results until ctx ends; then it cuts the
// connections, so what is still queued fails at once instead of being sent late. It returns
// the first delivery failure.
// Calling it again waits for the first call's work and returns the same.
func (p *Producer) Close(ctx context.Context) error {
	first := false
	p.closeOnce.Do(func() {
		first = true
		p.ap.AsyncClose()
	})
	select {
	case <-p.done:
	case <-ctx.Done():
		p.fail(fmt.Errorf("%w: stopped before Kafka acknowledged every message: %w", ErrDelivery, context.Cause(ctx)))
		<-p.done
	}
	if first {
		if p.admin != nil {
			p.admin.Close() // closes the client too
		} else {
			p.client.Close()
		}
	}
	return p.Err()
}

// Begin starts a transaction (transactional producers).
func (p *Producer) Begin() error {
	if err := p.ap.BeginTxn(); err != nil {
		err = p.txnError("begin", err)
		p.fail(err)
		return err
	}
	return nil
}

// Commit commits the open transaction: it waits until Kafka has every message sent in it, then
// makes them visible to read_committed consumers, all at once. A failure fails the producer:
// the transaction is aborted (by this producer, or by the brokers when the next one starts).
func (p *Producer) Commit() error {
	if err := p.Err(); err != nil {
		return err
	}
	if err := p.ap.CommitTxn(); err != nil {
		err = p.txnError("commit", err)
		p.fail(err)
		return err
	}
	return p.Err()
}

func (p *Producer) txnError(what string, err error) error {
	if fenced(err) {
		return fmt.Errorf("%w: %s the Kafka transaction: %w", ErrFenced, what, err)
	}
	if f := p.Err(); f != nil {
		return f
	}
	return fmt.Errorf("%w: %s the Kafka transaction: %w", ErrDelivery, what, err)
}

// fenced reports whether err says a newer producer with the same transactional id took over.
func fenced(err error) bool {
	return errors.Is(err, sarama.ErrProducerFenced) || errors.Is(err, sarama.ErrInvalidProducerEpoch)
}

// checkTransactions fails unless the brokers can run transactions (InitProducerId and the
// transaction requests), so an exactly-once task says so at once instead of failing later.
func checkTransactions(c sarama.Client) error {
	brokers := c.Brokers()
	if len(brokers) == 0 {
		return nil
	}
	b := brokers[0]
	if ok, _ := b.Connected(); !ok {
		if err := b.Open(c.Config()); err != nil && !errors.Is(err, sarama.ErrAlreadyConnected) {
			return nil // unreachable: the producer reports it
		}
	}
	resp, err := b.ApiVersions(&sarama.ApiVersionsRequest{})
	if err != nil {
		return nil
	}
	need := map[int16]string{22: "InitProducerId", 24: "AddPartitionsToTxn", 26: "EndTxn"}
	for _, k := range resp.ApiKeys {
		delete(need, k.ApiKey)
	}
	if len(need) > 0 {
		var missing []string
		for _, n := range need {
			missing = append(missing, n)
		}
		return reject(fmt.Errorf("%w (they lack %s): kafka.delivery exactly_once needs Kafka 0.11 or later with transactions enabled; use at_least_once", ErrNoTransactions, strings.Join(missing, ", ")))
	}
	return nil
}

// Abort cuts the connections at once and closes the producer: nothing queued is sent.
func (p *Producer) Abort() {
	p.fail(fmt.Errorf("%w: the producer was stopped", ErrDelivery))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_ = p.Close(ctx)
}

// partitioner maps the hash dts computed for a message onto the topic's partitions, so the
// mapping is the same for snapshot and stream and for every partition_mode.
type partitioner struct{}

func newPartitioner(string) sarama.Partitioner { return partitioner{} }

func (partitioner) Partition(m *sarama.ProducerMessage, n int32) (int32, error) {
	env, ok := m.Metadata.(*envelope)
	if !ok || n <= 0 {
		return 0, nil
	}
	return int32(env.hash % uint32(n)), nil
}

func (partitioner) RequiresConsistency() bool { return true }
