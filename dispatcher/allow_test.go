package dispatcher

import (
	"net/http"
	"strings"
	"testing"

	"github.com/dtsrepl/dts/api"
)

func TestParseHostAllowList(t *testing.T) {
	for _, tc := range []struct {
		in      string
		wantErr string
		allows  []string
		refuses []string
	}{
		{in: "127.0.0.1", allows: []string{"127.0.0.1", "::ffff:127.0.0.1"}, refuses: []string{"127.0.0.2", "localhost", "127.1", "2130706433", "0177.0.0.1"}},
		{in: "10.0.0.0/8, 192.168.1.0/24", allows: []string{"10.1.2.3", "10.255.255.255", "192.168.1.7"}, refuses: []string{"11.0.0.1", "192.168.2.1", "db1"}},
		{in: "db1.example.com,DB2.example.com.", allows: []string{"db1.example.com", "DB1.Example.COM", "db1.example.com.", "db2.example.com"}, refuses: []string{"db3.example.com", "db1.example.com.evil.net", "example.com", "x.db1.example.com", "10.0.0.1"}},
		{in: "fd00::/64,::1", allows: []string{"fd00::5", "::1"}, refuses: []string{"fd01::5", "::2"}},
		{in: " 127.0.0.0/8 ,, ", allows: []string{"127.0.0.1", "127.9.9.9"}, refuses: []string{"localhost"}},
		{in: "10.1.2.3/8", allows: []string{"10.200.0.1"}},

		{in: "", wantErr: "is empty"},
		{in: " , ", wantErr: "is empty"},
		{in: "*", wantErr: `"*": wildcards are not supported`},
		{in: "*.example.com", wantErr: `"*.example.com": wildcards are not supported`},
		{in: "10.0.0.0/33", wantErr: `"10.0.0.0/33" is not a network`},
		{in: "db_1", wantErr: `"db_1" is neither an IP address, a network (CIDR) nor a host name`},
		{in: "http://db1", wantErr: "is not a network"},
		{in: "db1:3306", wantErr: "is neither"},
		{in: strings.Repeat("a", 64) + ".com", wantErr: "is neither"},
	} {
		l, err := ParseHostAllowList(tc.in)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("ParseHostAllowList(%q): %v, want %q", tc.in, err, tc.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("ParseHostAllowList(%q): %v", tc.in, err)
			continue
		}
		for _, h := range tc.allows {
			if !l.Allows(h) {
				t.Errorf("%q does not allow %q", tc.in, h)
			}
		}
		for _, h := range tc.refuses {
			if l.Allows(h) {
				t.Errorf("%q allows %q", tc.in, h)
			}
		}
	}
}

// TestDefaultAccountAllowList: the default replication account logs in only to the hosts the
// operator listed, so an API caller cannot point a task at a server of theirs and collect its
// password. Names are matched as names: no DNS lookup at submit.
func TestDefaultAccountAllowList(t *testing.T) {
	t.Parallel()
	def := &api.Credentials{Username: "dts_default", Password: "default-secret"}
	allow, err := ParseHostAllowList("127.0.0.0/8,db1.example.com")
	if err != nil {
		t.Fatal(err)
	}
	h := newHarness(t, func(c *Config) { c.DefaultCredentials, c.SourceAllow = def, allow })
	hostOnly := func(host string) string {
		return `{"task":{"source":{"host":"` + host + `","port":3306},"kafka":{"addr":"127.0.0.1:9092","topic":"t"},"filters":[{"dbname":"d","match":"t"}]}}`
	}
	for _, host := range []string{"127.0.0.1", "127.0.0.9", "db1.example.com", "DB1.example.com"} {
		h.do(http.MethodPost, "/v1/dispatch/submit", hostOnly(host)).wantCode(t, api.CodeOK)
	}
	for _, host := range []string{"10.9.9.9", "evil.example.net", "db1.example.com.evil.net", "localhost", "::1"} {
		h.do(http.MethodPost, "/v1/dispatch/submit", hostOnly(host)).wantCode(t, api.CodeBadRequest,
			"task.source.username: is required for "+host, "--source-allow")
	}
	// Its own account may go anywhere.
	own := strings.Replace(hostOnly("10.9.9.9"), `"port":3306`, `"port":3306,"username":"me","password":"mine"`, 1)
	h.do(http.MethodPost, "/v1/dispatch/submit", own).wantCode(t, api.CodeOK)
	launches, _, _ := h.launcher.calls()
	if len(launches) != 5 {
		t.Fatalf("%d launches, want 5", len(launches))
	}
	for _, l := range launches[:4] {
		if l.Creds == nil || *l.Creds != *def || !h.store.task(t, l.Task.ID).DefaultAccount {
			t.Errorf("task %d launched with %+v, want the default account recorded", l.Task.ID, l.Creds)
		}
	}
	if h.store.task(t, launches[4].Task.ID).DefaultAccount {
		t.Error("a task with its own account is recorded as using the default one")
	}
	if strings.Contains(h.logs.String(), "default-secret") {
		t.Error("the default password is in the log")
	}

	// The operator narrows the list: a task of a host no longer on it cannot keep the default
	// account through an alter or a start, and can move to an account of its own.
	narrow, _ := ParseHostAllowList("db1.example.com")
	srv, err := New(Config{Store: h.store, Launcher: h.launcher, AuthUser: testUser, AuthPassword: testPassword, DefaultCredentials: def, SourceAllow: narrow, Logger: h.srv.log})
	if err != nil {
		t.Fatal(err)
	}
	h2 := &harness{t: t, srv: srv, store: h.store, launcher: h.launcher, logs: h.logs}
	noSource := `{"task":{"kafka":{"addr":"127.0.0.1:9092","topic":"u"},"filters":[{"dbname":"d","match":"t"}]}}`
	h2.do(http.MethodPut, "/v1/dispatch/alter/1", noSource).wantCode(t, api.CodeBadRequest, "task.source.username: is required for 127.0.0.1")
	h2.do(http.MethodPut, "/v1/dispatch/alter/1", hostOnly("127.0.0.1")).wantCode(t, api.CodeBadRequest, "task.source.username")
	h2.do(http.MethodPost, "/v1/task/1/stop", "").wantCode(t, api.CodeOK)
	h2.do(http.MethodPost, "/v1/task/1/start", "").wantCode(t, api.CodeBadRequest, "task.source.username")
	h2.do(http.MethodPut, "/v1/dispatch/alter/3", noSource).wantCode(t, api.CodeOK) // db1.example.com
	own1 := strings.Replace(hostOnly("127.0.0.1"), `"port":3306`, `"port":3306,"username":"me","password":"mine"`, 1)
	h2.do(http.MethodPut, "/v1/dispatch/alter/1", own1).wantCode(t, api.CodeOK)
	// The task is stopped, and its new account still reaches the launcher: the next start must
	// not log in with the default one.
	launches, _, _ = h.launcher.calls()
	if last := launches[len(launches)-1]; last.Task.ID != 1 || last.Creds == nil || last.Creds.Username != "me" {
		t.Errorf("the alter of stopped task 1 handed %+v to the launcher, want its own account", last)
	}
	if got := h.store.task(t, 1); got.DefaultAccount || got.Spec.Source.Username != "me" {
		t.Errorf("task 1 after moving to its own account: %+v", got)
	}
	h2.do(http.MethodPost, "/v1/task/1/start", "").wantCode(t, api.CodeOK)
}

func TestDefaultAccountNeedsAllowList(t *testing.T) {
	h := newHarness(t)
	_, err := New(Config{Store: h.store, Launcher: h.launcher, AuthUser: "u", AuthPassword: "p", DefaultCredentials: &api.Credentials{Username: "repl", Password: "x"}})
	if err == nil || !strings.Contains(err.Error(), "allow-list") {
		t.Fatalf("New with a default account and no allow-list: %v", err)
	}
}
