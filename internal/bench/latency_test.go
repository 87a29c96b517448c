//go:build bench

package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"

	"github.com/dtsrepl/dts/internal/testenv"
)

const (
	latencyRPS    = 5000
	latencyDur    = 10 * time.Second
	latencyTick   = 10 * time.Millisecond
	latencyBaseID = 1_000_000_000 // above every id of the backlog
)

// latency writes to bench.orders at a steady latencyRPS through the running worker w, in one
// multi-row INSERT (one transaction) every 10 ms, and measures for each row the time from its
// INSERT being sent to the source to a consumer of the worker's topic receiving it: an upper
// bound on commit-to-consumer latency by the INSERT's own execution, whose median round trip
// is reported with it. It also measures the worker's CPU at that steady rate.
func latency(t *testing.T, db *testenv.MariaDB, kafka *testenv.Kafka, w *workerProc, topic string, servers ...int) (latencies, figures) {
	t.Helper()
	client, err := sarama.NewClient(kafka.Addrs, testenv.SaramaConfig())
	if err != nil {
		t.Fatalf("latency consumer: %v", err)
	}
	defer client.Close()
	cons, err := sarama.NewConsumerFromClient(client)
	if err != nil {
		t.Fatalf("latency consumer: %v", err)
	}
	defer cons.Close()
	parts, err := client.Partitions(topic)
	if err != nil {
		t.Fatalf("partitions of %s: %v", topic, err)
	}

	per := int(latencyRPS * latencyTick / time.Second)
	batches := int(latencyDur / latencyTick)
	sentAt := make([]time.Time, batches)     // by batch
	recvAt := make([]time.Time, batches*per) // by id - latencyBaseID - 1; the first receipt counts
	var mu sync.Mutex
	received := 0
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var wg sync.WaitGroup
	for _, p := range parts {
		off, err := client.GetOffset(topic, p, sarama.OffsetNewest)
		if err != nil {
			t.Fatalf("offset of %s/%d: %v", topic, p, err)
		}
		pc, err := cons.ConsumePartition(topic, p, off)
		if err != nil {
			t.Fatalf("consume %s/%d: %v", topic, p, err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer pc.Close()
			for {
				select {
				case <-ctx.Done():
					return
				case m := <-pc.Messages():
					now := time.Now()
					var v struct {
						Data struct {
							ID int64 `json:"id"`
						} `json:"data"`
					}
					if json.Unmarshal(m.Value, &v) != nil {
						continue
					}
					i := v.Data.ID - latencyBaseID - 1
					if i < 0 || i >= int64(len(recvAt)) {
						continue
					}
					mu.Lock()
					if recvAt[i].IsZero() {
						recvAt[i] = now
						received++
					}
					mu.Unlock()
				}
			}
		}()
	}

	c := db.Conn(t)
	meter := startProc(t, w.Pid(), time.Time{}, servers...)
	tick := time.NewTicker(latencyTick)
	roundTrips := make([]time.Duration, 0, batches)
	vals := make([]string, per)
	for b := range batches {
		<-tick.C
		ts := time.Now().UTC().Format("2006-01-02 15:04:05.000000")
		for j := range per {
			vals[j] = fmt.Sprintf("(%d, 1, 1, 1.00, 'latency', '%s')", latencyBaseID+1+b*per+j, ts)
		}
		sentAt[b] = time.Now()
		if _, err := c.Execute("INSERT INTO bench.orders VALUES " + strings.Join(vals, ",")); err != nil {
			t.Fatalf("latency insert: %v", err)
		}
		roundTrips = append(roundTrips, time.Since(sentAt[b]))
	}
	tick.Stop()
	sent := batches * per
	deadline := time.Now().Add(30 * time.Second)
	for {
		mu.Lock()
		n := received
		mu.Unlock()
		if n >= sent || time.Now().After(deadline) {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	f := figures{phase: fmt.Sprintf("dts worker at %s rows/s", groupDigits(latencyRPS)), shape: "orders", rows: sent}
	meter.stop(t, &f)
	f.rssMiB = 0 // the worker's peak is its backlog's, not this phase's
	cancel()
	wg.Wait()

	l := latencies{sent: sent, duration: latencyDur, rps: latencyRPS}
	for i, r := range recvAt {
		if !r.IsZero() {
			l.samples = append(l.samples, r.Sub(sentAt[i/per]))
		}
	}
	l.sort()
	rt := latencies{samples: roundTrips}
	rt.sort()
	l.insertRT = rt.percentile(0.5)
	return l, f
}
