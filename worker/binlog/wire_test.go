package binlog

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/x509"
	"encoding/binary"
	"encoding/pem"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/go-mysql-org/go-mysql/mysql"

	"github.com/dtsrepl/dts/api"
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
	go func() {
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

// greetingPacket is a MySQL 8 protocol-10 greeting offering plugin.
func greetingPacket(plugin string) []byte {
	var b bytes.Buffer
	b.WriteByte(10)
	b.WriteString("8.0.36-hostile\x00")
	_ = binary.Write(&b, binary.LittleEndian, uint32(7))
	b.WriteString("abcdefgh")
	b.WriteByte(0)
	caps := mysql.CLIENT_PROTOCOL_41 | mysql.CLIENT_SECURE_CONNECTION | mysql.CLIENT_PLUGIN_AUTH | mysql.CLIENT_LONG_PASSWORD | mysql.CLIENT_TRANSACTIONS
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

// TestGuardRefusesToRevealPassword plays servers that ask the client for its password in a
// form they can read: the client must refuse and send nothing more.
func TestGuardRefusesToRevealPassword(t *testing.T) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	pub, _ := x509.MarshalPKIXPublicKey(&key.PublicKey)
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub})
	tests := []struct {
		name   string
		script func(c net.Conn) error
		reveal func(sent []byte) bool
		want   string
	}{
		{
			name: "switch to mysql_clear_password",
			script: func(c net.Conn) error {
				if err := handshake(c, mysql.AUTH_NATIVE_PASSWORD); err != nil {
					return err
				}
				return writePacket(c, 2, append([]byte{0xfe}, "mysql_clear_password\x00"...))
			},
			reveal: func(sent []byte) bool { return bytes.Contains(sent, []byte("s3cret-Pa55word")) },
			want:   "mysql_clear_password",
		},
		{
			name: "switch to sha256_password",
			script: func(c net.Conn) error {
				if err := handshake(c, mysql.AUTH_NATIVE_PASSWORD); err != nil {
					return err
				}
				if err := writePacket(c, 2, append([]byte{0xfe}, "sha256_password\x00abcdefghijklmnopqrst\x00"...)); err != nil {
					return err
				}
				if _, err := readPacket(c); err != nil { // the client asks for the public key
					return err
				}
				return writePacket(c, 4, append([]byte{1}, keyPEM...))
			},
			reveal: func(sent []byte) bool { return len(sent) > 4 && decrypts(key, sent[4:]) },
			want:   "sha256_password",
		},
		{
			name: "caching_sha2_password full authentication",
			script: func(c net.Conn) error {
				if err := handshake(c, mysql.AUTH_CACHING_SHA2_PASSWORD); err != nil {
					return err
				}
				if err := writePacket(c, 2, []byte{1, mysql.CACHE_SHA2_FULL_AUTH}); err != nil {
					return err
				}
				if _, err := readPacket(c); err != nil { // the client asks for the public key
					return err
				}
				return writePacket(c, 4, append([]byte{1}, keyPEM...))
			},
			reveal: func(sent []byte) bool { return len(sent) > 4 && decrypts(key, sent[4:]) },
			want:   "full authentication",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := startPeer(t, tt.script)
			err := connect(t, p.source(), 20*time.Second)
			sent := <-p.got
			if tt.reveal(sent) {
				t.Fatalf("the client revealed the password to the server (sent %q)", sent)
			}
			if !errors.Is(err, ErrInsecureAuth) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("connect error = %v; want ErrInsecureAuth naming %q", err, tt.want)
			}
		})
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
		{"a server that never greets", func(c net.Conn) error {
			time.Sleep(3 * time.Second)
			return nil
		}, 0, nil, "did not complete the MySQL handshake"},
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
	p := startPeer(t, func(c net.Conn) error {
		time.Sleep(20 * time.Second)
		return nil
	})
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
