package produce_test

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/dtsrepl/dts/internal/testenv"
	"github.com/dtsrepl/dts/worker/produce"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// allocated returns the bytes f allocates (a test that runs alone: not parallel).
func allocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// TestNotKafka gives the producer a MySQL server's address: it fails, says the address is not
// a Kafka broker, and allocates nothing like what the server's greeting read as a Kafka frame
// size announces (about 1.6 GB).
func TestNotKafka(t *testing.T) {
	db := testenv.StartMariaDB(t)
	var err error
	n := allocated(func() {
		var p *produce.Producer
		p, err = produce.New(produce.Config{Brokers: []string{db.Addr()}})
		if err == nil {
			p.Abort()
		}
	})
	if err == nil || !errors.Is(err, produce.ErrRejected) || !strings.Contains(err.Error(), "not a Kafka broker") {
		t.Fatalf("New = %v; want a refusal saying the address is not a Kafka broker", err)
	}
	if n > 64<<20 {
		t.Fatalf("connecting to a MySQL port allocated %d MiB", n>>20)
	}
	t.Logf("allocated %d KiB: %v", n>>10, err)
}

// TestHostileBroker answers every request with a frame announcing 1.5 GB.
func TestHostileBroker(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				var hdr [4]byte
				if _, err := io.ReadFull(c, hdr[:]); err != nil {
					return
				}
				if _, err := io.CopyN(io.Discard, c, int64(binary.BigEndian.Uint32(hdr[:]))); err != nil {
					return
				}
				var resp [8]byte
				binary.BigEndian.PutUint32(resp[:], 1500<<20)
				_, _ = c.Write(resp[:])
				_, _ = io.Copy(io.Discard, c)
			}()
		}
	}()
	n := allocated(func() {
		var p *produce.Producer
		p, err = produce.New(produce.Config{Brokers: []string{ln.Addr().String()}})
		if err == nil {
			p.Abort()
		}
	})
	if !errors.Is(err, produce.ErrRejected) {
		t.Fatalf("New = %v; want a refusal", err)
	}
	if n > 64<<20 {
		t.Fatalf("a hostile broker made the producer allocate %d MiB", n>>20)
	}
}

// acker counts acknowledgements.
type acker struct{ n atomic.Int64 }

func (a *acker) Ack() { a.n.Add(1) }

type origin string

func (o origin) String() string { return string(o) }

func newProducer(t *testing.T, k *testenv.Kafka, cfg produce.Config) *produce.Producer {
	t.Helper()
	cfg.Brokers = k.Addrs
	p, err := produce.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Abort)
	return p
}

// TestInFlightBudget: Send waits while the bytes sent and not acknowledged reach the budget, so
// a reader cannot outrun the cluster, and goes on once Kafka acknowledges.
func TestInFlightBudget(t *testing.T) {
	k := testenv.StartKafka(t, 1)
	hold := make(chan struct{})
	var once sync.Once
	k.Cluster.ControlKey(int16(kmsg.Produce), func(kmsg.Request) (kmsg.Response, error, bool) {
		k.Cluster.KeepControl()
		<-hold // answer nothing until released
		return nil, nil, false
	})
	release := func() { once.Do(func() { close(hold) }) }
	t.Cleanup(release)
	p := newProducer(t, k, produce.Config{MaxInFlightBytes: 4096})
	var a acker
	value := make([]byte, 1000)
	sent := 0
	for ; sent < 10; sent++ {
		ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		err := p.Send(ctx, "budget", nil, value, 0, &a, origin("t"))
		cancel()
		if errors.Is(err, context.DeadlineExceeded) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if sent == 0 || sent >= 10 {
		t.Fatalf("%d messages of 1000 bytes went out with a 4096-byte budget before Send waited", sent)
	}
	release()
	if err := p.Send(context.Background(), "budget", nil, value, 0, &a, origin("t")); err != nil {
		t.Fatalf("Send after the acknowledgements: %v", err)
	}
	if err := p.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := a.n.Load(); got != int64(sent+1) {
		t.Fatalf("%d acknowledgements for %d messages", got, sent+1)
	}
}

// TestOrderUnderRetries sends numbered messages to one partition while the broker rejects
// produce requests at random with a retriable error: they arrive once each, in order.
func TestOrderUnderRetries(t *testing.T) {
	k := testenv.StartKafka(t, 1)
	var requests, rejected atomic.Int64
	k.Cluster.ControlKey(int16(kmsg.Produce), func(req kmsg.Request) (kmsg.Response, error, bool) {
		k.Cluster.KeepControl()
		if requests.Add(1)%3 != 0 {
			return nil, nil, false
		}
		rejected.Add(1)
		return produceError(req.(*kmsg.ProduceRequest), 6), nil, true // NOT_LEADER_OR_FOLLOWER
	})
	p := newProducer(t, k, produce.Config{})
	var a acker
	const bursts, each = 20, 100
	for b := range bursts {
		for i := range each {
			if err := p.Send(context.Background(), "order", nil, []byte(strconv.Itoa(b*each+i)), 0, &a, origin("t")); err != nil {
				t.Fatal(err)
			}
		}
		// As the worker does before closing: wait for the acknowledgements. (Bursts make many
		// requests, so many are rejected.)
		for deadline := time.Now().Add(time.Minute); a.n.Load() < int64((b+1)*each) && p.Err() == nil; time.Sleep(5 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("%d of %d acknowledged", a.n.Load(), (b+1)*each)
			}
		}
	}
	if err := p.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	recs := k.Read(t, "order")
	if len(recs) != bursts*each {
		t.Fatalf("%d records for %d messages (%d requests rejected)", len(recs), bursts*each, rejected.Load())
	}
	for i, r := range recs {
		if string(r.Value) != strconv.Itoa(i) {
			t.Fatalf("record %d is message %s", i, r.Value)
		}
	}
	if rejected.Load() == 0 {
		t.Fatal("no request was rejected: the test exercised nothing")
	}
}

// TestNothingAfterAFailure: once a message fails, no message sent after it reaches Kafka — the
// producer cuts its connections at once — so per partition what Kafka has is a prefix of what
// was sent, and resending from the failed message keeps the order.
func TestNothingAfterAFailure(t *testing.T) {
	k := testenv.StartKafka(t, 1)
	var failNext atomic.Bool
	k.Cluster.ControlKey(int16(kmsg.Produce), func(req kmsg.Request) (kmsg.Response, error, bool) {
		k.Cluster.KeepControl()
		if !failNext.CompareAndSwap(true, false) {
			return nil, nil, false
		}
		return produceError(req.(*kmsg.ProduceRequest), -1), nil, true // UNKNOWN_SERVER_ERROR: not retried
	})
	p := newProducer(t, k, produce.Config{})
	var a acker
	sent := 0
	send := func(n int) {
		for range n {
			if err := p.Send(context.Background(), "prefix", nil, []byte(strconv.Itoa(sent)), 0, &a, origin("t")); err != nil {
				return
			}
			sent++
		}
	}
	send(100)
	for deadline := time.Now().Add(time.Minute); a.n.Load() < 100; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the first messages were not acknowledged")
		}
	}
	failNext.Store(true) // the next produce request fails; many follow it
	send(5000)
	_ = p.Close(context.Background())
	if p.Err() == nil {
		t.Fatal("no delivery failed: the test exercised nothing")
	}
	recs := k.Read(t, "prefix")
	for i, r := range recs {
		if string(r.Value) != strconv.Itoa(i) {
			t.Fatalf("record %d is message %s: a message sent after the failed one reached Kafka", i, r.Value)
		}
	}
	if int64(len(recs)) != a.n.Load() {
		t.Fatalf("%d records, %d acknowledged", len(recs), a.n.Load())
	}
	t.Logf("%d sent, %d in Kafka before the failure: %v", sent, len(recs), p.Err())
}

// produceError answers every partition of req with code.
func produceError(req *kmsg.ProduceRequest, code int16) *kmsg.ProduceResponse {
	resp := req.ResponseKind().(*kmsg.ProduceResponse)
	for _, rt := range req.Topics {
		st := kmsg.NewProduceResponseTopic()
		st.Topic = rt.Topic
		for _, rp := range rt.Partitions {
			sp := kmsg.NewProduceResponseTopicPartition()
			sp.Partition = rp.Partition
			sp.ErrorCode = code
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp
}
