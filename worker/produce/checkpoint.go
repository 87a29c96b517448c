package produce

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/IBM/sarama"
)

// EnsureCompactedTopic creates topic, compacted, when it does not exist: the exactly-once
// checkpoints keep only each task's latest record.
func (p *Producer) EnsureCompactedTopic(topic string) error {
	if p.admin == nil {
		return nil
	}
	metas, err := p.admin.DescribeTopics([]string{topic})
	if err == nil && len(metas) == 1 && metas[0].Err == sarama.ErrNoError {
		return nil
	}
	policy := "compact"
	err = p.admin.CreateTopic(topic, &sarama.TopicDetail{NumPartitions: 1, ReplicationFactor: -1,
		ConfigEntries: map[string]*string{"cleanup.policy": &policy}}, false)
	if err != nil && !errors.Is(err, sarama.ErrTopicAlreadyExists) {
		var te *sarama.TopicError
		if errors.As(err, &te) && te.Err == sarama.ErrTopicAlreadyExists {
			return nil
		}
		return fmt.Errorf("create the checkpoint topic %s: %w", topic, err)
	}
	return nil
}

// ReadLatest returns the value of the last committed record with key in topic (nil, nil when
// there is none), reading with isolation read_committed: what aborted or open transactions
// wrote is not seen.
func ReadLatest(ctx context.Context, cfg Config, topic string, key []byte) ([]byte, error) {
	d := newDialer(dialTimeout, defaultMaxResponseBytes, cfg.TLS)
	if cfg.MaxResponseBytes > 0 {
		d.maxFrame = cfg.MaxResponseBytes
	}
	sc, err := saramaConfig(Config{ClientID: cfg.ClientID, SASL: cfg.SASL, Compression: cfg.Compression}, d)
	if err != nil {
		return nil, err
	}
	sc.Consumer.IsolationLevel = sarama.ReadCommitted
	sc.Consumer.Fetch.Max = 8 << 20
	sc.Consumer.Return.Errors = true
	client, err := sarama.NewClient(cfg.Brokers, sc)
	if err != nil {
		return nil, connectError(fmt.Sprint(cfg.Brokers), d, err)
	}
	defer client.Close()
	parts, err := client.Partitions(topic)
	if errors.Is(err, sarama.ErrUnknownTopicOrPartition) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("checkpoint topic %s: %w", topic, err)
	}
	consumer, err := sarama.NewConsumerFromClient(client)
	if err != nil {
		return nil, err
	}
	defer consumer.Close()
	var latest []byte
	for _, part := range parts {
		// The last stable offset bounds what read_committed sees.
		high, err := client.GetOffset(topic, part, sarama.OffsetNewest)
		if err != nil {
			return nil, fmt.Errorf("checkpoint topic %s: %w", topic, err)
		}
		low, err := client.GetOffset(topic, part, sarama.OffsetOldest)
		if err != nil {
			return nil, fmt.Errorf("checkpoint topic %s: %w", topic, err)
		}
		if high <= low {
			continue
		}
		pc, err := consumer.ConsumePartition(topic, part, low)
		if err != nil {
			return nil, fmt.Errorf("checkpoint topic %s: %w", topic, err)
		}
		v, err := lastWithKey(ctx, pc, key, high)
		pc.Close()
		if err != nil {
			return nil, fmt.Errorf("checkpoint topic %s: %w", topic, err)
		}
		if v != nil {
			latest = v
		}
	}
	return latest, nil
}

// lastWithKey reads a partition up to high and returns the last value with key. Transaction
// markers take offsets a consumer never sees, so it stops at the first offset at or past high-1
// or when nothing more comes.
func lastWithKey(ctx context.Context, pc sarama.PartitionConsumer, key []byte, high int64) ([]byte, error) {
	var v []byte
	quiet := time.NewTimer(2 * time.Second)
	defer quiet.Stop()
	for {
		select {
		case m := <-pc.Messages():
			if bytes.Equal(m.Key, key) {
				v = m.Value
			}
			if m.Offset >= high-1 {
				return v, nil
			}
			quiet.Reset(2 * time.Second)
		case err := <-pc.Errors():
			return nil, err
		case <-quiet.C:
			return v, nil // the rest are markers or records of open transactions
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}
