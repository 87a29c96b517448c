package binlog

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-mysql-org/go-mysql/mysql"

	"github.com/dtsrepl/dts/api"
)

// Errors of the connection guard. Each is permanent: retrying cannot make the peer behave.
var (
	// ErrInsecureAuth: the server asked for an authentication method that would reveal the
	// password to whoever answers on the address, over a connection that does not prove who that is.
	ErrInsecureAuth = errors.New("refused to reveal the source password")
	// ErrNotMySQL: the peer does not speak the MySQL protocol.
	ErrNotMySQL = errors.New("not a MySQL server")
	// ErrPacketTooLarge: the peer sent a packet larger than the worker's budget allows.
	ErrPacketTooLarge = errors.New("packet larger than the worker's limit")
	// ErrNoTLS: the task requires TLS (source.tls.mode required, verify_ca or verify_identity)
	// and the server does not offer it.
	ErrNoTLS = errors.New("the source does not offer TLS")
)

// errNoTLSOffered is a preferred-TLS connection's signal to try again in plain text.
var errNoTLSOffered = errors.New("the source does not offer TLS (source.tls.mode preferred: connecting without)")

// handshakeTimeout bounds the whole connection phase: greeting, TLS and authentication. A
// variable for tests.
var handshakeTimeout = 15 * time.Second

// Bounds of the guard.
const (
	// maxAuthPacket bounds the packets of the connection phase; real ones are under 1 KiB.
	maxAuthPacket = 64 << 10
	// DefaultMaxPacket bounds one logical packet (a row event, a result row) after it.
	DefaultMaxPacket = 256 << 20
)

// Authentication plugins a server may switch the client to over a connection that does not prove
// who the server is (plain, or TLS that does not verify the server): none of them
// sends the password or encrypts it with a key the server chooses. caching_sha2_password is
// allowed as long as the server's cache knows the account ("fast auth"); its "full
// authentication" path is refused below, as is any RSA public key the server offers.
var plainAuthPlugins = map[string]bool{
	mysql.AUTH_NATIVE_PASSWORD:       true,
	mysql.AUTH_CACHING_SHA2_PASSWORD: true,
	mysql.AUTH_MARIADB_ED25519:       true,
}

// guard phases.
const (
	phaseGreeting = iota // waiting for the server's first packet
	phaseAuth            // after the greeting, until the server's OK or error
	phaseData            // authenticated: only packet sizes are checked
)

// guardConn stands between go-mysql and the network. go-mysql's client writes the password in
// clear when a server switches it to mysql_clear_password, and encrypts it with any RSA key the
// server sends for sha256_password and caching_sha2_password's full authentication: a server
// that an API caller chose could collect the replication password that way. Until the
// connection is authenticated the guard reads whole packets and refuses those requests unless
// the connection proved who the server is (TLS that verified it), before go-mysql sees them.
//
// To read the packets of an encrypted connection the guard does the TLS itself, below
// go-mysql, which sees a plain connection: the guard sends the request for TLS in place of the
// client's first packet, makes the TLS handshake, then sends that packet, and the server's
// packets of the connection phase come numbered one higher than go-mysql counts (the request
// took a number), which the guard makes up for until the phase ends. It also checks the peer
// greets like a MySQL server, bounds packet sizes so no peer can make the worker allocate past
// its budget, and makes the connection honour a context: once it ends, every read and write
// fails at once.
type guardConn struct {
	net.Conn
	addr      string
	maxPacket int
	fault     *fault
	// tlsMode is the task's source.tls.mode ("" without TLS), and tlsConfig its settings: the
	// guard checks the server offers TLS and starts it.
	tlsMode   string
	tlsConfig *tls.Config
	// handshakeBy ends the connection phase; go-mysql's own per-packet deadlines may not
	// extend it.
	handshakeBy time.Time

	mu       sync.Mutex
	canceled bool
	stop     func() bool

	// authenticated is set by the reading goroutine at the end of the connection phase, for the
	// writing one.
	authenticated atomic.Bool
	// wire is what packets travel over: the connection, or the TLS on it. Set by the writing
	// goroutine during the connection phase, when go-mysql does not read.
	wire net.Conn
	// shift is how much higher the server numbers the connection phase's packets than
	// go-mysql: 1 once the guard has asked for TLS.
	shift byte

	// Read side; used by the reading goroutine only.
	phase   int
	plugin  string // current authentication plugin
	pending []byte // a checked packet of the connection phase not yet returned
	hdr     [4]byte
	nhdr    int // header bytes of the next packet seen so far (data phase)
	left    int // bytes of the current chunk still to pass (data phase)
	logical int // size of the current logical packet so far (chunks of 16 MiB - 1 continue it)
}

// verified reports whether the connection proves who the server is.
func (g *guardConn) verified() bool {
	return g.tlsMode == api.TLSVerifyCA || g.tlsMode == api.TLSVerifyIdentity
}

// fault keeps the first error a guard raised: go-mysql reports read errors as text ("%v"), so the
// typed error is recovered from here.
type fault struct {
	mu  sync.Mutex
	err error
	// offeredTLS is set when a server's greeting offered TLS.
	offeredTLS bool
}

func (f *fault) sawTLSOffer() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.offeredTLS = true
}

func (f *fault) tlsOffered() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.offeredTLS
}

func (f *fault) set(err error) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err == nil {
		f.err = err
	}
	return err
}

// explain returns the guard's error in place of err, which go-mysql derived from it.
func (f *fault) explain(err error) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err == nil || f.err == nil {
		return err
	}
	return f.err
}

// guard wraps c; with tlsConfig it speaks TLS of mode tlsMode. The connection fails every call
// once ctx ends.
func guard(ctx context.Context, c net.Conn, addr string, maxPacket int, f *fault, tlsMode string, tlsConfig *tls.Config) *guardConn {
	if maxPacket <= 0 {
		maxPacket = DefaultMaxPacket
	}
	g := &guardConn{Conn: c, wire: c, addr: addr, maxPacket: maxPacket, fault: f, tlsMode: tlsMode, tlsConfig: tlsConfig, handshakeBy: time.Now().Add(handshakeTimeout)}
	_ = c.SetDeadline(g.handshakeBy)
	g.stop = context.AfterFunc(ctx, g.cancel)
	return g
}

// bound keeps a deadline within the connection phase's.
func (g *guardConn) bound(t time.Time) time.Time {
	if g.phase < phaseData && (t.IsZero() || t.After(g.handshakeBy)) {
		return g.handshakeBy
	}
	return t
}

func (g *guardConn) cancel() {
	g.mu.Lock()
	g.canceled = true
	g.mu.Unlock()
	_ = g.Conn.SetDeadline(time.Unix(1, 0))
}

func (g *guardConn) isCanceled() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.canceled
}

// Close stops watching the context and closes the connection.
func (g *guardConn) Close() error {
	g.stop()
	return g.Conn.Close()
}

// SetDeadline, SetReadDeadline and SetWriteDeadline keep a canceled connection failing: go-mysql
// sets a fresh deadline before every packet.
func (g *guardConn) SetDeadline(t time.Time) error {
	if g.isCanceled() {
		return g.Conn.SetDeadline(time.Unix(1, 0))
	}
	return g.Conn.SetDeadline(g.bound(t))
}

func (g *guardConn) SetReadDeadline(t time.Time) error {
	if g.isCanceled() {
		return g.Conn.SetReadDeadline(time.Unix(1, 0))
	}
	return g.Conn.SetReadDeadline(g.bound(t))
}

func (g *guardConn) SetWriteDeadline(t time.Time) error {
	if g.isCanceled() {
		return g.Conn.SetWriteDeadline(time.Unix(1, 0))
	}
	return g.Conn.SetWriteDeadline(g.bound(t))
}

// Write sends go-mysql's packets. In the connection phase of a TLS connection it starts TLS
// before the first, and numbers them as the server counts.
func (g *guardConn) Write(p []byte) (int, error) {
	if g.isCanceled() {
		return 0, context.Canceled
	}
	if g.tlsConfig == nil || g.authenticated.Load() {
		return g.wire.Write(p)
	}
	// go-mysql writes a packet of the connection phase in one call.
	if len(p) < 4 || int(uint32(p[0])|uint32(p[1])<<8|uint32(p[2])<<16) != len(p)-4 {
		return 0, g.fault.set(fmt.Errorf("connect to %s: the client wrote %d bytes that are not one packet", g.addr, len(p)))
	}
	q := slices.Clone(p)
	if g.shift == 0 {
		// The client's answer to the greeting: its first 32 bytes, with CLIENT_SSL, are the
		// request for TLS.
		if len(q) < 4+32 {
			return 0, g.fault.set(fmt.Errorf("connect to %s: the client's first packet is %d bytes, too short to ask for TLS", g.addr, len(q)))
		}
		binary.LittleEndian.PutUint32(q[4:], binary.LittleEndian.Uint32(q[4:])|mysql.CLIENT_SSL)
		req := append([]byte{32, 0, 0, q[3]}, q[4:4+32]...)
		if _, err := g.Conn.Write(req); err != nil {
			return 0, g.wrap(err)
		}
		tc := tls.Client(g.Conn, g.tlsConfig)
		if err := tc.Handshake(); err != nil {
			if g.isCanceled() {
				return 0, context.Canceled
			}
			return 0, g.fault.set(fmt.Errorf("TLS handshake with %s: %w", g.addr, err))
		}
		g.wire, g.shift = tc, 1
	}
	q[3] += g.shift
	if _, err := g.wire.Write(q); err != nil {
		return 0, g.wrap(err)
	}
	return len(p), nil
}

func (g *guardConn) Read(p []byte) (int, error) {
	if g.isCanceled() {
		return 0, context.Canceled
	}
	if g.phase != phaseData {
		if len(g.pending) == 0 {
			if err := g.readHandshakePacket(); err != nil {
				return 0, g.fault.set(err)
			}
		}
		n := copy(p, g.pending)
		g.pending = g.pending[n:]
		return n, nil
	}
	n, err := g.wire.Read(p)
	if n > 0 {
		if cerr := g.count(p[:n]); cerr != nil {
			return 0, g.fault.set(cerr)
		}
	}
	return n, g.wrap(err)
}

// wrap names a timeout of the connection phase, the most common sign of a peer that is not a
// MySQL server or does not answer.
func (g *guardConn) wrap(err error) error {
	if err == nil {
		return nil
	}
	if g.isCanceled() {
		return context.Canceled
	}
	if errors.Is(err, os.ErrDeadlineExceeded) && g.phase < phaseData {
		return g.fault.set(fmt.Errorf("%s did not complete the MySQL handshake within %s (is it a MySQL server, and reachable?): %w", g.addr, handshakeTimeout, err))
	}
	return err
}

// readHandshakePacket reads one whole packet of the connection phase, checks it, and keeps it
// in pending for go-mysql to read.
func (g *guardConn) readHandshakePacket() error {
	var hdr [4]byte
	if err := g.readFull(hdr[:]); err != nil {
		return err
	}
	size := int(uint32(hdr[0]) | uint32(hdr[1])<<8 | uint32(hdr[2])<<16)
	if g.phase == phaseGreeting && (hdr[3] != 0 || size == 0 || size > maxAuthPacket) {
		return fmt.Errorf("%w: %s answered % x, not a MySQL greeting: check source.host and source.port", ErrNotMySQL, g.addr, hdr[:])
	}
	if size > maxAuthPacket {
		return fmt.Errorf("%w: %s sent a %d-byte packet while authenticating", ErrPacketTooLarge, g.addr, size)
	}
	hdr[3] -= g.shift
	buf := make([]byte, 4+size)
	copy(buf, hdr[:])
	if err := g.readFull(buf[4:]); err != nil {
		return err
	}
	if err := g.inspect(buf[4:]); err != nil {
		return err
	}
	g.pending = buf
	return nil
}

func (g *guardConn) readFull(b []byte) error {
	for len(b) > 0 {
		n, err := g.wire.Read(b)
		b = b[n:]
		if err != nil {
			return g.wrap(err)
		}
	}
	return nil
}

// inspect checks one packet of the connection phase and moves the phase on.
func (g *guardConn) inspect(payload []byte) error {
	if g.phase == phaseGreeting {
		switch payload[0] {
		case 10: // protocol version 10: the greeting
			plugin, caps, ok := greeting(payload)
			if !ok {
				return fmt.Errorf("%w: %s sent a malformed MySQL greeting", ErrNotMySQL, g.addr)
			}
			if caps&mysql.CLIENT_SSL != 0 {
				g.fault.sawTLSOffer()
			}
			if g.tlsMode != "" && caps&mysql.CLIENT_SSL == 0 {
				if g.tlsMode == api.TLSPreferred {
					return errNoTLSOffered
				}
				return fmt.Errorf("%w: source.tls.mode is %s but %s offers no TLS: enable TLS on the server (ssl_cert, ssl_key), or set source.tls.mode to preferred or disabled", ErrNoTLS, g.tlsMode, g.addr)
			}
			g.plugin = plugin
			g.phase = phaseAuth
			return nil
		case mysql.ERR_HEADER: // the server refuses the connection; go-mysql reports why
			return nil
		}
		return fmt.Errorf("%w: %s sent %q where a MySQL server greets: check source.host and source.port", ErrNotMySQL, g.addr, printable(payload, 16))
	}
	switch payload[0] {
	case mysql.OK_HEADER, mysql.ERR_HEADER:
		g.phase = phaseData
		g.authenticated.Store(true)
	case mysql.EOF_HEADER: // auth switch request: plugin name, then its data
		name, _, _ := bytes.Cut(payload[1:], []byte{0})
		g.plugin = string(name)
		if !plainAuthPlugins[g.plugin] && !g.verified() {
			return fmt.Errorf("%w: %s asked for the %s authentication method, which sends the password in a form the server can read, over %s. Connect with TLS that verifies the server (source.tls mode verify_ca or verify_identity), or give the account the mysql_native_password or caching_sha2_password method", ErrInsecureAuth, g.addr, g.plugin, g.unproven())
		}
	case mysql.MORE_DATE_HEADER:
		if g.verified() {
			return nil
		}
		if g.plugin == mysql.AUTH_CACHING_SHA2_PASSWORD && len(payload) == 2 && payload[1] == mysql.CACHE_SHA2_FULL_AUTH {
			return fmt.Errorf("%w: %s asked for caching_sha2_password's full authentication, which sends the password encrypted with a key the server chooses, over %s. Connect with TLS that verifies the server (source.tls mode verify_ca or verify_identity); or log in once that way so the server caches the account, then other connections use fast authentication", ErrInsecureAuth, g.addr, g.unproven())
		}
		if bytes.Contains(payload, []byte("-----BEGIN")) {
			return fmt.Errorf("%w: %s offered an RSA public key to encrypt the password with (%s), over %s: an impostor can offer its own. Connect with TLS that verifies the server (source.tls mode verify_ca or verify_identity)", ErrInsecureAuth, g.addr, g.plugin, g.unproven())
		}
	}
	return nil
}

// unproven names a connection that does not prove who the server is, for an error message.
func (g *guardConn) unproven() string {
	if g.tlsMode == "" {
		return "an unencrypted connection"
	}
	return fmt.Sprintf("TLS that does not verify the server (source.tls.mode %s: any server can present a certificate)", g.tlsMode)
}

// greeting checks a v10 greeting is whole, so go-mysql's parser (which trusts its input) can
// read it, and returns its authentication plugin name ("" if it names none) and capabilities.
func greeting(p []byte) (plugin string, caps uint32, ok bool) {
	// version string NUL, connection id (4), auth data 1 (8), filler (1), caps low (2), then
	// optionally charset (1), status (2), caps high (2), auth data length (1), reserved (10),
	// auth data 2 (max(13, length-8)), plugin name NUL.
	i := bytes.IndexByte(p[1:], 0)
	if i < 0 {
		return "", 0, false
	}
	pos := 1 + i + 1 + 4 + 8
	if len(p) < pos+1+2 || p[pos] != 0 {
		return "", 0, false
	}
	pos++
	caps = uint32(p[pos]) | uint32(p[pos+1])<<8
	if caps&mysql.CLIENT_PROTOCOL_41 == 0 {
		return "", 0, false
	}
	pos += 2
	if len(p) == pos {
		return "", caps, true
	}
	if len(p) < pos+1+2+2+1+10 {
		return "", 0, false
	}
	caps |= (uint32(p[pos+3]) | uint32(p[pos+4])<<8) << 16
	authLen := int(p[pos+5])
	pos += 1 + 2 + 2 + 1 + 10
	if caps&mysql.CLIENT_SECURE_CONNECTION != 0 {
		pos += max(13, authLen-8)
	}
	if caps&mysql.CLIENT_PLUGIN_AUTH == 0 {
		return "", caps, len(p) >= pos
	}
	if pos >= len(p) {
		return "", 0, false
	}
	name, _, found := bytes.Cut(p[pos:], []byte{0})
	return string(name), caps, found
}

// count follows packet headers through the bytes read in the data phase and fails a logical
// packet over the limit before go-mysql allocates it.
func (g *guardConn) count(b []byte) error {
	for len(b) > 0 {
		if g.left > 0 {
			n := min(g.left, len(b))
			g.left -= n
			b = b[n:]
			continue
		}
		n := copy(g.hdr[g.nhdr:], b)
		g.nhdr += n
		b = b[n:]
		if g.nhdr < 4 {
			return nil
		}
		g.nhdr = 0
		size := int(uint32(g.hdr[0]) | uint32(g.hdr[1])<<8 | uint32(g.hdr[2])<<16)
		g.logical += size
		if g.logical > g.maxPacket {
			return fmt.Errorf("%w: %s sent a packet of more than %d bytes; if the source really has rows that large, raise the worker's --max-packet-bytes", ErrPacketTooLarge, g.addr, g.maxPacket)
		}
		if size < mysql.MaxPayloadLen {
			g.logical = 0
		}
		g.left = size
	}
	return nil
}

// printable shows up to n bytes of what a peer sent, for an error message.
func printable(b []byte, n int) string {
	b = b[:min(n, len(b))]
	out := make([]byte, len(b))
	for i, c := range b {
		if c < 0x20 || c > 0x7e {
			c = '.'
		}
		out[i] = c
	}
	return string(out)
}
