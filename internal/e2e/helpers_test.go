package e2e

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/dtsrepl/dts/api"
	"github.com/dtsrepl/dts/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// The seed document's values: the API's test account (its Authorization header) and the MySQL
// replication account of its examples.
const (
	seedAuthHeader = "Authorization:Basic cmVwbGljYXRvcjpkdHNmb3IzLjE0MTU5MjY="
	seedAPIUser    = "replicator"
	seedAPIPass    = "dtsfor3.1415926"
	seedDBUser     = "xes_replicator"
	seedDBPassword = "IYQBXGil84d44ee92cLjLHankV2rVyCg+"
)

// seedSubmitBody is the seed's submit (and alter) body, adapted only in the source port, the
// Kafka address and the topic.
func seedSubmitBody(port int, kafka, topic string) string {
	return `{"task":{"source":{"host":"127.0.0.1","port":` + strconv.Itoa(port) + `,"username":"xes_replicator","password":"IYQBXGil84d44ee92cLjLHankV2rVyCg+"},"kafka":{"addr":"` + kafka + `","topic":"` + topic + `","flat_format":false},"filters":[{"dbname":"oa_data_service","match":"/xes_class_students_\\d+/","filter":""},{"dbname":"oa_data_service","match":"check_delay","filter":""}],"incr":true}}`
}

// env is the test's environment without anything that would point a child at other servers or
// change its configuration.
func childEnv(extra ...string) []string {
	var out []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "DTS_") || strings.HasPrefix(k, "CONSUL_") || strings.HasPrefix(k, "NOMAD_") || k == "AWS_CA_BUNDLE" {
			continue
		}
		out = append(out, kv)
	}
	return append(out, extra...)
}

// server is a dts dispatcher or dts dev process serving the API.
type server struct {
	Proc *testenv.Process
	URL  string // http://127.0.0.1:port
}

// startServer runs `dts <args> --listen 127.0.0.1:<free>` and waits until /healthz answers 0.
// A port taken meanwhile by a parallel test is retried.
func startServer(t *testing.T, name, dir string, env []string, args ...string) *server {
	t.Helper()
	bin := testenv.Build(t, "./cmd/dts")
	var last error
	for attempt := range 3 {
		addr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
		pname := name
		if attempt > 0 {
			pname = fmt.Sprintf("%s-retry%d", name, attempt)
		}
		argv := append(append([]string{bin}, args...), "--listen", addr)
		p := testenv.StartProcess(t, pname, dir, env, syscall.SIGTERM, argv...)
		s := &server{Proc: p, URL: "http://" + addr}
		last = testenv.WaitFor(context.Background(), p, 60*time.Second, func(ctx context.Context) error {
			resp, err := http.Get(s.URL + "/healthz")
			if err != nil {
				return err
			}
			defer resp.Body.Close()
			var env api.Envelope[json.RawMessage]
			if err := json.NewDecoder(resp.Body).Decode(&env); err != nil {
				return err
			}
			if env.Code != 0 {
				return fmt.Errorf("healthz: %d %s", env.Code, env.Message)
			}
			return nil
		})
		if last == nil {
			return s
		}
		if !strings.Contains(p.Log(), "address already in use") {
			break
		}
		p.Stop(syscall.SIGKILL, time.Second)
	}
	t.Fatalf("%s did not start: %v", name, last)
	return nil
}

// reply is one HTTP exchange with the API.
type reply struct {
	Status int
	Header http.Header
	Body   string
	Env    api.Envelope[json.RawMessage]
}

// recorder keeps every response body a test received, to search them for secrets.
type recorder struct {
	mu     sync.Mutex
	bodies []string
}

func (r *recorder) add(body string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.bodies = append(r.bodies, body)
}

func (r *recorder) all() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.bodies...)
}

// curl runs the real curl binary with args (as a shell would pass them) and parses its -i output.
func (r *recorder) curl(t *testing.T, stdin string, args ...string) *reply {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "curl", args...)
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("curl %s: %v\n%s", strings.Join(shorten(args), " "), err, stderr.String())
	}
	rep := parseCurl(t, string(out))
	r.add(rep.Body)
	return rep
}

func shorten(args []string) []string {
	out := make([]string, len(args))
	for i, a := range args {
		if len(a) > 300 {
			a = a[:300] + "..."
		}
		out[i] = a
	}
	return out
}

// parseCurl splits curl -i output into the final response's status, headers and body.
func parseCurl(t *testing.T, out string) *reply {
	t.Helper()
	for {
		head, body, ok := strings.Cut(out, "\r\n\r\n")
		if !ok {
			t.Fatalf("curl output has no header block: %q", out)
		}
		lines := strings.Split(head, "\r\n")
		f := strings.Fields(lines[0])
		if len(f) < 2 || !strings.HasPrefix(f[0], "HTTP/") {
			t.Fatalf("curl output does not start with a status line: %q", out)
		}
		status, err := strconv.Atoi(f[1])
		if err != nil {
			t.Fatalf("status line %q", lines[0])
		}
		if status == http.StatusContinue {
			out = body
			continue
		}
		rep := &reply{Status: status, Header: http.Header{}, Body: body}
		for _, l := range lines[1:] {
			k, v, _ := strings.Cut(l, ":")
			rep.Header.Add(strings.TrimSpace(k), strings.TrimSpace(v))
		}
		if err := json.Unmarshal([]byte(body), &rep.Env); err != nil {
			t.Fatalf("HTTP %d, body is not an envelope: %v: %q", status, err, body)
		}
		return rep
	}
}

// api calls the dispatcher at base with curl, the seed's headers and body (if any).
func (r *recorder) api(t *testing.T, base, method, path, body string) *reply {
	t.Helper()
	args := []string{"-sS", "-i", "-X" + method, "-H", "content-type:application/json", "-H", seedAuthHeader}
	if body != "" {
		args = append(args, "--data-binary", "@-")
	}
	return r.curl(t, body, append(args, base+path)...)
}

// ok checks a success envelope and decodes its data into out (if not nil).
func (rep *reply) ok(t *testing.T, out any) {
	t.Helper()
	rep.want(t, 0)
	if out != nil {
		if err := json.Unmarshal(rep.Env.Data, out); err != nil {
			t.Fatalf("decode %s: %v", rep.Env.Data, err)
		}
	}
}

// want checks the code, the HTTP status and Kratos-Status-Code that go with it, the ttl, and that
// the message contains each of substrings.
func (rep *reply) want(t *testing.T, code int, substrings ...string) {
	t.Helper()
	if rep.Env.Code != code {
		t.Fatalf("code %d, want %d: HTTP %d %s", rep.Env.Code, code, rep.Status, rep.Body)
	}
	if rep.Status != api.HTTPStatus(code) {
		t.Errorf("HTTP %d, want %d: %s", rep.Status, api.HTTPStatus(code), rep.Body)
	}
	if got := rep.Header.Get(api.StatusHeader); got != strconv.Itoa(code) {
		t.Errorf("%s: %q, want %d", api.StatusHeader, got, code)
	}
	if rep.Env.TTL != 1 {
		t.Errorf("ttl %d: %s", rep.Env.TTL, rep.Body)
	}
	if code == 0 && rep.Env.Message != "0" {
		t.Errorf("message %q of a success", rep.Env.Message)
	}
	for _, s := range substrings {
		if !strings.Contains(rep.Env.Message, s) {
			t.Errorf("message %q does not name %q", rep.Env.Message, s)
		}
	}
}

// list returns every task (one page of 1000).
func (r *recorder) list(t *testing.T, base string) api.TaskList {
	t.Helper()
	var l api.TaskList
	r.api(t, base, http.MethodGet, "/v1/task/list?per_page=1000&page=1", "").ok(t, &l)
	return l
}

// summary returns task id's row of the list; ok is false when it is not listed.
func (r *recorder) summary(t *testing.T, base string, id int64) (api.TaskSummary, bool) {
	t.Helper()
	for _, s := range r.list(t, base).Tasks {
		if s.ID == id {
			return s, true
		}
	}
	return api.TaskSummary{}, false
}

// detail returns GET /v1/task/:id.
func (r *recorder) detail(t *testing.T, base string, id int64) api.TaskDetail {
	t.Helper()
	var d api.TaskDetail
	r.api(t, base, http.MethodGet, fmt.Sprintf("/v1/task/%d", id), "").ok(t, &d)
	return d
}

// eventually polls check every 300ms until it returns nil or timeout passes.
func eventually(t *testing.T, timeout time.Duration, what string, check func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := check()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s: %v", what, timeout, err)
		}
		time.Sleep(300 * time.Millisecond)
	}
}

// waitState waits until task id is listed in state (and, when set, its pos satisfies posOK).
func (r *recorder) waitState(t *testing.T, base string, id int64, state api.State, timeout time.Duration) api.TaskSummary {
	t.Helper()
	var s api.TaskSummary
	eventually(t, timeout, fmt.Sprintf("task %d %s", id, state), func() error {
		var ok bool
		s, ok = r.summary(t, base, id)
		if !ok {
			return fmt.Errorf("task %d is not listed", id)
		}
		if s.State != state {
			return fmt.Errorf("state %s (%s)", s.State, s.Message)
		}
		return nil
	})
	return s
}

var mariadbPos = regexp.MustCompile(`^MariaDB/(?:\d+-\d+-\d+,)*\d+-\d+-(\d+)$`)

// gtidSeq is the sequence number of a single-domain MariaDB GTID position.
func gtidSeq(t *testing.T, pos string) int64 {
	t.Helper()
	m := mariadbPos.FindStringSubmatch(pos)
	if m == nil {
		t.Fatalf("pos %q is not a MariaDB GTID position", pos)
	}
	n, _ := strconv.ParseInt(m[1], 10, 64)
	return n
}

// checkTime checks a time the API wrote.
func checkTime(t *testing.T, name, v string) {
	t.Helper()
	if _, err := time.ParseInLocation(api.TimeLayout, v, time.Local); err != nil {
		t.Errorf("%s %q is not in %q format: %v", name, v, api.TimeLayout, err)
	}
}

// seedDB creates the seed's database and tables, one table the filters do not match, and the
// seed's replication account.
func seedDB(t *testing.T, db *testenv.MariaDB) {
	t.Helper()
	db.Exec(t,
		"CREATE DATABASE oa_data_service",
		"CREATE TABLE oa_data_service.xes_class_students_1 (id INT PRIMARY KEY, name VARCHAR(64))",
		"CREATE TABLE oa_data_service.xes_class_students_2 (id INT PRIMARY KEY, name VARCHAR(64))",
		"CREATE TABLE oa_data_service.check_delay (id INT PRIMARY KEY, ts DATETIME)",
		"CREATE TABLE oa_data_service.xes_class_students_all (id INT PRIMARY KEY, name VARCHAR(64))",
	)
	db.CreateReplicationUser(t, seedDBUser, seedDBPassword)
}

// insertRows writes rows with ids from..to-1 into each matched table and the unmatched one, one
// transaction per table and id range.
func insertRows(t *testing.T, db *testenv.MariaDB, from, to int) {
	t.Helper()
	var vals, delay []string
	for i := from; i < to; i++ {
		vals = append(vals, fmt.Sprintf("(%d, 'student %d')", i, i))
		delay = append(delay, fmt.Sprintf("(%d, NOW())", i))
	}
	v := strings.Join(vals, ",")
	db.Exec(t,
		"INSERT INTO oa_data_service.xes_class_students_1 VALUES "+v,
		"INSERT INTO oa_data_service.xes_class_students_2 VALUES "+v,
		"INSERT INTO oa_data_service.xes_class_students_all VALUES "+v,
		"INSERT INTO oa_data_service.check_delay VALUES "+strings.Join(delay, ","),
	)
}

// matchedTables are the seed filters' tables in seedDB.
var matchedTables = []string{"xes_class_students_1", "xes_class_students_2", "check_delay"}

// rowKey names one row change in Kafka.
type rowKey struct {
	Table string
	ID    int64
}

// rowsIn reads topic and returns the inserted rows it holds; it fails the test on a message of a
// table the filters do not match.
func rowsIn(t *testing.T, k *testenv.Kafka, topic string) map[rowKey]bool {
	t.Helper()
	out := map[rowKey]bool{}
	for _, rec := range k.Read(t, topic) {
		m := rec.JSON(t)
		if m["type"] != "insert" {
			continue
		}
		table, _ := m["table"].(string)
		if m["database"] != "oa_data_service" || table == "xes_class_students_all" {
			t.Fatalf("%s holds a row of a table the filters do not match: %s", topic, rec.Value)
		}
		data, _ := m["data"].(map[string]any)
		id, err := data["id"].(json.Number).Int64()
		if err != nil {
			t.Fatalf("row without an id: %s", rec.Value)
		}
		out[rowKey{table, id}] = true
	}
	return out
}

// waitRows waits until topic holds every matched table's rows with ids from..to-1.
func waitRows(t *testing.T, k *testenv.Kafka, topic string, from, to int, timeout time.Duration) map[rowKey]bool {
	t.Helper()
	var got map[rowKey]bool
	eventually(t, timeout, fmt.Sprintf("rows %d..%d in %s", from, to-1, topic), func() error {
		got = rowsIn(t, k, topic)
		var missing []rowKey
		for _, table := range matchedTables {
			for i := from; i < to; i++ {
				if !got[rowKey{table, int64(i)}] {
					missing = append(missing, rowKey{table, int64(i)})
				}
			}
		}
		if len(missing) > 0 {
			return fmt.Errorf("%d missing, first %v", len(missing), missing[0])
		}
		return nil
	})
	return got
}

// noSecret fails the test if secret, or its base64, is in any of texts.
func noSecret(t *testing.T, where string, secret string, texts ...string) {
	t.Helper()
	b64 := []string{
		base64Std(secret),
		strings.TrimRight(base64Std(secret), "="),
	}
	for i, s := range texts {
		if strings.Contains(s, secret) {
			t.Errorf("%s[%d] holds the secret: %.300s", where, i, s)
		}
		for _, b := range b64 {
			if strings.Contains(s, b) {
				t.Errorf("%s[%d] holds the base64 of the secret", where, i)
			}
		}
	}
}

func base64Std(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// bigBody is a submit body of more than max bytes.
func bigBody(max int) string {
	return `{"task":{"source":{"host":"127.0.0.1","port":1},"kafka":{"addr":"127.0.0.1:1","topic":"t"},"filters":[{"dbname":"` + strings.Repeat("x", max) + `"}]}}`
}

// httpJSON sends a request with net/http (for many concurrent calls) and decodes the envelope.
func httpJSON(ctx context.Context, c *http.Client, method, url, body string) (*reply, error) {
	return httpJSONHeader(ctx, c, method, url, body, nil)
}

// httpJSONHeader is httpJSON with extra request headers.
func httpJSONHeader(ctx context.Context, c *http.Client, method, url, body string, hdr map[string]string) (*reply, error) {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.SetBasicAuth(seedAPIUser, seedAPIPass)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	rep := &reply{Status: resp.StatusCode, Header: resp.Header, Body: string(b)}
	if err := json.Unmarshal(b, &rep.Env); err != nil {
		return nil, fmt.Errorf("HTTP %d, not an envelope: %.200s", resp.StatusCode, b)
	}
	return rep, nil
}

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }

// fileWorker is `dts worker` running one task from a file, with its checkpoint and status in a
// state directory each incarnation takes over from the last: the worker the kill tests restart.
type fileWorker struct {
	t        *testing.T
	bin      string
	dir      string
	taskFile string
}

// newFileWorker writes spec as a submit body for `dts worker --task-file` (the binary bin) into
// a directory of the test's.
func newFileWorker(t *testing.T, bin string, spec api.TaskSpec) *fileWorker {
	t.Helper()
	dir := t.TempDir()
	b, _ := json.Marshal(api.SubmitRequest{Task: &spec})
	taskFile := filepath.Join(dir, "task.json")
	if err := os.WriteFile(taskFile, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return &fileWorker{t: t, bin: bin, dir: dir, taskFile: taskFile}
}

// start runs incarnation i, logging to worker-i.log; the test's cleanup stops it.
func (w *fileWorker) start(i int) *testenv.Process {
	return testenv.StartProcess(w.t, fmt.Sprintf("worker-%d", i), w.dir, childEnv(), syscall.SIGTERM,
		w.bin, "worker", "--task-file", w.taskFile, "--state-dir", filepath.Join(w.dir, "state"), "--log-level", "warn")
}

// status is the status the worker saved last; nil before it saved one, or if it does not decode.
func (w *fileWorker) status() *api.Status {
	b, err := os.ReadFile(filepath.Join(w.dir, "state", "status.json"))
	if err != nil {
		return nil
	}
	var st api.Status
	if json.Unmarshal(b, &st) != nil {
		return nil
	}
	return &st
}
