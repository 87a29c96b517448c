package produce

import (
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"
)

// ErrNotKafka means a broker address answered with something that is not a Kafka response.
var ErrNotKafka = errors.New("not a Kafka broker")

// errFused is what the connections of a producer that stopped on a failure return.
var errFused = errors.New("kafka producer stopped after a failure")

// dialer makes the producer's broker connections. It bounds every response frame, so no peer
// (a MySQL port given as kafka.addr, a broken proxy) can make sarama allocate what the frame
// announces: sarama's ApiVersions and SASL reads take the length on trust. And it is the
// producer's fuse: once blown, its connections fail every read and write and it dials no more,
// so nothing queued behind a failed message can reach Kafka before the failed one is sent again.
type dialer struct {
	timeout  time.Duration
	maxFrame int
	tls      *tls.Config

	mu      sync.Mutex
	blown   bool
	conns   map[*frameConn]struct{}
	lastErr error     // the last dial or read failure, for the status
	lastAt  time.Time // when it happened
	fault   error     // the first frame a connection refused
}

func newDialer(timeout time.Duration, maxFrame int, tlsConfig *tls.Config) *dialer {
	return &dialer{timeout: timeout, maxFrame: maxFrame, tls: tlsConfig, conns: map[*frameConn]struct{}{}}
}

// Dial implements sarama's proxy.Dialer.
func (d *dialer) Dial(network, addr string) (net.Conn, error) {
	if d.isBlown() {
		return nil, errFused
	}
	ctx, cancel := context.WithTimeout(context.Background(), d.timeout)
	defer cancel()
	nd := &net.Dialer{KeepAlive: 30 * time.Second}
	c, err := nd.DialContext(ctx, network, addr)
	if err != nil {
		d.note(err)
		return nil, err
	}
	if d.tls != nil {
		tc := tls.Client(c, d.tls)
		if err := tc.HandshakeContext(ctx); err != nil {
			c.Close()
			err = fmt.Errorf("TLS handshake with %s: %w", addr, err)
			d.note(err)
			return nil, err
		}
		c = tc
	}
	fc := &frameConn{Conn: c, d: d, addr: addr}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.blown {
		c.Close()
		return nil, errFused
	}
	d.conns[fc] = struct{}{}
	return fc, nil
}

func (d *dialer) isBlown() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.blown
}

// blow closes every connection and refuses new ones.
func (d *dialer) blow() {
	d.mu.Lock()
	d.blown = true
	conns := d.conns
	d.conns = map[*frameConn]struct{}{}
	d.mu.Unlock()
	for c := range conns {
		c.Conn.Close()
	}
}

// note remembers a network failure for the status.
func (d *dialer) note(err error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.blown {
		d.lastErr, d.lastAt = err, time.Now()
	}
}

// lastError is the last network failure and when it happened.
func (d *dialer) lastError() (error, time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.lastErr, d.lastAt
}

// firstFault is the first response a connection refused (ErrNotKafka), nil if none.
func (d *dialer) firstFault() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.fault
}

func (d *dialer) forget(c *frameConn) {
	d.mu.Lock()
	defer d.mu.Unlock()
	delete(d.conns, c)
}

// frameConn follows the size prefix of each Kafka response.
type frameConn struct {
	net.Conn
	d    *dialer
	addr string

	// Read side, used by sarama's one reading goroutine.
	hdr  [4]byte
	nhdr int
	left int
}

func (c *frameConn) Read(p []byte) (int, error) {
	if c.d.isBlown() {
		return 0, errFused
	}
	if c.left == 0 && c.nhdr < 4 {
		// Hand out nothing of a frame before its size is checked.
		p = p[:min(len(p), 4-c.nhdr)]
	} else if c.left > 0 {
		p = p[:min(len(p), c.left)]
	}
	n, err := c.Conn.Read(p)
	if n > 0 {
		if ferr := c.count(p[:n]); ferr != nil {
			c.d.mu.Lock()
			if c.d.fault == nil {
				c.d.fault = ferr
			}
			c.d.mu.Unlock()
			c.Conn.Close()
			return 0, ferr
		}
	}
	if err != nil && !c.d.isBlown() {
		c.d.note(fmt.Errorf("read from %s: %w", c.addr, err))
	}
	return n, err
}

func (c *frameConn) count(b []byte) error {
	if c.left > 0 {
		c.left -= len(b)
		return nil
	}
	c.nhdr += copy(c.hdr[c.nhdr:], b)
	if c.nhdr < 4 {
		return nil
	}
	c.nhdr = 0
	size := int32(binary.BigEndian.Uint32(c.hdr[:]))
	if size < 4 || int(size) > c.d.maxFrame {
		return fmt.Errorf("%w: %s answered with a %d-byte response (the limit is %d): check kafka.addr, and that the listener speaks plain Kafka or TLS as the task says", ErrNotKafka, c.addr, size, c.d.maxFrame)
	}
	c.left = int(size)
	return nil
}

func (c *frameConn) Write(p []byte) (int, error) {
	if c.d.isBlown() {
		return 0, errFused
	}
	return c.Conn.Write(p)
}

func (c *frameConn) Close() error {
	c.d.forget(c)
	return c.Conn.Close()
}
