package produce

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
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
	if f := d.firstFault(); f != nil {
		return nil, f // the brokers answer the same way every time
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
		cfg := d.tls
		if cfg.ServerName == "" && !cfg.InsecureSkipVerify {
			cfg = cfg.Clone()
			cfg.ServerName, _, _ = net.SplitHostPort(addr)
		}
		tc := tls.Client(c, cfg)
		if err := tc.HandshakeContext(ctx); err != nil {
			c.Close()
			err = d.handshakeError(addr, err)
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

// handshakeError says what to fix when the TLS handshake with a broker failed; failures that
// retrying cannot fix are the producer's fault (permanent).
func (d *dialer) handshakeError(addr string, err error) error {
	var unknown x509.UnknownAuthorityError
	var hostname x509.HostnameError
	var invalid x509.CertificateInvalidError
	var alert tls.AlertError
	var perm error
	switch {
	case errors.As(err, &unknown):
		perm = fmt.Errorf("TLS with %s: the broker's certificate is not signed by kafka.tls.ca_pem (or a system CA): give the CA that signed it: %w", addr, err)
	case errors.As(err, &hostname):
		perm = fmt.Errorf("TLS with %s: the broker's certificate does not carry the name %q: set kafka.tls.server_name to a name it carries: %w", addr, hostname.Host, err)
	case errors.As(err, &invalid):
		perm = fmt.Errorf("TLS with %s: the broker's certificate is not valid: %w", addr, err)
	case errors.As(err, &alert) && (alert == 42 || alert == 116 || alert == 48): // bad_certificate, certificate_required, unknown_ca
		perm = fmt.Errorf("TLS with %s: the broker refused the client certificate (kafka.tls.cert_pem, key_pem): %w", addr, err)
	case probePlainKafka(addr):
		perm = fmt.Errorf("TLS with %s failed (%v): the listener there speaks plaintext Kafka: set kafka.tls.enabled to false, or give the address of its TLS listener", addr, err)
	}
	if perm == nil {
		return fmt.Errorf("TLS handshake with %s: %w", addr, err)
	}
	d.setFault(perm)
	return perm
}

func (d *dialer) setFault(err error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.fault == nil {
		d.fault = err
	}
}

// probePlainKafka reports whether addr answers a plaintext Kafka ApiVersions request.
func probePlainKafka(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, 3*time.Second)
	if err != nil {
		return false
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(3 * time.Second))
	// size, api key 18 (ApiVersions) v0, correlation id 0x64747370, client id "dts".
	req := []byte{0, 0, 0, 13, 0, 18, 0, 0, 0x64, 0x74, 0x73, 0x70, 0, 3, 'd', 't', 's'}
	if _, err := c.Write(req); err != nil {
		return false
	}
	var resp [8]byte
	if _, err := io.ReadFull(c, resp[:]); err != nil {
		return false
	}
	size := binary.BigEndian.Uint32(resp[:4])
	return size >= 4 && size < 1<<20 && binary.BigEndian.Uint32(resp[4:]) == 0x64747370
}

// probeTLS reports whether addr completes a TLS handshake (whoever it is).
func probeTLS(addr string) bool {
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: 3 * time.Second}, "tcp", addr, &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		return false
	}
	c.Close()
	return true
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

// lastError is when the last network failure happened, and the failure.
func (d *dialer) lastError() (time.Time, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.lastAt, d.lastErr
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

// Kafka API keys the frames are checked for.
const (
	apiSASLHandshake    = 17
	apiSASLAuthenticate = 36
)

// frameConn follows the size prefix of each Kafka response.
type frameConn struct {
	net.Conn
	d    *dialer
	addr string

	// lastAPI is the API key of the last request written (sarama writes a request in one call).
	lastAPI atomic.Int32

	// Read side, used by sarama's one reading goroutine.
	seen bool // any byte read
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
		c.seen = true
		if ferr := c.count(p[:n]); ferr != nil {
			c.d.setFault(ferr)
			c.Conn.Close()
			return 0, ferr
		}
	}
	if err != nil && !c.d.isBlown() {
		if api := c.lastAPI.Load(); api == apiSASLHandshake || api == apiSASLAuthenticate {
			// Brokers that refuse a login may just drop the connection (others answer
			// SASL_AUTHENTICATION_FAILED, which sarama reports itself).
			ferr := fmt.Errorf("%s closed the connection during the SASL login: it refuses kafka.sasl's user name, password or mechanism", c.addr)
			c.d.setFault(ferr)
			return 0, ferr
		}
		if !c.seen && c.d.tls == nil && probeTLS(c.addr) {
			// A TLS listener drops a plaintext client without a word.
			ferr := fmt.Errorf("%w: %s closed the connection without answering, and it speaks TLS: set kafka.tls.enabled", ErrNotKafka, c.addr)
			c.d.setFault(ferr)
			return 0, ferr
		}
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
	if c.d.tls == nil && (c.hdr[0] == 0x15 || c.hdr[0] == 0x16) && c.hdr[1] == 3 {
		return fmt.Errorf("%w: %s answered with a TLS record: its listener speaks TLS: set kafka.tls.enabled", ErrNotKafka, c.addr)
	}
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
	if len(p) >= 6 {
		c.lastAPI.Store(int32(binary.BigEndian.Uint16(p[4:6])))
	}
	return c.Conn.Write(p)
}

func (c *frameConn) Close() error {
	c.d.forget(c)
	return c.Conn.Close()
}
