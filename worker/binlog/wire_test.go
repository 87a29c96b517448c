package binlog

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/go-mysql-org/go-mysql/mysql"

	"github.com/dtsrepl/dts/api"
	"github.com/dtsrepl/dts/internal/testenv"
)

// peer is a server on loopback that plays a scripted, possibly hostile, MySQL server to one
// client. It reports what the client sent after the script ended.
type peer struct {
	addr string
	got  chan []byte
}

func startPeer(t *testing.T, script func(c net.Conn) error) *peer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &peer{addr: ln.Addr().String(), got: make(chan []byte, 1)}
	done := make(chan struct{})
	t.Cleanup(func() { // the peer ends with the client's connection, or without a client
		ln.Close()
		<-done
	})
	go func() {
		defer close(done)
		defer ln.Close()
		c, err := ln.Accept()
		if err != nil {
			p.got <- nil
			return
		}
		defer c.Close()
		if err := script(c); err != nil {
			p.got <- nil
			return
		}
		// Whatever the client sends next, until it closes the connection.
		_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
		b, _ := io.ReadAll(c)
		p.got <- b
	}()
	return p
}

func (p *peer) source() Dialer {
	host, port, _ := net.SplitHostPort(p.addr)
	var n int
	for _, c := range port {
		n = n*10 + int(c-'0')
	}
	return Dialer{Source: api.Source{Host: host, Port: n, Username: "repl", Password: "s3cret-Pa55word"}}
}

func writePacket(c net.Conn, seq byte, payload []byte) error {
	h := []byte{byte(len(payload)), byte(len(payload) >> 8), byte(len(payload) >> 16), seq}
	_, err := c.Write(append(h, payload...))
	return err
}

func readPacket(c net.Conn) ([]byte, error) {
	var h [4]byte
	if _, err := io.ReadFull(c, h[:]); err != nil {
		return nil, err
	}
	n := int(h[0]) | int(h[1])<<8 | int(h[2])<<16
	b := make([]byte, n)
	_, err := io.ReadFull(c, b)
	return b, err
}

// greetingPacket is a MySQL 8 protocol-10 greeting offering plugin, and the extra capabilities.
func greetingPacket(plugin string, extra ...uint32) []byte {
	var b bytes.Buffer
	b.WriteByte(10)
	b.WriteString("8.0.36-hostile\x00")
	_ = binary.Write(&b, binary.LittleEndian, uint32(7))
	b.WriteString("abcdefgh")
	b.WriteByte(0)
	caps := mysql.CLIENT_PROTOCOL_41 | mysql.CLIENT_SECURE_CONNECTION | mysql.CLIENT_PLUGIN_AUTH | mysql.CLIENT_LONG_PASSWORD | mysql.CLIENT_TRANSACTIONS
	for _, c := range extra {
		caps |= c
	}
	_ = binary.Write(&b, binary.LittleEndian, uint16(caps))
	b.WriteByte(255)
	_ = binary.Write(&b, binary.LittleEndian, uint16(2))
	_ = binary.Write(&b, binary.LittleEndian, uint16(caps>>16))
	b.WriteByte(21)
	b.Write(make([]byte, 10))
	b.WriteString("ijklmnopqrst\x00")
	b.WriteString(plugin + "\x00")
	return b.Bytes()
}

// handshake sends the greeting and reads the client's answer.
func handshake(c net.Conn, plugin string) error {
	if err := writePacket(c, 0, greetingPacket(plugin)); err != nil {
		return err
	}
	_, err := readPacket(c)
	return err
}

func connect(t *testing.T, src Dialer, timeout time.Duration) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	c, err := src.Connect(ctx)
	if err == nil {
		c.Close()
	}
	return err
}

// hostile is the server side of a scripted connection: with cert set it offers TLS, expects
// the client to ask for it, and goes on over TLS with the sequence numbers that follow.
type hostile struct {
	c     net.Conn
	cert  *tls.Certificate
	shift byte
	rest  []byte // what the client sent over TLS after the script
}

// hello greets offering plugin and reads the client's answer (after TLS, with cert).
func (h *hostile) hello(plugin string) error {
	if h.cert == nil {
		return handshake(h.c, plugin)
	}
	if err := writePacket(h.c, 0, greetingPacket(plugin, mysql.CLIENT_SSL)); err != nil {
		return err
	}
	req, err := readPacket(h.c)
	if err != nil {
		return err
	}
	if len(req) != 32 || binary.LittleEndian.Uint32(req)&mysql.CLIENT_SSL == 0 {
		return fmt.Errorf("the client did not ask for TLS: % x", req)
	}
	tc := tls.Server(h.c, &tls.Config{Certificates: []tls.Certificate{*h.cert}})
	if err := tc.Handshake(); err != nil {
		return err
	}
	h.c, h.shift = tc, 1
	_, err = readPacket(h.c)
	return err
}

// send writes the packet of sequence seq in the plain-text numbering.
func (h *hostile) send(seq byte, payload []byte) error { return writePacket(h.c, seq+h.shift, payload) }

// read reads the client's next packet, and keeps it with what the client sent.
func (h *hostile) read() ([]byte, error) {
	b, err := readPacket(h.c)
	h.rest = append(h.rest, b...)
	return b, err
}

// drain keeps what the client sends over TLS until it closes the connection.
func (h *hostile) drain() {
	if h.cert != nil {
		_ = h.c.SetReadDeadline(time.Now().Add(10 * time.Second))
		b, _ := io.ReadAll(h.c)
		h.rest = append(h.rest, b...)
	}
}

// TestGuardRefusesToRevealPassword plays servers that ask the client for its password in a
// form they can read: the client must refuse and send nothing more, over a plain connection
// and over TLS that does not verify the server (anyone can present a certificate).
func TestGuardRefusesToRevealPassword(t *testing.T) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	pub, _ := x509.MarshalPKIXPublicKey(&key.PublicKey)
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub})
	password := []byte("s3cret-Pa55word")
	revealsRSA := func(sent []byte) bool {
		for i := range sent {
			if len(sent)-i >= 256 && decrypts(key, sent[i:i+256]) {
				return true
			}
		}
		return false
	}
	tests := []struct {
		name   string
		script func(h *hostile) error
		reveal func(sent []byte) bool
		want   string
	}{
		{
			name: "switch to mysql_clear_password",
			script: func(h *hostile) error {
				if err := h.hello(mysql.AUTH_NATIVE_PASSWORD); err != nil {
					return err
				}
				return h.send(2, append([]byte{0xfe}, "mysql_clear_password\x00"...))
			},
			reveal: func(sent []byte) bool { return bytes.Contains(sent, password) },
			want:   "mysql_clear_password",
		},
		{
			name: "switch to sha256_password",
			script: func(h *hostile) error {
				if err := h.hello(mysql.AUTH_NATIVE_PASSWORD); err != nil {
					return err
				}
				if err := h.send(2, append([]byte{0xfe}, "sha256_password\x00abcdefghijklmnopqrst\x00"...)); err != nil {
					return err
				}
				if _, err := h.read(); err != nil { // the client asks for the public key
					return err
				}
				return h.send(4, append([]byte{1}, keyPEM...))
			},
			reveal: func(sent []byte) bool { return bytes.Contains(sent, password) || revealsRSA(sent) },
			want:   "sha256_password",
		},
		{
			name: "caching_sha2_password full authentication",
			script: func(h *hostile) error {
				if err := h.hello(mysql.AUTH_CACHING_SHA2_PASSWORD); err != nil {
					return err
				}
				if err := h.send(2, []byte{1, mysql.CACHE_SHA2_FULL_AUTH}); err != nil {
					return err
				}
				if _, err := h.read(); err != nil { // the client asks for the public key
					return err
				}
				return h.send(4, append([]byte{1}, keyPEM...))
			},
			reveal: func(sent []byte) bool { return bytes.Contains(sent, password) || revealsRSA(sent) },
			want:   "full authentication",
		},
	}
	cert := testenv.NewCA(t, "impostor").Issue(t, "127.0.0.1")
	for _, conn := range []struct {
		name string
		cert *tls.Certificate
		tls  *api.SourceTLS
	}{
		{"plain", nil, nil},
		{"TLS without verification", &cert.TLS, &api.SourceTLS{Mode: api.TLSRequired}},
		{"TLS preferred", &cert.TLS, &api.SourceTLS{Mode: api.TLSPreferred}},
	} {
		for _, tt := range tests {
			t.Run(conn.name+"/"+tt.name, func(t *testing.T) {
				h := &hostile{cert: conn.cert}
				p := startPeer(t, func(c net.Conn) error {
					h.c = c
					if err := tt.script(h); err != nil {
						return err
					}
					h.drain()
					return nil
				})
				src := p.source()
				src.Source.TLS = conn.tls
				err := connect(t, src, 20*time.Second)
				sent := <-p.got
				if tt.reveal(sent) || tt.reveal(h.rest) {
					t.Fatalf("the client revealed the password to the server (sent %q, over TLS %q)", sent, h.rest)
				}
				if !errors.Is(err, ErrInsecureAuth) || !strings.Contains(err.Error(), tt.want) {
					t.Fatalf("connect error = %v; want ErrInsecureAuth naming %q", err, tt.want)
				}
			})
		}
	}
}

// TestGuardVerifiedTLS: over TLS that verified the server, the server may ask for the password
// in clear, and the connection carries on into queries.
func TestGuardVerifiedTLS(t *testing.T) {
	ca := testenv.NewCA(t, "source")
	cert := ca.Issue(t, "127.0.0.1")
	h := &hostile{cert: &cert.TLS}
	var answer []byte
	p := startPeer(t, func(c net.Conn) error {
		h.c = c
		if err := h.hello(mysql.AUTH_NATIVE_PASSWORD); err != nil {
			return err
		}
		if err := h.send(2, append([]byte{0xfe}, "mysql_clear_password\x00"...)); err != nil {
			return err
		}
		var err error
		if answer, err = h.read(); err != nil {
			return err
		}
		ok := []byte{mysql.OK_HEADER, 0, 0, 2, 0, 0, 0}
		if err := h.send(4, ok); err != nil {
			return err
		}
		// The session's time zone: a query of the command phase, numbered from 0 again.
		h.shift = 0
		q, err := h.read()
		if err != nil {
			return err
		}
		if !bytes.Contains(q, []byte("time_zone")) {
			return fmt.Errorf("unexpected query %q", q)
		}
		if err := h.send(1, ok); err != nil {
			return err
		}
		h.drain()
		return nil
	})
	src := p.source()
	src.Source.TLS = &api.SourceTLS{Mode: api.TLSVerifyIdentity, CAPEM: ca.PEM}
	if err := connect(t, src, 20*time.Second); err != nil {
		t.Fatalf("connect over verified TLS: %v", err)
	}
	<-p.got
	if !bytes.HasPrefix(answer, []byte("s3cret-Pa55word")) {
		t.Fatalf("the verified server got %q, want the password", answer)
	}
}

// decrypts reports whether b is the test password encrypted with key the way MySQL clients do
// (XOR with the scramble, RSA-OAEP).
func decrypts(key *rsa.PrivateKey, b []byte) bool {
	plain, err := rsa.DecryptOAEP(sha1.New(), rand.Reader, key, b, nil)
	if err != nil {
		return false
	}
	scramble := []byte("abcdefghijklmnopqrst")
	for i := range plain {
		plain[i] ^= scramble[i%len(scramble)]
	}
	return bytes.HasPrefix(plain, []byte("s3cret-Pa55word"))
}

// silent says nothing until the client goes away.
func silent(c net.Conn) error {
	_, err := io.Copy(io.Discard, c)
	return err
}

// TestGuardPeerNotMySQL connects to peers that are not MySQL servers: each ends in a clear
// error, never a panic, a hang or an allocation the size the peer announced.
func TestGuardPeerNotMySQL(t *testing.T) {
	saved := handshakeTimeout
	handshakeTimeout = 500 * time.Millisecond
	t.Cleanup(func() { handshakeTimeout = saved })
	tests := []struct {
		name   string
		script func(c net.Conn) error
		max    int
		want   error
		text   string
	}{
		{"an HTTP server", func(c net.Conn) error {
			_, err := c.Write([]byte("HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n"))
			return err
		}, 0, ErrNotMySQL, "not a MySQL greeting"},
		{"a truncated greeting", func(c net.Conn) error {
			return writePacket(c, 0, greetingPacket(mysql.AUTH_NATIVE_PASSWORD)[:20])
		}, 0, ErrNotMySQL, "malformed"},
		{"a greeting of another protocol", func(c net.Conn) error {
			return writePacket(c, 0, []byte{11, 'x', 0})
		}, 0, ErrNotMySQL, "where a MySQL server greets"},
		{"a server that never greets", silent, 0, nil, "did not complete the MySQL handshake"},
		{"a packet larger than the limit", func(c net.Conn) error {
			if err := handshake(c, mysql.AUTH_NATIVE_PASSWORD); err != nil {
				return err
			}
			if err := writePacket(c, 2, []byte{0, 0, 0, 2, 0, 0, 0}); err != nil { // OK
				return err
			}
			if _, err := readPacket(c); err != nil { // SET time_zone
				return err
			}
			// A result announced as 16 MiB chunks, more than the 1 MiB limit.
			_, err := c.Write([]byte{0xff, 0xff, 0xff, 1})
			return err
		}, 1 << 20, ErrPacketTooLarge, "larger than"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := startPeer(t, tt.script)
			src := p.source()
			src.MaxPacket = tt.max
			err := connect(t, src, 20*time.Second)
			if err == nil || tt.want != nil && !errors.Is(err, tt.want) || !strings.Contains(err.Error(), tt.text) {
				t.Fatalf("connect error = %v; want %v with %q", err, tt.want, tt.text)
			}
		})
	}
}

// TestGuardHonoursContext: a connect to a server that never answers returns as soon as its
// context ends.
func TestGuardHonoursContext(t *testing.T) {
	p := startPeer(t, silent)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		c, err := p.source().Connect(ctx)
		if err == nil {
			c.Close()
		}
		done <- err
	}()
	cancel()
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("connect succeeded")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("connect did not return after its context ended")
	}
}
