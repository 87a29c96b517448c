// Package produce sends messages to Kafka with sarama: idempotent, acks=all, compressed and
// batched, at most one request in flight per broker so retries cannot reorder a partition, and
// a bound on the bytes in flight so a fast binlog reader waits for a slow cluster instead of
// filling memory.
package produce

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/IBM/sarama"
	"golang.org/x/sync/semaphore"
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
	Logger           *slog.Logger
	// OnAck, if set, is called for every acknowledged message.
	OnAck func()
}

// ErrDelivery wraps a message Kafka did not accept after retries.
var ErrDelivery = errors.New("kafka delivery failed")

// Producer is an asynchronous producer with acknowledgement callbacks.
type Producer struct {
	ap       sarama.AsyncProducer
	sem      *semaphore.Weighted
	maxBytes int64
	log      *slog.Logger
	onAck    func()

	failOnce sync.Once
	failed   chan struct{}
	err      error
	done     chan struct{}
}

// envelope carries a message and its bookkeeping in one allocation.
type envelope struct {
	msg   sarama.ProducerMessage
	acker Acker
	size  int64
	hash  uint32
}

// New connects to the cluster.
func New(cfg Config) (*Producer, error) {
	if cfg.MaxInFlightBytes <= 0 {
		cfg.MaxInFlightBytes = 64 << 20
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	sc, err := saramaConfig(cfg)
	if err != nil {
		return nil, err
	}
	ap, err := sarama.NewAsyncProducer(cfg.Brokers, sc)
	if err != nil {
		return nil, fmt.Errorf("connect to kafka %s: %w", strings.Join(cfg.Brokers, ","), err)
	}
	p := &Producer{
		ap:       ap,
		sem:      semaphore.NewWeighted(cfg.MaxInFlightBytes),
		maxBytes: cfg.MaxInFlightBytes,
		log:      cfg.Logger,
		onAck:    cfg.OnAck,
		failed:   make(chan struct{}),
		done:     make(chan struct{}),
	}
	go p.acks()
	return p, nil
}

func saramaConfig(cfg Config) (*sarama.Config, error) {
	sc := sarama.NewConfig()
	sc.Version = sarama.V2_1_0_0
	sc.ClientID = cfg.ClientID
	if sc.ClientID == "" {
		sc.ClientID = "dts"
	}
	sc.Net.MaxOpenRequests = 1 // with idempotence, keeps each partition in order across retries
	sc.Net.DialTimeout = 10 * time.Second
	sc.Metadata.Retry.Max = 10
	sc.Metadata.Retry.Backoff = 500 * time.Millisecond
	sc.Metadata.AllowAutoTopicCreation = true
	sc.Producer.Idempotent = true
	sc.Producer.RequiredAcks = sarama.WaitForAll
	sc.Producer.Retry.Max = 20
	sc.Producer.Retry.BackoffFunc = func(retries, _ int) time.Duration {
		d := 100 * time.Millisecond << min(retries, 5)
		return min(d, 3*time.Second)
	}
	sc.Producer.Return.Successes = true
	sc.Producer.Return.Errors = true
	sc.Producer.Flush.Bytes = 1 << 20
	sc.Producer.Flush.Frequency = 5 * time.Millisecond
	sc.Producer.MaxMessageBytes = 1000000
	sc.Producer.Partitioner = newPartitioner
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

// Send queues a message; a is acknowledged once Kafka has it. Send blocks while the in-flight
// budget is spent, and fails once the producer has failed.
func (p *Producer) Send(ctx context.Context, topic string, key, value []byte, hash uint32, a Acker) error {
	size := int64(len(key)+len(value)) + 64
	if size > p.maxBytes {
		size = p.maxBytes
	}
	if err := p.sem.Acquire(ctx, size); err != nil {
		return err
	}
	select {
	case <-p.failed:
		p.sem.Release(size)
		return p.err
	default:
	}
	env := &envelope{acker: a, size: size, hash: hash}
	env.msg.Topic = topic
	if key != nil {
		env.msg.Key = sarama.ByteEncoder(key)
	}
	env.msg.Value = sarama.ByteEncoder(value)
	env.msg.Metadata = env
	select {
	case p.ap.Input() <- &env.msg:
		return nil
	case <-p.failed:
		p.sem.Release(size)
		return p.err
	case <-ctx.Done():
		p.sem.Release(size)
		return ctx.Err()
	}
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

func (p *Producer) fail(err error) {
	p.failOnce.Do(func() {
		p.err = err
		close(p.failed)
	})
}

// acks turns sarama's results into acknowledgements until the producer is closed.
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
			env := m.Metadata.(*envelope)
			env.acker.Ack()
			p.sem.Release(env.size)
			if p.onAck != nil {
				p.onAck()
			}
		case e, ok := <-errs:
			if !ok {
				errs = nil
				continue
			}
			env := e.Msg.Metadata.(*envelope)
			p.sem.Release(env.size)
			p.fail(deliveryError(e))
		}
	}
}

func deliveryError(e *sarama.ProducerError) error {
	hint := ""
	switch {
	case errors.Is(e.Err, sarama.ErrMessageSizeTooLarge):
		hint = "; the row is larger than the topic's max.message.bytes: raise it on the topic or exclude the large columns (kafka.exclude_columns)"
	case errors.Is(e.Err, sarama.ErrTopicAuthorizationFailed):
		hint = "; the producer may not write to this topic"
	case errors.Is(e.Err, sarama.ErrInvalidTopic):
		hint = "; the topic name is not valid in this cluster"
	}
	return fmt.Errorf("%w: topic %s partition %d: %w%s", ErrDelivery, e.Msg.Topic, e.Msg.Partition, e.Err, hint)
}

// Close flushes what is queued, waits for the results and releases the connection.
func (p *Producer) Close() error {
	p.ap.AsyncClose()
	<-p.done
	return p.Err()
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
