package produce_test

import (
	"encoding/binary"
	"errors"
	"io"
	"net"
	"runtime"
	"strings"
	"testing"

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
