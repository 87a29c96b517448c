package dispatcher

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/dtsrepl/dts/api"
	"github.com/dtsrepl/dts/jobs"
	"github.com/dtsrepl/dts/store"
)

const (
	kafkaAddr = "127.0.0.1:9092"
	srcPort   = 5306
)

// submit submits the seed body and returns the new id.
func (h *harness) submit() int64 {
	h.t.Helper()
	r := h.do(http.MethodPost, "/v1/dispatch/submit", seedBody(srcPort, kafkaAddr, "replicator_test"))
	r.wantCode(h.t, api.CodeOK)
	var out api.SubmitResponse
	r.data(h.t, &out)
	return out.ID
}

func TestEnvelope(t *testing.T) {
	t.Parallel()
	envelopeKeys := []string{"code", "data", "message", "ttl"}
	cases := []struct {
		name  string
		setup func(h *harness)
		req   func(h *harness) *response
		code  int
		msg   string
	}{
		{name: "ok", code: api.CodeOK, msg: "0",
			req: func(h *harness) *response {
				return h.do(http.MethodPost, "/v1/dispatch/submit", seedBody(srcPort, kafkaAddr, "t"))
			}},
		{name: "bad request", code: api.CodeBadRequest, msg: "body: is not valid JSON",
			req: func(h *harness) *response { return h.do(http.MethodPost, "/v1/dispatch/submit", "{nope") }},
		{name: "unauthorized", code: api.CodeUnauthorized, msg: "authentication required",
			req: func(h *harness) *response { return h.doAuth(http.MethodGet, "/v1/task/list", "", "") }},
		{name: "no such task", code: api.CodeNotFound, msg: "task 42 does not exist",
			req: func(h *harness) *response { return h.do(http.MethodGet, "/v1/task/42", "") }},
		{name: "no such route", code: api.CodeNotFound, msg: "no route GET /v1/nope",
			req: func(h *harness) *response { return h.do(http.MethodGet, "/v1/nope", "") }},
		{name: "wrong method", code: api.CodeNotFound, msg: "no route",
			req: func(h *harness) *response { return h.do(http.MethodGet, "/v1/dispatch/submit", "") }},
		{name: "conflict", code: api.CodeConflict, msg: "task.source",
			req: func(h *harness) *response {
				id := h.submit()
				return h.do(http.MethodPut, fmt.Sprintf("/v1/dispatch/alter/%d", id), seedBody(srcPort+1, kafkaAddr, "t"))
			}},
		{name: "internal", code: api.CodeInternal, msg: "internal error",
			setup: func(h *harness) { h.store.setErr(errors.New("disk on fire at /secret/path")) },
			req:   func(h *harness) *response { return h.do(http.MethodGet, "/v1/task/list", "") }},
		{name: "unavailable", code: api.CodeUnavailable, msg: "task store unavailable",
			setup: func(h *harness) { h.store.setErr(fmt.Errorf("list: %w", store.ErrUnavailable)) },
			req:   func(h *harness) *response { return h.do(http.MethodGet, "/v1/task/list", "") }},
		{name: "scheduler unavailable", code: api.CodeUnavailable, msg: "scheduler unavailable",
			setup: func(h *harness) {
				h.launcher.set(&h.launcher.launchErr, fmt.Errorf("register: %w", jobs.ErrUnavailable))
			},
			req: func(h *harness) *response {
				return h.do(http.MethodPost, "/v1/dispatch/submit", seedBody(srcPort, kafkaAddr, "t"))
			}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t)
			if tc.setup != nil {
				tc.setup(h)
			}
			r := tc.req(h)
			r.wantCode(t, tc.code, tc.msg)
			if !slices.Equal(r.Keys, envelopeKeys) {
				t.Errorf("envelope keys %v, want %v: %s", r.Keys, envelopeKeys, r.Raw)
			}
			if r.Env.TTL != 1 {
				t.Errorf("ttl %d, want 1", r.Env.TTL)
			}
			if ct := r.Header.Get("Content-Type"); ct != "application/json; charset=utf-8" {
				t.Errorf("Content-Type %q", ct)
			}
			if tc.code == api.CodeOK {
				if r.Env.Message != "0" {
					t.Errorf("message %q, want \"0\"", r.Env.Message)
				}
				return
			}
			if string(r.Env.Data) != "{}" {
				t.Errorf("data of an error is %s, want {}", r.Env.Data)
			}
			if tc.code == api.CodeUnauthorized {
				if got := r.Header.Get("WWW-Authenticate"); got != `Basic realm="dts"` {
					t.Errorf("WWW-Authenticate %q", got)
				}
			}
			if tc.code == api.CodeInternal && strings.Contains(r.Raw, "/secret/path") {
				t.Errorf("a -500 leaks the error's details: %s", r.Raw)
			}
		})
	}
}

func TestSubmit(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	r := h.do(http.MethodPost, "/v1/dispatch/submit", seedBody(srcPort, kafkaAddr, "replicator_test"))
	r.wantCode(t, api.CodeOK)
	var out api.SubmitResponse
	r.data(t, &out)
	addr, err := h.launcher.WaitAddr(t.Context(), 1)
	if err != nil {
		t.Fatal(err)
	}
	if out.ID != 1 || out.Addr != addr {
		t.Fatalf("submit data %+v, want id 1 addr %s", out, addr)
	}
	if want := fmt.Sprintf(`{"code":0,"message":"0","ttl":1,"data":{"addr":%q,"id":1}}`, addr); r.Raw != want {
		t.Errorf("body %s, want %s", r.Raw, want)
	}
	stored := h.store.task(t, 1)
	if stored.Spec.Source.Password != "" || stored.Spec.Source.Username != "xes_replicator" {
		t.Errorf("stored source %+v: want the username and no password", *stored.Spec.Source)
	}
	if stored.Version != 1 || stored.Desired != api.DesiredRunning || stored.Spec.Incr == nil || !*stored.Spec.Incr {
		t.Errorf("stored task %+v", stored)
	}
	launches, _, _ := h.launcher.calls()
	if len(launches) != 1 || launches[0].Creds == nil || *launches[0].Creds != (api.Credentials{Username: "xes_replicator", Password: seedPassword}) {
		t.Fatalf("launches %+v: want one with the seed's account", launches)
	}
	if launches[0].Task.Spec.Source.Password != "" {
		t.Errorf("the launcher got the password inside the task: %+v", launches[0].Task.Spec.Source)
	}

	// Placement that takes longer than the timeout is not an error: addr is empty.
	h.launcher.set(&h.launcher.waitErr, errors.New("context deadline exceeded"))
	r = h.do(http.MethodPost, "/v1/dispatch/submit", seedBody(srcPort, kafkaAddr, "replicator_test"))
	r.wantCode(t, api.CodeOK)
	r.data(t, &out)
	if out.ID != 2 || out.Addr != "" {
		t.Errorf("submit data %+v, want id 2 without addr", out)
	}

	// The password is in no response and no log line.
	d := h.do(http.MethodGet, "/v1/task/1", "")
	d.wantCode(t, api.CodeOK)
	l := h.do(http.MethodGet, "/v1/task/list", "")
	for _, s := range []string{r.Raw, d.Raw, l.Raw, h.logs.String()} {
		if strings.Contains(s, seedPassword) {
			t.Errorf("the source password leaks: %s", s)
		}
	}
}

func TestSubmitRollback(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		err  error
		code int
	}{
		{"refused", errors.New("nomad refused the job"), api.CodeInternal},
		{"unreachable", fmt.Errorf("register job: %w", jobs.ErrUnavailable), api.CodeUnavailable},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t)
			h.launcher.set(&h.launcher.launchErr, tc.err)
			r := h.do(http.MethodPost, "/v1/dispatch/submit", seedBody(srcPort, kafkaAddr, "t"))
			r.wantCode(t, tc.code)
			_, _, removes := h.launcher.calls()
			if !slices.Equal(removes, []int64{1}) {
				t.Errorf("removed %v, want the job of task 1 undone", removes)
			}
			if !slices.Equal(h.store.deleted, []int64{1}) {
				t.Errorf("deleted %v, want task 1 deleted", h.store.deleted)
			}
			l := h.do(http.MethodGet, "/v1/task/list", "")
			l.wantCode(t, api.CodeOK)
			var list api.TaskList
			l.data(t, &list)
			if list.Total != 0 || len(list.Tasks) != 0 {
				t.Errorf("a failed submit left %+v", list)
			}
			// The next submit gets a fresh id: ids are never reused.
			h.launcher.set(&h.launcher.launchErr, nil)
			if id := h.submit(); id != 2 {
				t.Errorf("next id %d, want 2", id)
			}
		})
	}
}

func TestSubmitCredentials(t *testing.T) {
	t.Parallel()
	hostOnly := `{"task":{"source":{"host":"127.0.0.1","port":5306},"kafka":{"addr":"127.0.0.1:9092","topic":"t"},"filters":[{"dbname":"d","match":"t"}]}}`

	t.Run("default account", func(t *testing.T) {
		t.Parallel()
		def := &api.Credentials{Username: "dts_default", Password: "default-secret"}
		allow, err := ParseHostAllowList("127.0.0.1")
		if err != nil {
			t.Fatal(err)
		}
		h := newHarness(t, func(c *Config) { c.DefaultCredentials, c.SourceAllow = def, allow })
		h.do(http.MethodPost, "/v1/dispatch/submit", hostOnly).wantCode(t, api.CodeOK)
		launches, _, _ := h.launcher.calls()
		if len(launches) != 1 || launches[0].Creds == nil || *launches[0].Creds != *def {
			t.Fatalf("launches %+v: want the default account", launches)
		}
		if src := h.store.task(t, 1).Spec.Source; src.Username != "dts_default" || src.Password != "" {
			t.Errorf("stored source %+v", *src)
		}
		if def.Username != "dts_default" {
			t.Error("the configured default account was modified")
		}
		// A spec with its own account uses it.
		h.do(http.MethodPost, "/v1/dispatch/submit", seedBody(srcPort, kafkaAddr, "t")).wantCode(t, api.CodeOK)
		launches, _, _ = h.launcher.calls()
		if got := launches[1].Creds; got == nil || got.Username != "xes_replicator" || got.Password != seedPassword {
			t.Errorf("creds %+v, want the spec's own", got)
		}
		if strings.Contains(h.logs.String(), "default-secret") {
			t.Error("the default password is in the log")
		}
	})

	t.Run("none configured", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t)
		h.do(http.MethodPost, "/v1/dispatch/submit", hostOnly).wantCode(t, api.CodeBadRequest, "task.source.username")
		if launches, _, _ := h.launcher.calls(); len(launches) != 0 {
			t.Errorf("launched %+v", launches)
		}
		if l, _ := h.store.List(t.Context()); len(l) != 0 {
			t.Errorf("stored %d tasks", len(l))
		}
	})
}

func TestBadInput(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	valid := seedBody(srcPort, kafkaAddr, "t")
	replace := func(old, new string) string {
		if !strings.Contains(valid, old) {
			t.Fatalf("%q is not in the body", old)
		}
		return strings.Replace(valid, old, new, 1)
	}
	cases := []struct {
		name, body, field string
	}{
		{"empty", "", "body"},
		{"not json", "this is not json", "body: is not valid JSON"},
		{"truncated", valid[:len(valid)-2], "body"},
		{"trailing data", valid + `{}`, "body: has data after"},
		{"array", `[1,2]`, "body"},
		{"no task", `{}`, "task: is required"},
		{"null task", `{"task":null}`, "task: is required"},
		{"unknown field", replace(`"incr":true`, `"incr":true,"bogus":1`), "bogus: unknown field"},
		{"port as string", replace(`"port":5306`, `"port":"5306"`), "task.source.port: must be an integer"},
		{"port out of range", replace(`"port":5306`, `"port":70000`), "task.source.port"},
		{"port zero", replace(`"port":5306`, `"port":0`), "task.source.port"},
		{"incr as string", replace(`"incr":true`, `"incr":"yes"`), "task.incr: must be true or false"},
		{"no source", replace(`"source":{"host":"127.0.0.1","port":5306,"username":"xes_replicator","password":"IYQBXGil84d44ee92cLjLHankV2rVyCg+"},`, ``), "task.source: is required"},
		{"no host", replace(`"host":"127.0.0.1",`, ``), "task.source.host"},
		{"password without user", replace(`"username":"xes_replicator",`, ``), "task.source.username"},
		{"missing kafka addr", replace(`"addr":"127.0.0.1:9092",`, ``), "task.kafka.addr: is required"},
		{"kafka addr without port", replace(`"addr":"127.0.0.1:9092"`, `"addr":"127.0.0.1"`), "task.kafka.addr"},
		{"missing topic", replace(`"topic":"t",`, ``), "task.kafka.topic"},
		{"bad topic", replace(`"topic":"t"`, `"topic":"a topic"`), "task.kafka.topic"},
		{"topic mode 2", replace(`"topic":"t",`, `"topic_mode":2,`), "task.kafka.topic_mode"},
		{"unknown partition mode", replace(`"flat_format":false`, `"flat_format":false,"partition_mode":"random"`), "task.kafka.partition_mode"},
		{"column without columns", replace(`"flat_format":false`, `"flat_format":false,"partition_mode":"column"`), "task.kafka.partition_columns"},
		{"unknown fallback", replace(`"flat_format":false`, `"flat_format":false,"producer_partition_by_fallback":"x"`), "task.kafka.producer_partition_by_fallback"},
		{"no filters", replace(`"filters":[{"dbname":"oa_data_service","match":"/xes_class_students_\\d+/","filter":""},{"dbname":"oa_data_service","match":"check_delay","filter":""}]`, `"filters":[]`), "task.filters"},
		{"bad regex", replace(`/xes_class_students_\\d+/`, `/(unclosed/`), "task.filters[0].match"},
		{"filter does not parse", replace(`"match":"check_delay","filter":""`, `"match":"check_delay","filter":"status = = 1 AND"`), "task.filters[1].filter"},
		{"dbname pattern", replace(`"dbname":"oa_data_service"`, `"dbname":"/oa.*/"`), "task.filters[0].dbname"},
		{"negative rate", replace(`"incr":true`, `"incr":true,"rate_limit":{"rate":-1}`), "task.rate_limit.rate"},
		{"unknown nested field", replace(`"port":5306`, `"port":5306,"ssl":true`), "task.source.ssl: unknown field"},
		{"duplicate key", replace(`"addr":"127.0.0.1:9092"`, `"addr":"127.0.0.1:9092","addr":"127.0.0.1:9093"`), "task.kafka.addr: duplicate key"},
		{"case-folded key", replace(`"kafka":`, `"Kafka":`), `task.Kafka: unknown field (did you mean "kafka"?)`},
		{"case-folded task", strings.Replace(valid, `{"task"`, `{"Task"`, 1), `Task: unknown field (did you mean "task"?)`},
		{"upper-case host", replace(`"host":`, `"HOST":`), `task.source.HOST: unknown field`},
		{"server_id negative", replace(`"port":5306`, `"port":5306,"server_id":-1`), "task.source.server_id: must be between 1 and 4294967295"},
		{"server_id too large", replace(`"port":5306`, `"port":5306,"server_id":4294967296`), "task.source.server_id: must be between 1 and 4294967295"},
		{"dbname too long", replace(`"dbname":"oa_data_service"`, `"dbname":"`+strings.Repeat("d", 65)+`"`), "task.filters[0].dbname: must be at most 64 characters"},
		{"dbname with NUL", replace(`"dbname":"oa_data_service"`, `"dbname":"oa\u0000x"`), "task.filters[0].dbname: must not contain control characters"},
		{"dbname with a newline", replace(`"dbname":"oa_data_service"`, `"dbname":"oa\nx"`), "task.filters[0].dbname: must not contain control characters"},
		{"table with a newline", replace(`"match":"check_delay"`, `"match":"check\ndelay"`), "task.filters[1].match: must not contain control characters"},
		{"table too long", replace(`"match":"check_delay"`, `"match":"`+strings.Repeat("t", 65)+`"`), "task.filters[1].match: a table name must be at most 64 characters"},
		{"internal topic", replace(`"topic":"t"`, `"topic":"__consumer_offsets"`), "task.kafka.topic: \"__consumer_offsets\" starts with \"__\""},
		{"transaction topic", replace(`"topic":"t"`, `"topic":"__transaction_state"`), "task.kafka.topic"},
		{"topic with topic_mode", replace(`"topic":"t",`, `"topic":"t","topic_mode":1,`), "task.kafka.topic: is ignored when topic_mode is set"},
		{"string filter", replace(`"match":"check_delay","filter":""`, `"match":"check_delay","filter":"'abc'"`), "task.filters[1].filter: must be a condition"},
		{"arithmetic filter", replace(`"match":"check_delay","filter":""`, `"match":"check_delay","filter":"1+1"`), "task.filters[1].filter: must be a condition"},
		{"bare column filter", replace(`"match":"check_delay","filter":""`, `"match":"check_delay","filter":"status"`), "task.filters[1].filter: must be a condition"},
	}
	for _, tc := range cases {
		for _, path := range []string{"/v1/dispatch/submit", "/v1/dispatch/alter/1"} {
			if path != "/v1/dispatch/submit" && tc.name == "no source" {
				continue // alter may omit the source
			}
			method := http.MethodPost
			if strings.Contains(path, "alter") {
				method = http.MethodPut
			}
			r := h.do(method, path, tc.body)
			if r.Env.Code != api.CodeBadRequest {
				t.Errorf("%s %s: code %d, want -400: %s", tc.name, path, r.Env.Code, r.Raw)
				continue
			}
			r.wantCode(t, api.CodeBadRequest, tc.field)
		}
	}
	if launches, _, _ := h.launcher.calls(); len(launches) != 0 {
		t.Errorf("bad input launched %d tasks", len(launches))
	}
	if strings.Contains(h.logs.String(), `"level":"ERROR"`) {
		t.Errorf("bad input logged errors: %s", h.logs.String())
	}
}

func TestAuth(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	for _, tc := range []struct{ name, auth, msg string }{
		{"none", "", "authentication required"},
		{"other scheme", "Bearer abc", "authentication required"},
		{"not base64", "Basic !!!", "authentication required"},
		{"no colon", "Basic " + "cmVwbGljYXRvcg==", "authentication required"},
		{"wrong password", "Basic " + basic(testUser, "dtsfor3"), "wrong user name or password"},
		{"wrong user", "Basic " + basic("admin", testPassword), "wrong user name or password"},
		{"password prefix", "Basic " + basic(testUser, testPassword+"x"), "wrong user name or password"},
	} {
		for _, route := range [][2]string{{http.MethodGet, "/v1/task/list"}, {http.MethodPost, "/v1/dispatch/submit"}, {http.MethodDelete, "/v1/task/1"}} {
			r := h.doAuth(route[0], route[1], "", tc.auth)
			r.wantCode(t, api.CodeUnauthorized, tc.msg)
			if r.Header.Get("WWW-Authenticate") == "" {
				t.Errorf("%s %s: no WWW-Authenticate", tc.name, route[1])
			}
		}
	}
	// The seed's header, verbatim, and the scheme in any case.
	h.doAuth(http.MethodGet, "/v1/task/list", "", "Basic cmVwbGljYXRvcjpkdHNmb3IzLjE0MTU5MjY=").wantCode(t, api.CodeOK)
	h.doAuth(http.MethodGet, "/v1/task/list", "", "basic cmVwbGljYXRvcjpkdHNmb3IzLjE0MTU5MjY=").wantCode(t, api.CodeOK)
	// Health is open.
	h.doAuth(http.MethodGet, "/healthz", "", "").wantCode(t, api.CodeOK)

	if _, err := New(Config{Store: h.store, Launcher: h.launcher}); err == nil {
		t.Error("New accepted no credentials without Insecure")
	}
	open := newHarness(t, func(c *Config) { c.AuthUser, c.AuthPassword, c.Insecure = "", "", true })
	open.doAuth(http.MethodGet, "/v1/task/list", "", "").wantCode(t, api.CodeOK)
}

func TestListPagination(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	for range 7 {
		h.submit()
	}
	page := func(query string) (api.TaskList, []int64) {
		t.Helper()
		r := h.do(http.MethodGet, "/v1/task/list"+query, "")
		r.wantCode(t, api.CodeOK)
		if !strings.Contains(r.Raw, `"tasks":[`) {
			t.Errorf("%s: tasks is not a list: %s", query, r.Raw)
		}
		var l api.TaskList
		r.data(t, &l)
		var ids []int64
		for _, s := range l.Tasks {
			ids = append(ids, s.ID)
		}
		return l, ids
	}
	for _, tc := range []struct {
		query string
		ids   []int64
	}{
		{"", []int64{1, 2, 3, 4, 5, 6, 7}},
		{"?per_page=5&page=1", []int64{1, 2, 3, 4, 5}},
		{"?per_page=5&page=2", []int64{6, 7}},
		{"?per_page=5&page=3", nil},
		{"?per_page=7&page=1", []int64{1, 2, 3, 4, 5, 6, 7}},
		{"?per_page=1&page=7", []int64{7}},
		{"?per_page=1000", []int64{1, 2, 3, 4, 5, 6, 7}},
		{"?page=2", nil},
		{"?per_page=3", []int64{1, 2, 3}},
		{"?per_page=5&page=1073741824", nil},
	} {
		l, ids := page(tc.query)
		if !slices.Equal(ids, tc.ids) || l.Total != 7 {
			t.Errorf("list%s: ids %v total %d, want %v total 7", tc.query, ids, l.Total, tc.ids)
		}
	}
	for _, q := range []string{"?per_page=0", "?per_page=1001", "?per_page=-1", "?per_page=abc", "?per_page=1.5"} {
		h.do(http.MethodGet, "/v1/task/list"+q, "").wantCode(t, api.CodeBadRequest, "per_page")
	}
	for _, q := range []string{"?page=0", "?page=-3", "?page=x", "?page=1073741825", "?page=99999999999999999999"} {
		h.do(http.MethodGet, "/v1/task/list"+q, "").wantCode(t, api.CodeBadRequest, "page")
	}

	// The seed's fields are all there, even when empty.
	r := h.do(http.MethodGet, "/v1/task/list?per_page=1&page=1", "")
	for _, k := range []string{"id", "source_addr", "dest_addr", "pos", "transaction_time", "state", "updated_at", "message", "service_addr"} {
		if !strings.Contains(r.Raw, `"`+k+`":`) {
			t.Errorf("list has no %q: %s", k, r.Raw)
		}
	}
	l, _ := page("?per_page=1")
	if s := l.Tasks[0]; s.SourceAddr != "127.0.0.1:5306" || s.DestAddr != kafkaAddr {
		t.Errorf("summary %+v", s)
	}
}

func TestAlter(t *testing.T) {
	t.Parallel()
	alterPath := func(id int64) string { return fmt.Sprintf("/v1/dispatch/alter/%d", id) }
	noSource := `{"task":{"kafka":{"addr":"127.0.0.1:9092","topic":"other"},"filters":[{"dbname":"oa_data_service","match":"check_delay"}]}}`

	t.Run("conflicts", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t)
		id := h.submit()
		body := seedBody(srcPort, kafkaAddr, "replicator_test")
		for _, tc := range []struct{ name, body, msg string }{
			{"port", seedBody(srcPort+1, kafkaAddr, "replicator_test"), "task.source"},
			{"host", strings.Replace(body, `"host":"127.0.0.1"`, `"host":"127.0.0.2"`, 1), "task.source"},
			{"incr", strings.Replace(body, `"incr":true`, `"incr":false`, 1), "task.incr"},
			{"server id", strings.Replace(body, `"port":5306,`, `"port":5306,"server_id":7,`, 1), "task.source.server_id"},
		} {
			h.do(http.MethodPut, alterPath(id), tc.body).wantCode(t, api.CodeConflict, tc.msg)
		}
		if got := h.store.task(t, id); got.Version != 1 || got.Spec.Kafka.Topic != "replicator_test" {
			t.Errorf("a refused alter changed the task: %+v", got)
		}
		if launches, _, _ := h.launcher.calls(); len(launches) != 1 {
			t.Errorf("a refused alter launched: %d launches", len(launches))
		}
	})

	t.Run("missing task", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t)
		h.do(http.MethodPut, alterPath(9), seedBody(srcPort, kafkaAddr, "t")).wantCode(t, api.CodeNotFound, "task 9")
		h.do(http.MethodPut, "/v1/dispatch/alter/abc", seedBody(srcPort, kafkaAddr, "t")).wantCode(t, api.CodeBadRequest, "id")
		h.do(http.MethodPut, "/v1/dispatch/alter/0", seedBody(srcPort, kafkaAddr, "t")).wantCode(t, api.CodeBadRequest, "id")
	})

	t.Run("omitted source and incr keep the stored ones", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t)
		id := h.submit()
		h.do(http.MethodPut, alterPath(id), noSource).wantCode(t, api.CodeOK)
		got := h.store.task(t, id)
		if got.Version != 2 || got.Spec.Kafka.Topic != "other" || len(got.Spec.Filters) != 1 {
			t.Errorf("altered task %+v", got)
		}
		if src := got.Spec.Source; src == nil || src.Host != "127.0.0.1" || src.Port != srcPort || src.Username != "xes_replicator" || src.Password != "" {
			t.Errorf("source after alter %+v", src)
		}
		if got.Spec.Incr == nil || !*got.Spec.Incr {
			t.Errorf("incr after alter %v", got.Spec.Incr)
		}
		launches, _, _ := h.launcher.calls()
		if len(launches) != 2 || launches[1].Creds != nil || launches[1].Task.Version != 2 {
			t.Errorf("launches %+v: want the new version launched without credentials", launches)
		}
		// An incr=false task keeps incr=false when the alter omits it.
		r := h.do(http.MethodPost, "/v1/dispatch/submit", strings.Replace(seedBody(srcPort, kafkaAddr, "x"), `"incr":true`, `"incr":false`, 1))
		r.wantCode(t, api.CodeOK)
		var out api.SubmitResponse
		r.data(t, &out)
		h.do(http.MethodPut, alterPath(out.ID), noSource).wantCode(t, api.CodeOK)
		if got := h.store.task(t, out.ID); got.Spec.Incr == nil || *got.Spec.Incr {
			t.Errorf("incr after alter %v, want false", got.Spec.Incr)
		}
	})

	t.Run("unchanged spec keeps the version", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t)
		id := h.submit()
		before := h.store.task(t, id)
		// The seed's alter example resends the submit body: nothing changes but the account is
		// re-sent, which reaches the launcher (a rotation would).
		h.do(http.MethodPut, alterPath(id), seedBody(srcPort, kafkaAddr, "replicator_test")).wantCode(t, api.CodeOK)
		after := h.store.task(t, id)
		if after.Version != 1 || !after.UpdatedAt.Equal(before.UpdatedAt) {
			t.Errorf("an unchanged alter bumped the task: version %d, updated %v -> %v", after.Version, before.UpdatedAt, after.UpdatedAt)
		}
		// Without the password nothing at all happens.
		body := strings.Replace(seedBody(srcPort, kafkaAddr, "replicator_test"), `,"username":"xes_replicator","password":"IYQBXGil84d44ee92cLjLHankV2rVyCg+"`, ``, 1)
		h.do(http.MethodPut, alterPath(id), body).wantCode(t, api.CodeOK)
		if after := h.store.task(t, id); after.Version != 1 {
			t.Errorf("version %d after an unchanged alter", after.Version)
		}
		launches, _, _ := h.launcher.calls()
		if len(launches) != 2 {
			t.Fatalf("launches %+v: want the submit and the re-sent account", launches)
		}
		if c := launches[1].Creds; c == nil || c.Password != seedPassword {
			t.Errorf("re-sent account %+v", c)
		}
	})

	t.Run("new password", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t)
		id := h.submit()
		body := strings.Replace(seedBody(srcPort, kafkaAddr, "replicator_test"), seedPassword, "rotated-secret", 1)
		r := h.do(http.MethodPut, alterPath(id), body)
		r.wantCode(t, api.CodeOK)
		if string(r.Env.Data) != "{}" {
			t.Errorf("alter data %s, want {}", r.Env.Data)
		}
		launches, _, _ := h.launcher.calls()
		if c := launches[len(launches)-1].Creds; c == nil || c.Password != "rotated-secret" {
			t.Errorf("rotated account %+v", c)
		}
		if got := h.store.task(t, id); got.Spec.Source.Password != "" {
			t.Error("the store holds a password")
		}
	})

	t.Run("stopped task is not started", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t)
		id := h.submit()
		h.do(http.MethodPost, fmt.Sprintf("/v1/task/%d/stop", id), "").wantCode(t, api.CodeOK)
		h.do(http.MethodPut, alterPath(id), noSource).wantCode(t, api.CodeOK)
		got := h.store.task(t, id)
		if got.Version != 2 || got.Desired != api.DesiredStopped {
			t.Errorf("task %+v", got)
		}
		if launches, _, _ := h.launcher.calls(); len(launches) != 1 {
			t.Errorf("alter of a stopped task launched it: %d launches", len(launches))
		}
		// Start runs the altered spec.
		h.do(http.MethodPost, fmt.Sprintf("/v1/task/%d/start", id), "").wantCode(t, api.CodeOK)
		launches, _, _ := h.launcher.calls()
		if l := launches[len(launches)-1]; l.Task.Version != 2 || l.Task.Spec.Kafka.Topic != "other" || l.Creds != nil {
			t.Errorf("start launched %+v", l)
		}
	})
}

func TestStopStartDeleteGet(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	id := h.submit()
	path := fmt.Sprintf("/v1/task/%d", id)

	state := func() api.TaskSummary {
		t.Helper()
		var l api.TaskList
		r := h.do(http.MethodGet, "/v1/task/list", "")
		r.wantCode(t, api.CodeOK)
		r.data(t, &l)
		for _, s := range l.Tasks {
			if s.ID == id {
				return s
			}
		}
		t.Fatalf("task %d not listed", id)
		return api.TaskSummary{}
	}

	r := h.do(http.MethodGet, path, "")
	r.wantCode(t, api.CodeOK)
	var d api.TaskDetail
	r.data(t, &d)
	if d.ID != id || d.Spec == nil || d.Spec.Source.Password != "" || d.Spec.Source.Username != "xes_replicator" || d.SpecVersion != 1 || d.Job == nil {
		t.Errorf("detail %+v", d)
	}
	if strings.Contains(r.Raw, seedPassword) {
		t.Error("GET shows the password")
	}

	r = h.do(http.MethodPost, path+"/stop", "")
	r.wantCode(t, api.CodeOK)
	if string(r.Env.Data) != "{}" {
		t.Errorf("stop data %s", r.Env.Data)
	}
	if got := h.store.task(t, id); got.Desired != api.DesiredStopped || got.Version != 1 {
		t.Errorf("stopped task %+v: want desired stopped, version unchanged", got)
	}
	if s := state(); s.State != api.StateStopped || s.Desired != api.DesiredStopped {
		t.Errorf("after stop: %+v", s)
	}
	h.do(http.MethodPost, path+"/stop", "").wantCode(t, api.CodeOK) // idempotent

	h.do(http.MethodPost, path+"/start", "").wantCode(t, api.CodeOK)
	launches, stops, _ := h.launcher.calls()
	if len(stops) != 2 || len(launches) != 2 || launches[1].Creds != nil || launches[1].Task.Desired != api.DesiredRunning {
		t.Errorf("stops %v launches %+v", stops, launches)
	}
	if got := h.store.task(t, id); got.Desired != api.DesiredRunning {
		t.Errorf("started task %+v", got)
	}

	h.do(http.MethodDelete, path, "").wantCode(t, api.CodeOK)
	_, _, removes := h.launcher.calls()
	if !slices.Equal(removes, []int64{id}) {
		t.Errorf("removes %v", removes)
	}
	h.do(http.MethodGet, path, "").wantCode(t, api.CodeNotFound, fmt.Sprintf("task %d does not exist", id))
	h.do(http.MethodDelete, path, "").wantCode(t, api.CodeNotFound)
	h.do(http.MethodPost, path+"/stop", "").wantCode(t, api.CodeNotFound)
	h.do(http.MethodPost, path+"/start", "").wantCode(t, api.CodeNotFound)
	h.do(http.MethodGet, "/v1/task/x", "").wantCode(t, api.CodeBadRequest, "id")
	h.do(http.MethodPost, "/v1/task/-1/stop", "").wantCode(t, api.CodeBadRequest, "id")
	var l api.TaskList
	r = h.do(http.MethodGet, "/v1/task/list", "")
	r.data(t, &l)
	if l.Total != 0 {
		t.Errorf("list after delete %+v", l)
	}
}

// TestSchedulerDown: the list still answers from the workers' reports when the launcher cannot
// say what runs, and a worker's failure stays visible.
func TestSchedulerDown(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	id := h.submit()
	h.store.setStatus(t, id, api.Status{State: api.StateFailed, Message: "binlog purged: resubmit", UpdatedAt: timeNow()})
	h.launcher.set(&h.launcher.jobsErr, fmt.Errorf("list jobs: %w", jobs.ErrUnavailable))
	var l api.TaskList
	r := h.do(http.MethodGet, "/v1/task/list", "")
	r.wantCode(t, api.CodeOK)
	r.data(t, &l)
	if s := l.Tasks[0]; s.State != api.StateFailed || s.Message != "binlog purged: resubmit" {
		t.Errorf("summary %+v: want the worker's failure", s)
	}
	h.do(http.MethodGet, "/healthz", "").wantCode(t, api.CodeUnavailable, "scheduler")
}

// TestBodyLimit runs on a real listener: fiber's app.Test does not return the response of a
// request the server refuses while reading it.
func TestBodyLimit(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
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
	base := "http://" + ln.Addr().String()
	post := func(body string) (int, api.Envelope[json.RawMessage], http.Header) {
		t.Helper()
		req, err := http.NewRequest(http.MethodPost, base+"/v1/dispatch/submit", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.SetBasicAuth(testUser, testPassword)
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
		return resp.StatusCode, env, resp.Header
	}
	valid := seedBody(srcPort, kafkaAddr, "t")
	exact := valid + strings.Repeat(" ", MaxBody-len(valid))
	if status, env, _ := post(exact); status != http.StatusOK || env.Code != api.CodeOK {
		t.Errorf("a body of exactly %d bytes: HTTP %d code %d %q", MaxBody, status, env.Code, env.Message)
	}
	// A client that sends its whole body before it reads gets the -400 every time: the server
	// answers on the headers, then drains the body before it closes the connection, so no reset
	// destroys the answer.
	for range 20 {
		status, env, header := post(exact + " ")
		if status != http.StatusBadRequest || env.Code != api.CodeBadRequest || !strings.Contains(env.Message, "body: larger than 1048576 bytes") {
			t.Fatalf("a body over %d bytes: HTTP %d code %d %q", MaxBody, status, env.Code, env.Message)
		}
		if got := header.Get(api.StatusHeader); got != "-400" {
			t.Errorf("%s %q", api.StatusHeader, got)
		}
	}
	// Far larger bodies are refused unread, on their Content-Length.
	const farLarger = 8*MaxBody + 1
	conn, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "POST /v1/dispatch/submit HTTP/1.1\r\nHost: x\r\nAuthorization: Basic %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n", basic(testUser, testPassword), farLarger)
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	var big api.Envelope[json.RawMessage]
	if err := json.NewDecoder(resp.Body).Decode(&big); err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusBadRequest || big.Code != api.CodeBadRequest || big.Message != "body: larger than 1048576 bytes" || resp.Header.Get(api.StatusHeader) != "-400" {
		t.Errorf("a body of %d bytes: HTTP %d %+v", farLarger, resp.StatusCode, big)
	}
	// The server still serves.
	if status, env, _ := post(valid); status != http.StatusOK || env.Code != api.CodeOK {
		t.Errorf("after a refused body: HTTP %d code %d", status, env.Code)
	}
}

// TestTaskIDs: only the canonical decimal form names a task, so one task has one path.
func TestTaskIDs(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	id := h.submit()
	if id != 1 {
		t.Fatalf("id %d", id)
	}
	h.do(http.MethodGet, "/v1/task/1", "").wantCode(t, api.CodeOK)
	for _, raw := range []string{"+1", "01", "001", "%201", "1%20", "%2B1", "-1", "0", "1e0", "0x1", "1.0", "9223372036854775808", "abc"} {
		h.do(http.MethodGet, "/v1/task/"+raw, "").wantCode(t, api.CodeBadRequest, "id: ", "is not a task id")
		h.do(http.MethodPost, "/v1/task/"+raw+"/stop", "").wantCode(t, api.CodeBadRequest, "id: ")
		h.do(http.MethodPut, "/v1/dispatch/alter/"+raw, seedBody(srcPort, kafkaAddr, "t")).wantCode(t, api.CodeBadRequest, "id: ")
		h.do(http.MethodDelete, "/v1/task/"+raw, "").wantCode(t, api.CodeBadRequest, "id: ")
	}
	if got := h.store.task(t, 1); got.Desired != api.DesiredRunning || got.Version != 1 {
		t.Errorf("a request with a non-canonical id changed task 1: %+v", got)
	}
}

// TestServerIDUnique: two tasks on one source never register with the same replica server id
// (explicit, or the default 1000000000 + task id), since the server would make them disconnect
// each other over and over.
func TestServerIDUnique(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	body := func(host string, port int, serverID uint32) string {
		b := strings.Replace(seedBody(port, kafkaAddr, "t"), `"host":"127.0.0.1"`, `"host":"`+host+`"`, 1)
		if serverID != 0 {
			b = strings.Replace(b, fmt.Sprintf(`"port":%d`, port), fmt.Sprintf(`"port":%d,"server_id":%d`, port, serverID), 1)
		}
		return b
	}
	submit := func(b string) int64 {
		t.Helper()
		r := h.do(http.MethodPost, "/v1/dispatch/submit", b)
		r.wantCode(t, api.CodeOK)
		var out api.SubmitResponse
		r.data(t, &out)
		return out.ID
	}
	// Task 1 takes what will be task 2's default id.
	if id := submit(body("db1", srcPort, 1_000_000_002)); id != 1 {
		t.Fatalf("id %d", id)
	}
	// Task 2 (default 1000000002) is refused and removed again; the id is not reused.
	h.do(http.MethodPost, "/v1/dispatch/submit", body("db1", srcPort, 0)).wantCode(t, api.CodeConflict,
		"task.source.server_id: 1000000002 is already the server id of task 1 on db1:5306", "disconnect each other")
	// Task 3 gets its default, 1000000003.
	if id := submit(body("db1", srcPort, 0)); id != 3 {
		t.Fatalf("id %d", id)
	}
	for _, tc := range []struct {
		body, msg string
	}{
		{body("db1", srcPort, 1_000_000_003), "1000000003 is already the server id of task 3 on db1:5306"},
		{body("db1", srcPort, 1_000_000_002), "of task 1 on db1:5306"},
		{body("DB1", srcPort, 1_000_000_002), "of task 1"}, // host names are case-insensitive
	} {
		h.do(http.MethodPost, "/v1/dispatch/submit", tc.body).wantCode(t, api.CodeConflict, tc.msg)
	}
	// Another port or host is another source.
	submit(body("db1", srcPort+1, 1_000_000_002))
	submit(body("db2", srcPort, 1_000_000_003))
	// An explicit id, twice.
	submit(body("db1", srcPort, 77))
	h.do(http.MethodPost, "/v1/dispatch/submit", body("db1", srcPort, 77)).wantCode(t, api.CodeConflict, "77 is already the server id of task")

	recs, err := h.store.List(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	launches, _, _ := h.launcher.calls()
	if len(recs) != 5 || len(launches) != 5 {
		t.Errorf("%d tasks stored, %d launched; want the 5 accepted", len(recs), len(launches))
	}
	if slices.Contains(h.store.deleted, 1) || !slices.Contains(h.store.deleted, 2) {
		t.Errorf("deleted %v: want the refused task 2 undone and nothing else", h.store.deleted)
	}
}

// TestTaskWithoutCredentials: the embedded store gets the credentials with the task, in one
// transaction; a task that has none anyway (left by an older dts dev, or a dispatcher that
// stopped before writing the Nomad Variable) is not reported as missing by start (-404) but as
// needing an alter with the account, and that alter stores them and starts it, also when it is
// stopped; the list says what to do.
func TestTaskWithoutCredentials(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	ctx := t.Context()
	id := h.submit()
	if c, err := h.store.DB.Credentials(ctx, id); err != nil || c == nil || *c != (api.Credentials{Username: "xes_replicator", Password: seedPassword}) {
		t.Errorf("submit stored the task without its credentials: %+v, %v", c, err)
	}

	// A task stored without credentials, as a dts dev killed in the middle of a submit once left.
	now := time.Now()
	bare, err := h.store.DB.Create(ctx, &api.Task{Spec: h.store.task(t, id).Spec, Version: 1, Desired: api.DesiredRunning, CreatedAt: now, UpdatedAt: now})
	if err != nil {
		t.Fatal(err)
	}
	var l api.TaskList
	h.do(http.MethodGet, "/v1/task/list", "").data(t, &l)
	if msg := l.Tasks[1].Message; !strings.Contains(msg, fmt.Sprintf("POST /v1/task/%d/start", bare)) || !strings.Contains(msg, "source.username and source.password") {
		t.Errorf("message %q", msg)
	}
	h.do(http.MethodPost, fmt.Sprintf("/v1/task/%d/start", bare), "").wantCode(t, api.CodeConflict,
		"no source credentials are stored", "alter the task with source.username and source.password")
	h.do(http.MethodPost, fmt.Sprintf("/v1/task/%d/stop", bare), "").wantCode(t, api.CodeOK)
	// The alter of the stopped task hands the account to the launcher, which stores it.
	h.do(http.MethodPut, fmt.Sprintf("/v1/dispatch/alter/%d", bare), seedBody(srcPort, kafkaAddr, "replicator_test")).wantCode(t, api.CodeOK)
	launches, _, _ := h.launcher.calls()
	last := launches[len(launches)-1]
	if last.Creds == nil || last.Creds.Password != seedPassword || last.Task.Desired != api.DesiredStopped {
		t.Errorf("alter of a stopped task launched %+v, want its account handed over for storing", last)
	}
	if c, err := h.store.DB.Credentials(ctx, bare); err != nil || c == nil || c.Password != seedPassword {
		t.Errorf("credentials after the alter: %+v, %v", c, err)
	}
	h.do(http.MethodPost, fmt.Sprintf("/v1/task/%d/start", bare), "").wantCode(t, api.CodeOK)
	if j, err := h.launcher.Job(ctx, bare); err != nil || j == nil || j.Status != api.JobRunning {
		t.Errorf("the repaired task's worker: %+v, %v", j, err)
	}
}

// TestLauncherErrors: what goes wrong in the scheduler or a worker answers with its reason and
// the code that says what to do: -503 for a worker or backend that did not answer in time,
// -409 for a conflicting state, the scheduler's reason for a refusal; never a bare -500. Delete
// removes the task even when its worker does not stop, and says what was left running.
func TestLauncherErrors(t *testing.T) {
	t.Parallel()
	stuck := func(id int64) error {
		return fmt.Errorf("stop: %w", &jobs.StopTimeoutError{TaskID: id, Waited: time.Minute, LastReport: "running, last error: handshake"})
	}
	t.Run("stop of a hung worker", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t)
		id := h.submit()
		h.store.setStatus(t, id, api.Status{State: api.StateRunning, Message: "connecting to the source", UpdatedAt: timeNow()})
		h.launcher.set(&h.launcher.stopErr, stuck(id))
		h.do(http.MethodPost, fmt.Sprintf("/v1/task/%d/stop", id), "").wantCode(t, api.CodeUnavailable,
			fmt.Sprintf("the worker of task %d did not stop within 1m0s", id), "handshake", `its last status: Running ("connecting to the source"`)
	})
	t.Run("delete of a hung worker", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t)
		id := h.submit()
		h.store.setStatus(t, id, api.Status{State: api.StateRunning, Message: "connecting to the source", UpdatedAt: timeNow()})
		h.launcher.set(&h.launcher.removeErr, stuck(id))
		r := h.do(http.MethodDelete, fmt.Sprintf("/v1/task/%d", id), "")
		r.wantCode(t, api.CodeOK)
		var out api.DeleteResponse
		r.data(t, &out)
		if !strings.Contains(out.LeftRunning, fmt.Sprintf("the worker of task %d did not stop", id)) || !strings.Contains(out.LeftRunning, "connecting to the source") {
			t.Errorf("delete data %s: want what was left running", r.Env.Data)
		}
		h.do(http.MethodGet, fmt.Sprintf("/v1/task/%d", id), "").wantCode(t, api.CodeNotFound)
		if !strings.Contains(h.logs.String(), "left running") {
			t.Error("the log does not say what was left running")
		}
	})
	for _, tc := range []struct {
		name string
		err  error
		code int
		msg  string
	}{
		{"scheduler down", fmt.Errorf("purge job: %w: connection refused", jobs.ErrUnavailable), api.CodeUnavailable, "connection refused"},
		{"busy", fmt.Errorf("task 1: another stop is in progress: %w", jobs.ErrConflict), api.CodeConflict, "another stop is in progress"},
		{"refused", fmt.Errorf("purge job: %w: Permission denied", jobs.ErrRefused), api.CodeInternal, "Permission denied"},
	} {
		t.Run("delete: "+tc.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t)
			id := h.submit()
			h.launcher.set(&h.launcher.removeErr, tc.err)
			other := h.submit()
			h.launcher.set(&h.launcher.removeErr, tc.err)
			h.do(http.MethodDelete, fmt.Sprintf("/v1/task/%d", id), "").wantCode(t, tc.code, tc.msg)
			// Kept, since its worker was not removed, but marked: the reconciler finishes the
			// delete, and nothing starts the task again meanwhile.
			var d api.TaskDetail
			h.do(http.MethodGet, fmt.Sprintf("/v1/task/%d", id), "").data(t, &d)
			if d.Desired != api.DesiredDeleted || d.Message != "being deleted" {
				t.Errorf("task after a failed delete: desired %s, %q", d.Desired, d.Message)
			}
			h.do(http.MethodPost, fmt.Sprintf("/v1/task/%d/start", id), "").wantCode(t, api.CodeNotFound, "being deleted")
			h.launcher.set(&h.launcher.stopErr, tc.err)
			h.do(http.MethodPost, fmt.Sprintf("/v1/task/%d/stop", other), "").wantCode(t, tc.code, tc.msg)
			if got := h.store.task(t, other); got.Desired != api.DesiredRunning {
				t.Errorf("a stop that failed at the scheduler recorded desired %s", got.Desired)
			}
			h.launcher.set(&h.launcher.launchErr, tc.err)
			h.do(http.MethodPost, fmt.Sprintf("/v1/task/%d/start", other), "").wantCode(t, tc.code, tc.msg)
		})
	}
}

// TestStartFailedTask: start on a task whose worker reported Failed makes the worker try again
// (a Failed worker waits for a spec change; it used to answer 200 and do nothing). A running
// task is left alone, and a stopped one is simply started.
func TestStartFailedTask(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	id := h.submit()
	start := fmt.Sprintf("/v1/task/%d/start", id)
	h.store.setStatus(t, id, api.Status{State: api.StateRunning, UpdatedAt: timeNow()})
	h.do(http.MethodPost, start, "").wantCode(t, api.CodeOK)
	if r := h.launcher.restarted(); len(r) != 0 {
		t.Errorf("start of a running task restarted it: %v", r)
	}
	h.store.setStatus(t, id, api.Status{State: api.StateFailed, Message: "access denied for user 'xes_replicator'", UpdatedAt: timeNow()})
	h.do(http.MethodPost, start, "").wantCode(t, api.CodeOK)
	if r := h.launcher.restarted(); !slices.Equal(r, []int64{id}) {
		t.Errorf("restarts %v, want task %d restarted", r, id)
	}
	// Stopped after failing: start launches it, which starts a fresh worker.
	h.do(http.MethodPost, fmt.Sprintf("/v1/task/%d/stop", id), "").wantCode(t, api.CodeOK)
	launchesBefore, _, _ := h.launcher.calls()
	h.do(http.MethodPost, start, "").wantCode(t, api.CodeOK)
	launches, _, _ := h.launcher.calls()
	if len(launches) != len(launchesBefore)+1 || len(h.launcher.restarted()) != 1 {
		t.Errorf("start of a stopped task: %d launches (was %d), restarts %v", len(launches), len(launchesBefore), h.launcher.restarted())
	}
}
