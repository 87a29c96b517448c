// Command devkafka is a Kafka-protocol broker for dts development, tests and the demo. It wraps
// franz-go's kfake: one process, topics created on first use, optional persistence in a
// directory. It is a dev/test tool, never part of a dts deployment: point production tasks at a
// real Kafka cluster.
//
//	devkafka [--listen 127.0.0.1:9092] [--partitions 3] [--data-dir DIR]   run the broker
//	devkafka consume --brokers ADDR --topic T [-n N]                      print a topic's records
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"

	"github.com/twmb/franz-go/pkg/kfake"
)

func main() {
	run := serve
	if len(os.Args) > 1 && os.Args[1] == "consume" {
		run = consume
	}
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "devkafka:", err)
		os.Exit(1)
	}
}

func serve() error {
	listen := flag.String("listen", "127.0.0.1:9092", "address to listen on (loopback only; port 0 picks a free one)")
	partitions := flag.Int("partitions", 3, "partitions of each auto-created topic")
	dataDir := flag.String("data-dir", "", "directory to keep the log in across restarts (default: memory only)")
	topics := flag.String("topics", "", "comma-separated topics to create at start")
	flag.Parse()

	host, portStr, err := net.SplitHostPort(*listen)
	if err != nil {
		return fmt.Errorf("--listen: %w", err)
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return fmt.Errorf("--listen: %s is not a loopback address; devkafka is for local use only", host)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil {
		return fmt.Errorf("--listen port: %w", err)
	}
	opts := []kfake.Opt{
		kfake.Ports(port),
		kfake.AllowAutoTopicCreation(),
		kfake.DefaultNumPartitions(*partitions),
	}
	if *dataDir != "" {
		opts = append(opts, kfake.DataDir(*dataDir))
	}
	if *topics != "" {
		opts = append(opts, kfake.SeedTopics(int32(*partitions), strings.Split(*topics, ",")...))
	}
	c, err := kfake.NewCluster(opts...)
	if err != nil {
		return fmt.Errorf("start broker: %w", err)
	}
	defer c.Close()

	log := slog.New(slog.NewJSONHandler(os.Stdout, nil))
	log.Info("devkafka ready (dev/test broker, not for production)", "addr", strings.Join(c.ListenAddrs(), ","), "partitions", *partitions, "data_dir", *dataDir)

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	<-ctx.Done()
	log.Info("devkafka stopping")
	return nil
}
