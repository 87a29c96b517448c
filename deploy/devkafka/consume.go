package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/IBM/sarama"
)

// consume prints the records of a topic, oldest first, partition by partition, and exits when
// it has printed n records or read everything there is.
func consume() error {
	fs := flag.NewFlagSet("consume", flag.ContinueOnError)
	brokers := fs.String("brokers", "127.0.0.1:9092", "comma-separated brokers")
	topic := fs.String("topic", "", "topic to print")
	n := fs.Int("n", 0, "print at most this many records (0: all)")
	wait := fs.Duration("wait", 10*time.Second, "how long to wait for the topic to exist")
	if err := fs.Parse(os.Args[2:]); err != nil {
		return err
	}
	if *topic == "" {
		return errors.New("consume: --topic is required")
	}
	cfg := sarama.NewConfig()
	cfg.Version = sarama.V2_1_0_0
	client, err := sarama.NewClient(strings.Split(*brokers, ","), cfg)
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	defer client.Close()
	var parts []int32
	deadline := time.Now().Add(*wait)
	for {
		_ = client.RefreshMetadata(*topic)
		if parts, err = client.Partitions(*topic); err == nil && len(parts) > 0 {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("topic %s does not exist", *topic)
		}
		time.Sleep(200 * time.Millisecond)
	}
	cons, err := sarama.NewConsumerFromClient(client)
	if err != nil {
		return err
	}
	defer cons.Close()
	printed := 0
	for _, p := range parts {
		high, err := client.GetOffset(*topic, p, sarama.OffsetNewest)
		if err != nil {
			return err
		}
		low, err := client.GetOffset(*topic, p, sarama.OffsetOldest)
		if err != nil {
			return err
		}
		if high <= low {
			continue
		}
		pc, err := cons.ConsumePartition(*topic, p, low)
		if err != nil {
			return err
		}
		for m := range pc.Messages() {
			fmt.Printf("partition %d offset %d key %s\n%s\n", p, m.Offset, m.Key, indent(m.Value))
			printed++
			if printed == *n || m.Offset+1 >= high {
				break
			}
		}
		pc.Close()
		if printed == *n {
			break
		}
	}
	return nil
}

func indent(b []byte) string {
	var out bytes.Buffer
	if json.Indent(&out, b, "  ", "  ") != nil {
		return "  " + string(b)
	}
	return "  " + out.String()
}
