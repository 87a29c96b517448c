package dispatcher

import (
	"bufio"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"io"
	"mime"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/valyala/fasthttp"

	"github.com/dtsrepl/dts/api"
)

// The front door decides on a request's headers alone whether it will be served: cross-site
// requests, missing or wrong credentials, state changes that are not JSON and bodies over
// MaxBody are refused before a byte of the body is read. fasthttp would otherwise read (and
// preallocate, from Content-Length) the whole body before any handler runs, so that an
// unauthenticated client could make the server hold megabytes per socket.
//
// fasthttp's HeaderReceived hook runs between the headers and the body. It cannot answer, but it
// can change the header it is given: for a request it will refuse, it records the announced
// length in internalLengthHeader and sets Content-Length to 0, so fasthttp reads no body and
// runs the handler, where guard answers the refusal. The body is then still in the socket:
// closing at once would make the kernel answer it with a reset, which can destroy the response
// before the client reads it. So the connection is hijacked: the response is written with
// Connection: close, the connection half-closed (FIN) and drained for a bounded time and size
// before it is closed.

// internalLengthHeader carries a skipped body's announced length from HeaderReceived to guard
// (-1: chunked). HeaderReceived deletes any a client sends.
const internalLengthHeader = "X-Dts-Internal-Skipped-Body-Length"

// Bounds of draining a refused body after the answer: enough for a client that sends its whole
// body before it reads, little enough that refused clients cost next to nothing.
const (
	lingerTimeout = 5 * time.Second
	lingerBytes   = 4 * MaxBody
	// lingerSlots bounds the connections drained at once; beyond it they are closed at once.
	lingerSlots = 64
)

// traceKey is the user value holding a request's trace id.
const traceKey = "dts-trace-id"

// headerReceived is fasthttp's HeaderReceived hook: a request with a body that screen refuses
// has its body skipped (see above).
func (s *Server) headerReceived(h *fasthttp.RequestHeader) fasthttp.RequestConfig {
	h.Del(internalLengthHeader)
	n := h.ContentLength()
	if n == 0 || n == -2 { // no body
		return fasthttp.RequestConfig{}
	}
	if s.screen(h, n) == nil {
		return fasthttp.RequestConfig{}
	}
	h.Set(internalLengthHeader, strconv.Itoa(n))
	h.SetContentLength(0)
	// No "100 Continue" for a body that is refused, and no close before the drain.
	h.Del(fasthttp.HeaderExpect)
	h.ResetConnectionClose()
	return fasthttp.RequestConfig{}
}

// announcedLength is the body length the client announced: Content-Length, or what
// headerReceived recorded when it skipped the body (skipped is then true).
func announcedLength(h *fasthttp.RequestHeader) (n int, skipped bool) {
	if v := h.Peek(internalLengthHeader); len(v) > 0 {
		n, err := strconv.Atoi(string(v))
		if err != nil {
			n = -1
		}
		return n, true
	}
	return h.ContentLength(), false
}

// screen is the verdict on a request's headers: nil to serve it, else the refusal. bodyLen is
// the announced length (-1 chunked, -2 none).
func (s *Server) screen(h *fasthttp.RequestHeader, bodyLen int) *api.Error {
	public := isPublic(requestPath(h))
	if !public {
		if e := crossSite(h); e != nil {
			return e
		}
		if e := s.checkAuth(h); e != nil {
			return e
		}
	}
	if bodyLen > MaxBody {
		return api.FieldError("body", "larger than %d bytes", MaxBody)
	}
	if !public && changesState(h.Method()) {
		if e := jsonContentType(h); e != nil {
			return e
		}
	}
	return nil
}

// requestPath is the path as fiber routes it (the original, undecoded path of the request URI),
// lowercased and without trailing slashes, as fiber matches routes by default.
func requestPath(h *fasthttp.RequestHeader) string {
	u := fasthttp.AcquireURI()
	defer fasthttp.ReleaseURI(u)
	if err := u.Parse(nil, h.RequestURI()); err != nil {
		return ""
	}
	p := strings.ToLower(string(u.PathOriginal()))
	if len(p) > 1 {
		p = strings.TrimRight(p, "/")
	}
	return p
}

// isPublic reports the paths served without credentials: Nomad's health check and Prometheus.
func isPublic(path string) bool {
	return path == "/healthz" || path == "/metrics"
}

// changesState reports the methods of the routes that change tasks.
func changesState(method []byte) bool {
	switch string(method) {
	case fasthttp.MethodPost, fasthttp.MethodPut, fasthttp.MethodDelete:
		return true
	}
	return false
}

// crossSite refuses what a browser sends on behalf of another site: Sec-Fetch-Site says so
// (same-site too: another host under the same domain is another party), or Origin names
// another origin than this dispatcher (the Host the request was sent to). Clients other than
// browsers send neither header.
func crossSite(h *fasthttp.RequestHeader) *api.Error {
	if v := string(h.Peek("Sec-Fetch-Site")); v != "" {
		switch strings.ToLower(v) {
		case "same-origin", "none":
		default:
			return api.Errorf(api.CodeForbidden, "cross-site request refused (Sec-Fetch-Site: %s): the API does not serve pages of other sites", v)
		}
	}
	origin := string(h.Peek(fasthttp.HeaderOrigin))
	if origin == "" || sameOrigin(origin, string(h.Host())) {
		return nil
	}
	return api.Errorf(api.CodeForbidden, "cross-site request refused (Origin %q is not this dispatcher): the API does not serve pages of other sites", origin)
}

// sameOrigin reports whether origin (scheme://host[:port]) is the host the request was sent to.
func sameOrigin(origin, host string) bool {
	u, err := url.Parse(origin)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Path != "" || u.User != nil {
		return false
	}
	return strings.EqualFold(withPort(u.Host, u.Scheme), withPort(host, u.Scheme))
}

func withPort(hostport, scheme string) string {
	if _, _, err := net.SplitHostPort(hostport); err == nil {
		return hostport
	}
	if scheme == "https" {
		return net.JoinHostPort(strings.Trim(hostport, "[]"), "443")
	}
	return net.JoinHostPort(strings.Trim(hostport, "[]"), "80")
}

// jsonContentType requires the seed's Content-Type on requests that change tasks: a form or a
// text/plain fetch from another site can be sent by a browser without asking, JSON cannot.
func jsonContentType(h *fasthttp.RequestHeader) *api.Error {
	ct := string(h.ContentType())
	if ct == "" {
		return api.FieldError("header Content-Type", "must be application/json (got none)")
	}
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil || mt != "application/json" {
		return api.FieldError("header Content-Type", "must be application/json (got %q)", ct)
	}
	return nil
}

// guard is the first middleware: it serves only what screen lets through, and arranges the
// orderly close of a connection whose body was skipped. It repeats the verdict headerReceived
// made so that the fiber app alone (App) is guarded too.
func (s *Server) guard(c *fiber.Ctx) error {
	h := &c.Context().Request.Header
	n, skipped := announcedLength(h)
	e := s.screen(h, n)
	if skipped {
		s.closeAfterResponse(c.Context())
		if e == nil { // cannot happen: the same headers got a refusal before
			e = api.Errorf(api.CodeBadRequest, "body: refused")
		}
	}
	if e != nil {
		return e
	}
	return c.Next()
}

// closeAfterResponse ends the connection after this response without reading the request's
// body into memory: half-close, drain a bounded amount, close (see the top of this file).
func (s *Server) closeAfterResponse(fctx *fasthttp.RequestCtx) {
	cw, ok := fctx.Conn().(interface{ CloseWrite() error })
	if !ok {
		fctx.Response.SetConnectionClose()
		return
	}
	select {
	case s.lingering <- struct{}{}:
	default:
		fctx.Response.SetConnectionClose() // too many at once: close, whatever the client sees
		return
	}
	// fasthttp closes at once, without hijacking, when the response says Connection: close;
	// without that header a client would reuse the connection. So the hijack handler writes the
	// response itself. The ctx stays valid until the handler returns.
	fctx.HijackSetNoResponse(true)
	fctx.Hijack(func(conn net.Conn) {
		defer func() { <-s.lingering }()
		fctx.Response.SetConnectionClose()
		if err := conn.SetWriteDeadline(time.Now().Add(lingerTimeout)); err != nil {
			return
		}
		bw := bufio.NewWriter(conn)
		if err := fctx.Response.Write(bw); err != nil || bw.Flush() != nil {
			return
		}
		if err := cw.CloseWrite(); err != nil {
			return
		}
		if err := conn.SetReadDeadline(time.Now().Add(lingerTimeout)); err != nil {
			return
		}
		_, _ = io.CopyN(io.Discard, conn, lingerBytes)
	})
}

// front wraps fiber's handler: every request gets its trace id, and methods fiber does not know
// (which it answers in plain text) are answered in the envelope, after the screen.
func (s *Server) front(next fasthttp.RequestHandler) fasthttp.RequestHandler {
	return func(fctx *fasthttp.RequestCtx) {
		start := time.Now()
		id := newTraceID()
		fctx.SetUserValue(traceKey, id)
		fctx.Response.Header.Set(api.TraceHeader, id)
		if knownMethod(fctx.Method()) {
			next(fctx)
			return
		}
		h := &fctx.Request.Header
		n, skipped := announcedLength(h)
		e := s.screen(h, n)
		if skipped {
			s.closeAfterResponse(fctx)
		}
		if e == nil {
			e = api.Errorf(api.CodeNotFound, "no route %s %s", fctx.Method(), fctx.URI().PathOriginal())
		}
		writeError(fctx, e)
		s.record(fctx, "unmatched", start)
	}
}

// knownMethod reports the methods fiber routes (it answers others itself, outside the envelope).
func knownMethod(m []byte) bool {
	switch string(m) {
	case fasthttp.MethodGet, fasthttp.MethodHead, fasthttp.MethodPost, fasthttp.MethodPut, fasthttp.MethodDelete,
		fasthttp.MethodConnect, fasthttp.MethodOptions, fasthttp.MethodTrace, fasthttp.MethodPatch:
		return true
	}
	return false
}

// newTraceID is a random 128-bit id in hex, the form of an OpenTelemetry trace id that Kratos
// services send.
func newTraceID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// traceID is the request's trace id, set by front; requests fasthttp refused before any handler
// ran get one here.
func traceID(fctx *fasthttp.RequestCtx) string {
	if id, ok := fctx.UserValue(traceKey).(string); ok {
		return id
	}
	id := newTraceID()
	fctx.SetUserValue(traceKey, id)
	fctx.Response.Header.Set(api.TraceHeader, id)
	return id
}

// writeError writes an error envelope, with the headers that go with its code.
func writeError(fctx *fasthttp.RequestCtx, e *api.Error) {
	if e.Code == api.CodeUnauthorized {
		fctx.Response.Header.Set(fasthttp.HeaderWWWAuthenticate, `Basic realm="dts"`)
	}
	fctx.Response.Header.Set(api.StatusHeader, strconv.Itoa(e.Code))
	writeJSON(fctx, e.HTTPStatus(), api.Envelope[struct{}]{Code: e.Code, Message: e.Message, TTL: 1})
}

// writeJSON writes v as the response body, encoded as fiber's c.JSON encodes it.
func writeJSON(fctx *fasthttp.RequestCtx, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = fasthttp.StatusInternalServerError, []byte(`{"code":-500,"message":"internal error","ttl":1,"data":{}}`)
	}
	fctx.SetStatusCode(status)
	fctx.SetContentType(contentType)
	fctx.SetBody(b)
}
