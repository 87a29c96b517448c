package dispatcher

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/dtsrepl/dts/api"
)

// serve runs h's dispatcher on a loopback listener until the test ends and returns its address.
func serve(t *testing.T, h *harness) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- h.srv.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-served; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	return ln.Addr().String()
}

// rawReply is a response read off a raw connection.
type rawReply struct {
	resp *http.Response
	env  api.Envelope[json.RawMessage]
}

// readReply reads one response from conn within a bound (a hung server fails the test instead
// of hanging it; the bound is not what is tested).
func readReply(t *testing.T, conn net.Conn, br *bufio.Reader) (*rawReply, error) {
	t.Helper()
	if err := conn.SetReadDeadline(time.Now().Add(10 * time.Second)); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	r := &rawReply{resp: resp}
	if err := json.NewDecoder(resp.Body).Decode(&r.env); err != nil {
		return nil, fmt.Errorf("HTTP %d: not an envelope: %w", resp.StatusCode, err)
	}
	return r, nil
}

// TestRefusedBeforeTheBody sends only a request's head, announcing a body it never sends: a
// request refused on its headers (no auth, too large, wrong type, cross-site) is answered at
// once, so the server neither waits for nor buffers a body it will refuse. The connection is
// then closed in order (FIN), not reset.
func TestRefusedBeforeTheBody(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	addr := serve(t, h)
	auth := "Authorization: Basic " + basic(testUser, testPassword) + "\r\n"
	json := "Content-Type: application/json\r\n"
	for _, tc := range []struct {
		name, head string
		code       int
		msg        string
	}{
		{"no auth", json + "Content-Length: 1048576\r\n", api.CodeUnauthorized, "authentication required"},
		{"wrong password", "Authorization: Basic " + basic(testUser, "x") + "\r\n" + json + "Content-Length: 1048576\r\n", api.CodeUnauthorized, "wrong user name or password"},
		{"no auth, chunked", json + "Transfer-Encoding: chunked\r\n", api.CodeUnauthorized, "authentication required"},
		{"no auth, expecting 100-continue", json + "Expect: 100-continue\r\nContent-Length: 500000\r\n", api.CodeUnauthorized, "authentication required"},
		{"no auth, asking to close", json + "Connection: close\r\nContent-Length: 100\r\n", api.CodeUnauthorized, "authentication required"},
		{"one byte over the limit", auth + json + fmt.Sprintf("Content-Length: %d\r\n", MaxBody+1), api.CodeBadRequest, "body: larger than 1048576 bytes"},
		{"far over the limit", auth + json + "Content-Length: 1000000000000\r\n", api.CodeBadRequest, "body: larger than 1048576 bytes"},
		{"over the limit, expecting 100-continue", auth + json + "Expect: 100-continue\r\nContent-Length: 2000000\r\n", api.CodeBadRequest, "body: larger than 1048576 bytes"},
		{"not JSON", auth + "Content-Type: text/plain\r\nContent-Length: 100\r\n", api.CodeBadRequest, "Content-Type: must be application/json"},
		{"cross-site", auth + json + "Origin: http://evil.example\r\nContent-Length: 100\r\n", api.CodeForbidden, "cross-site"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			conn, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			if _, err := fmt.Fprintf(conn, "POST /v1/dispatch/submit HTTP/1.1\r\nHost: %s\r\n%s\r\n", addr, tc.head); err != nil {
				t.Fatal(err)
			}
			br := bufio.NewReader(conn)
			r, err := readReply(t, conn, br)
			if err != nil {
				t.Fatalf("no answer before the body was sent: %v", err)
			}
			if r.resp.StatusCode == http.StatusContinue {
				t.Fatal("the server asked for the body of a request it refuses")
			}
			if r.env.Code != tc.code || !strings.Contains(r.env.Message, tc.msg) || r.resp.StatusCode != api.HTTPStatus(tc.code) {
				t.Fatalf("HTTP %d %+v, want %d with %q", r.resp.StatusCode, r.env, tc.code, tc.msg)
			}
			if r.resp.Header.Get(api.StatusHeader) != fmt.Sprint(tc.code) || r.resp.Header.Get(api.TraceHeader) == "" {
				t.Errorf("headers %v", r.resp.Header)
			}
			if !r.resp.Close {
				t.Error("the answer does not say Connection: close; a client would send its next request on a connection the server is closing")
			}
			// Nothing else comes: the server half-closes, and reads no request from the body.
			if n, err := br.Read(make([]byte, 1)); n != 0 || !errors.Is(err, io.EOF) {
				t.Errorf("after the answer: %d bytes, %v; want EOF", n, err)
			}
		})
	}
	if l, _ := h.store.List(t.Context()); len(l) != 0 {
		t.Errorf("refused requests stored %d tasks", len(l))
	}
}

// TestRefusedBodiesReachRealClients: clients that send their whole body before reading (net/http,
// curl) still read the refusal, every time, rather than a connection reset.
func TestRefusedBodiesReachRealClients(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	addr := serve(t, h)
	big := bigSubmit(MaxBody + 1)
	post := func(body, user string) (int, api.Envelope[json.RawMessage]) {
		t.Helper()
		req, err := http.NewRequest(http.MethodPost, "http://"+addr+"/v1/dispatch/submit", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		if user != "" {
			req.SetBasicAuth(user, testPassword)
		}
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("post %d bytes: %v", len(body), err)
		}
		defer resp.Body.Close()
		var env api.Envelope[json.RawMessage]
		if err := json.NewDecoder(resp.Body).Decode(&env); err != nil {
			t.Fatalf("post %d bytes: HTTP %d, not an envelope: %v", len(body), resp.StatusCode, err)
		}
		return resp.StatusCode, env
	}
	for range 10 {
		if status, env := post(big, ""); status != http.StatusUnauthorized || env.Code != api.CodeUnauthorized {
			t.Fatalf("a large body without auth: HTTP %d %+v", status, env)
		}
		if status, env := post(big, "intruder"); status != http.StatusUnauthorized || env.Code != api.CodeUnauthorized {
			t.Fatalf("a large body with a wrong user: HTTP %d %+v", status, env)
		}
		if status, env := post(big, testUser); status != http.StatusBadRequest || env.Message != "body: larger than 1048576 bytes" {
			t.Fatalf("a body over the limit: HTTP %d %+v", status, env)
		}
	}

	// curl, as an operator would send a file, with and without Expect: 100-continue.
	path := filepath.Join(t.TempDir(), "big.json")
	if err := os.WriteFile(path, []byte(bigSubmit(2*MaxBody)), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, extra := range [][]string{nil, {"-H", "Expect:"}} {
		for _, auth := range [][]string{nil, {"-u", testUser + ":" + testPassword}} {
			args := append([]string{"-sS", "-XPOST", "-H", "content-type:application/json", "--data-binary", "@" + path}, extra...)
			args = append(append(args, auth...), "http://"+addr+"/v1/dispatch/submit")
			out, err := exec.Command("curl", args...).Output()
			if err != nil {
				t.Fatalf("curl %v: %v", args, err)
			}
			var env api.Envelope[json.RawMessage]
			if err := json.Unmarshal(out, &env); err != nil {
				t.Fatalf("curl %v: %q is not an envelope", extra, out)
			}
			want := api.CodeBadRequest
			if auth == nil {
				want = api.CodeUnauthorized
			}
			if env.Code != want {
				t.Errorf("curl %v %v: %+v, want %d", extra, auth, env, want)
			}
		}
	}
	// The server still serves.
	if status, env := post(seedBody(srcPort, kafkaAddr, "t"), testUser); status != http.StatusOK || env.Code != api.CodeOK {
		t.Errorf("after refused bodies: HTTP %d %+v", status, env)
	}
}

// bigSubmit is a submit body of n bytes or a little more.
func bigSubmit(n int) string {
	return `{"task":{"source":{"host":"127.0.0.1","port":1},"kafka":{"addr":"127.0.0.1:1","topic":"t"},"filters":[{"dbname":"` + strings.Repeat("x", n) + `"}]}}`
}

// TestUnauthenticatedSocketsCostLittle opens sockets that announce a 1 MiB body without
// credentials and measures how much the server's heap grows while they are open. Before bodies
// were refused on their headers, the server preallocated each announced body (8 MiB allowed):
// this is the figure the issue measured as RSS.
func TestUnauthenticatedSocketsCostLittle(t *testing.T) {
	h := newHarness(t)
	addr := serve(t, h)
	const sockets = 100
	heap := func() uint64 {
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return m.HeapAlloc
	}
	before := heap()
	conns := make([]net.Conn, 0, sockets)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for range sockets {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
		// Headers and the first bytes of a body, as a slow or hostile client sends them.
		if _, err := fmt.Fprintf(c, "POST /v1/dispatch/submit HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n{\"task\":", addr, MaxBody); err != nil {
			t.Fatal(err)
		}
	}
	// Each socket is answered (and then half-closed) without its body; with the old server no
	// answer comes, and the wait ends at its bound.
	answered := 0
	deadline := time.Now().Add(10 * time.Second)
	for _, c := range conns {
		c.SetReadDeadline(deadline)
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusUnauthorized {
				answered++
			}
		}
	}
	after := heap()
	growth := int64(after) - int64(before)
	t.Logf("%d unauthenticated sockets announcing %d-byte bodies: heap %d -> %d bytes, %+d bytes (%.1f KiB per socket); %d answered 401",
		sockets, MaxBody, before, after, growth, float64(growth)/sockets/1024, answered)
	if answered != sockets {
		t.Errorf("%d of %d sockets got their 401 without sending the body", answered, sockets)
	}
	// A bound on memory, not on time: well under one body per socket.
	if limit := int64(sockets * 64 << 10); growth > limit {
		t.Errorf("heap grew %d bytes for %d sockets, more than %d", growth, sockets, limit)
	}
}

// TestCrossSiteAndContentType: a page in an operator's browser cannot change anything. A
// state-changing request must say it sends JSON (which a cross-site form cannot, and which makes
// fetch ask first with a preflight the dispatcher does not grant), and a request a browser marks
// as cross-site, or whose Origin is another site, is refused.
func TestCrossSiteAndContentType(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	id := h.submit()
	auth := "Basic " + basic(testUser, testPassword)
	body := seedBody(srcPort, kafkaAddr, "t")
	alter := fmt.Sprintf("/v1/dispatch/alter/%d", id)
	stop := fmt.Sprintf("/v1/task/%d/stop", id)
	for _, tc := range []struct {
		name, method, path, body string
		headers                  map[string]string
		code                     int
		msg                      string
	}{
		{"submit without Content-Type", http.MethodPost, "/v1/dispatch/submit", body, nil, api.CodeBadRequest, "Content-Type: must be application/json (got none)"},
		{"submit as a form", http.MethodPost, "/v1/dispatch/submit", body, map[string]string{"Content-Type": "application/x-www-form-urlencoded"}, api.CodeBadRequest, `Content-Type: must be application/json (got "application/x-www-form-urlencoded")`},
		{"submit as text", http.MethodPost, "/v1/dispatch/submit", body, map[string]string{"Content-Type": "text/plain"}, api.CodeBadRequest, "Content-Type: must be application/json"},
		{"submit as multipart", http.MethodPost, "/v1/dispatch/submit", body, map[string]string{"Content-Type": "multipart/form-data; boundary=x"}, api.CodeBadRequest, "Content-Type: must be application/json"},
		{"submit as json-ish", http.MethodPost, "/v1/dispatch/submit", body, map[string]string{"Content-Type": "application/jsonx"}, api.CodeBadRequest, "Content-Type: must be application/json"},
		{"alter as text", http.MethodPut, alter, body, map[string]string{"Content-Type": "text/plain"}, api.CodeBadRequest, "Content-Type"},
		{"stop without Content-Type", http.MethodPost, stop, "", nil, api.CodeBadRequest, "Content-Type"},
		{"start as text", http.MethodPost, fmt.Sprintf("/v1/task/%d/start", id), "", map[string]string{"Content-Type": "text/plain"}, api.CodeBadRequest, "Content-Type"},
		{"delete without Content-Type", http.MethodDelete, fmt.Sprintf("/v1/task/%d", id), "", nil, api.CodeBadRequest, "Content-Type"},
		{"cross-site origin", http.MethodPost, "/v1/dispatch/submit", body, map[string]string{"Origin": "http://evil.example"}, api.CodeForbidden, `cross-site request refused (Origin "http://evil.example" is not this dispatcher)`},
		{"origin on another port", http.MethodPost, stop, "", map[string]string{"Origin": "http://example.com:8080"}, api.CodeForbidden, "cross-site"},
		{"null origin", http.MethodPut, alter, body, map[string]string{"Origin": "null"}, api.CodeForbidden, "cross-site"},
		{"fetch cross-site", http.MethodPost, stop, "", map[string]string{"Sec-Fetch-Site": "cross-site"}, api.CodeForbidden, "cross-site request refused (Sec-Fetch-Site: cross-site)"},
		{"fetch same-site", http.MethodDelete, fmt.Sprintf("/v1/task/%d", id), "", map[string]string{"Sec-Fetch-Site": "same-site"}, api.CodeForbidden, "Sec-Fetch-Site: same-site"},
		{"cross-site read", http.MethodGet, "/v1/task/list", "", map[string]string{"Origin": "http://evil.example"}, api.CodeForbidden, "cross-site"},
		{"cross-site without auth", http.MethodPost, stop, "", map[string]string{"Origin": "http://evil.example", "Authorization": "-"}, api.CodeForbidden, "cross-site"},

		{"charset", http.MethodPost, stop, "", map[string]string{"Content-Type": "application/json; charset=utf-8"}, api.CodeOK, ""},
		{"upper case", http.MethodPost, stop, "", map[string]string{"Content-Type": "Application/JSON"}, api.CodeOK, ""},
		{"same origin", http.MethodPost, stop, "", map[string]string{"Origin": "http://example.com"}, api.CodeOK, ""},
		{"fetch same-origin", http.MethodPost, stop, "", map[string]string{"Sec-Fetch-Site": "same-origin"}, api.CodeOK, ""},
		{"typed into the address bar", http.MethodPost, stop, "", map[string]string{"Sec-Fetch-Site": "none"}, api.CodeOK, ""},
		{"a read needs no Content-Type", http.MethodGet, "/v1/task/list", "", map[string]string{"Content-Type": "-"}, api.CodeOK, ""},
	} {
		headers := map[string]string{"Content-Type": "application/json", "Authorization": auth}
		if tc.headers == nil {
			delete(headers, "Content-Type")
		}
		for k, v := range tc.headers {
			headers[k] = v
			if v == "-" {
				delete(headers, k)
			}
		}
		r := h.doHeaders(tc.method, tc.path, tc.body, headers)
		if r.Env.Code != tc.code || !strings.Contains(r.Env.Message, tc.msg) {
			t.Errorf("%s: %s", tc.name, r.Raw)
			continue
		}
		r.wantCode(t, tc.code)
	}
	// Nothing refused reached the store or the launcher.
	if l, _ := h.store.List(t.Context()); len(l) != 1 {
		t.Errorf("%d tasks, want the one submitted", len(l))
	}
	if launches, _, removes := h.launcher.calls(); len(launches) != 1 || len(removes) != 0 {
		t.Errorf("launches %d, removes %v", len(launches), removes)
	}
}

// TestTraceID: every response carries a Kratos-Trace-Id of its own, also in the request's log line.
func TestTraceID(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	seen := map[string]bool{}
	for _, r := range []*response{
		h.do(http.MethodPost, "/v1/dispatch/submit", seedBody(srcPort, kafkaAddr, "t")),
		h.do(http.MethodGet, "/v1/task/list", ""),
		h.do(http.MethodGet, "/v1/task/99", ""),
		h.do(http.MethodPost, "/v1/dispatch/submit", "{"),
		h.doAuth(http.MethodGet, "/v1/task/list", "", ""),
		h.do(http.MethodGet, "/nope", ""),
		h.do("PATCH", "/v1/task/1", ""),
		h.do("FOO", "/v1/task/list", ""),
		h.doAuth(http.MethodGet, "/healthz", "", ""),
	} {
		id := r.Header.Get(api.TraceHeader)
		if len(id) != 32 || seen[id] {
			t.Errorf("%s: trace id %q (seen before: %v)", r.Raw, id, seen[id])
		}
		seen[id] = true
		if !strings.Contains(h.logs.String(), `"trace_id":"`+id+`"`) {
			t.Errorf("trace id %s is in no log line", id)
		}
	}
}

// TestUnknownMethods: methods the API has no route for answer in the envelope, after auth.
func TestUnknownMethods(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.submit()
	for _, m := range []string{"PATCH", "FOO", "PROPFIND", "TRACE", "OPTIONS"} {
		for _, path := range []string{"/v1/task/1", "/v1/task/list", "/v1/dispatch/submit"} {
			r := h.do(m, path, "")
			r.wantCode(t, api.CodeNotFound, "no route "+m+" "+path)
			if ct := r.Header.Get("Content-Type"); ct != "application/json; charset=utf-8" {
				t.Errorf("%s %s: Content-Type %q", m, path, ct)
			}
			h.doAuth(m, path, "", "").wantCode(t, api.CodeUnauthorized)
		}
	}
	if got := h.store.task(t, 1); got.Desired != api.DesiredRunning {
		t.Errorf("task changed: %+v", got)
	}
}
