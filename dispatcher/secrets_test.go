package dispatcher

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/dtsrepl/dts/api"
	"github.com/dtsrepl/dts/internal/testenv"
	"github.com/dtsrepl/dts/store"
)

// securedBody is a submit or alter body of a task with kafka.tls (a client certificate) and
// kafka.sasl; sasl and key are the secrets it gives ("": left out), dbPassword the source's
// ("": the username alone), host "" the default account (host and port only).
func securedBody(t *testing.T, host, dbPassword, saslUser, sasl string, tls *api.KafkaTLS) string {
	t.Helper()
	src := &api.Source{Host: "127.0.0.1", Port: 3306, Username: "xes_replicator", Password: dbPassword}
	if host != "" {
		src = &api.Source{Host: host, Port: 3306}
	}
	spec := api.TaskSpec{
		Source:  src,
		Kafka:   api.Kafka{Addr: "127.0.0.1:9093", Topic: "t", TLS: tls},
		Filters: []api.Filter{{DBName: "d", Match: "t"}},
	}
	if saslUser != "" {
		spec.Kafka.SASL = &api.KafkaSASL{Mechanism: api.SASLScramSHA256, Username: saslUser, Password: sasl}
	}
	b, err := json.Marshal(api.SubmitRequest{Task: &spec})
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestKafkaSecrets: the Kafka secrets of a submit are stored with the source account, never in
// the spec, a response or a log line; GET says they are set; an alter keeps what it leaves out,
// replaces what it gives and drops what the task no longer uses, and hands the worker the
// result.
func TestKafkaSecrets(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	ca := testenv.NewCA(t, "kafka-ca")
	client := ca.Issue(t, "dts")
	withKey := &api.KafkaTLS{Enabled: true, CAPEM: ca.PEM, CertPEM: client.CertPEM, KeyPEM: client.KeyPEM}
	keyKept := &api.KafkaTLS{Enabled: true, CAPEM: ca.PEM, CertPEM: client.CertPEM}
	const sasl1, sasl2 = "sasl-first-3c1f", "sasl-second-8e2d"
	var bodies []string
	do := func(method, path, body string) *response {
		t.Helper()
		r := h.do(method, path, body)
		bodies = append(bodies, r.Raw)
		return r
	}
	stored := func(id int64) api.Credentials {
		t.Helper()
		c, err := h.store.DB.Credentials(t.Context(), id)
		if err != nil || c == nil {
			t.Fatalf("stored credentials of task %d: %+v, %v", id, c, err)
		}
		return *c
	}
	lastLaunch := func() launchCall {
		launches, _, _ := h.launcher.calls()
		return launches[len(launches)-1]
	}
	launches := func() int {
		l, _, _ := h.launcher.calls()
		return len(l)
	}

	var sub api.SubmitResponse
	do(http.MethodPost, "/v1/dispatch/submit", securedBody(t, "", seedPassword, "dts", sasl1, withKey)).data(t, &sub)
	id := sub.ID
	want := api.Credentials{Username: "xes_replicator", Password: seedPassword, KafkaSASLPassword: sasl1, KafkaKeyPEM: client.KeyPEM}
	if got := stored(id); got != want {
		t.Errorf("stored credentials after submit %+v", got)
	}
	if c := lastLaunch().Creds; c == nil || *c != want {
		t.Errorf("launched with %+v", c)
	}
	if s := h.store.task(t, id).Spec.Kafka; s.SASL.Password != "" || s.TLS.KeyPEM != "" || s.SASL.PasswordSet != nil {
		t.Errorf("the stored spec holds a secret or a marker: %+v %+v", s.SASL, s.TLS)
	}

	// GET says which secrets are set.
	get := do(http.MethodGet, fmt.Sprintf("/v1/task/%d", id), "")
	get.wantCode(t, api.CodeOK)
	var d api.TaskDetail
	get.data(t, &d)
	if !isTrue(d.Spec.Source.PasswordSet) || !isTrue(d.Spec.Kafka.SASL.PasswordSet) || !isTrue(d.Spec.Kafka.TLS.KeyPEMSet) {
		t.Errorf("GET: %s", d.Spec.Kafka.SASL.Mechanism+" "+get.Raw)
	}

	// The spec GET returns, sent back, changes nothing and keeps every secret.
	n := launches()
	back, err := json.Marshal(api.SubmitRequest{Task: d.Spec})
	if err != nil {
		t.Fatal(err)
	}
	do(http.MethodPut, fmt.Sprintf("/v1/dispatch/alter/%d", id), string(back)).wantCode(t, api.CodeOK)
	if got := stored(id); got != want || launches() != n {
		t.Errorf("the spec sent back as it is: credentials %+v, %d launches (was %d)", got, launches(), n)
	}

	// A new SASL password, nothing else repeated: the rest is kept, the worker gets it all.
	do(http.MethodPut, fmt.Sprintf("/v1/dispatch/alter/%d", id), securedBody(t, "", "", "dts", sasl2, keyKept)).wantCode(t, api.CodeOK)
	want.KafkaSASLPassword = sasl2
	if got := stored(id); got != want {
		t.Errorf("stored credentials after the rotation %+v", got)
	}
	if c := lastLaunch().Creds; c == nil || *c != want {
		t.Errorf("the rotation launched with %+v", c)
	}

	// Another SASL user, or SASL added back, needs its password.
	do(http.MethodPut, fmt.Sprintf("/v1/dispatch/alter/%d", id), securedBody(t, "", "", "bob", "", keyKept)).
		wantCode(t, api.CodeBadRequest, "task.kafka.sasl.password", "bob")

	// SASL dropped: its password goes with it; the key stays.
	do(http.MethodPut, fmt.Sprintf("/v1/dispatch/alter/%d", id), securedBody(t, "", "", "", "", keyKept)).wantCode(t, api.CodeOK)
	want.KafkaSASLPassword = ""
	if got := stored(id); got != want {
		t.Errorf("stored credentials after SASL was dropped %+v", got)
	}
	do(http.MethodPut, fmt.Sprintf("/v1/dispatch/alter/%d", id), securedBody(t, "", "", "dts", "", keyKept)).
		wantCode(t, api.CodeBadRequest, "task.kafka.sasl.password")
	d = api.TaskDetail{}
	do(http.MethodGet, fmt.Sprintf("/v1/task/%d", id), "").data(t, &d)
	if d.Spec.Kafka.SASL != nil || !isTrue(d.Spec.Kafka.TLS.KeyPEMSet) {
		t.Errorf("GET after SASL was dropped: %+v", d.Spec.Kafka)
	}

	// The client certificate dropped (TLS kept): the key goes.
	do(http.MethodPut, fmt.Sprintf("/v1/dispatch/alter/%d", id), securedBody(t, "", "", "dts", sasl1, &api.KafkaTLS{Enabled: true, CAPEM: ca.PEM})).wantCode(t, api.CodeOK)
	want.KafkaSASLPassword, want.KafkaKeyPEM = sasl1, ""
	if got := stored(id); got != want {
		t.Errorf("stored credentials after the certificate was dropped %+v", got)
	}

	// Credentials that cannot be read: the alter says what to send instead.
	h.store.setCredsErr(fmt.Errorf("read variable: %w", store.ErrUnavailable))
	do(http.MethodPut, fmt.Sprintf("/v1/dispatch/alter/%d", id), securedBody(t, "", "", "dts", sasl2, &api.KafkaTLS{Enabled: true, CAPEM: ca.PEM})).
		wantCode(t, api.CodeUnavailable, "task.source.username", "task.source.password")
	do(http.MethodPut, fmt.Sprintf("/v1/dispatch/alter/%d", id), securedBody(t, "", seedPassword, "dts", "", &api.KafkaTLS{Enabled: true, CAPEM: ca.PEM})).
		wantCode(t, api.CodeUnavailable, "send task.kafka.sasl.password")
	// With everything in the body, nothing is read.
	do(http.MethodPut, fmt.Sprintf("/v1/dispatch/alter/%d", id), securedBody(t, "", seedPassword, "dts", sasl2, &api.KafkaTLS{Enabled: true, CAPEM: ca.PEM})).wantCode(t, api.CodeOK)
	h.store.setCredsErr(nil)
	want.KafkaSASLPassword = sasl2
	if got := stored(id); got != want {
		t.Errorf("stored credentials after a full alter %+v", got)
	}

	// No credentials stored at all: an alter that hands the worker new ones names what it must
	// carry besides.
	if err := h.store.DB.DeleteCredentials(t.Context(), id); err != nil {
		t.Fatal(err)
	}
	do(http.MethodPut, fmt.Sprintf("/v1/dispatch/alter/%d", id), securedBody(t, "", "", "dts", sasl1, &api.KafkaTLS{Enabled: true, CAPEM: ca.PEM})).
		wantCode(t, api.CodeBadRequest, "task.source.username", "task.source.password")
	do(http.MethodPut, fmt.Sprintf("/v1/dispatch/alter/%d", id), securedBody(t, "", seedPassword, "dts", "", &api.KafkaTLS{Enabled: true, CAPEM: ca.PEM})).
		wantCode(t, api.CodeBadRequest, "task.kafka.sasl.password")
	d = api.TaskDetail{}
	do(http.MethodGet, fmt.Sprintf("/v1/task/%d", id), "").data(t, &d)
	if d.Spec.Source.PasswordSet == nil || *d.Spec.Source.PasswordSet || d.Spec.Kafka.SASL.PasswordSet == nil || *d.Spec.Kafka.SASL.PasswordSet {
		t.Errorf("GET of a task without stored credentials: %+v %+v", d.Spec.Source, d.Spec.Kafka.SASL)
	}

	do(http.MethodGet, "/v1/task/list?per_page=10&page=1", "").wantCode(t, api.CodeOK)
	for _, secret := range []string{seedPassword, sasl1, sasl2, strings.Split(client.KeyPEM, "\n")[1]} {
		for _, b := range bodies {
			if strings.Contains(b, secret) {
				t.Errorf("a response holds a secret: %s", b)
			}
		}
		if strings.Contains(h.logs.String(), secret) {
			t.Errorf("the log holds a secret")
		}
	}
}

// TestKafkaSecretsDefaultAccount: a task on the default account keeps its Kafka secrets through
// alters and starts, which hand the worker the default account again.
func TestKafkaSecretsDefaultAccount(t *testing.T) {
	t.Parallel()
	def := &api.Credentials{Username: "dts_default", Password: "default-secret"}
	allow, err := ParseHostAllowList("127.0.0.0/8")
	if err != nil {
		t.Fatal(err)
	}
	h := newHarness(t, func(c *Config) { c.DefaultCredentials, c.SourceAllow = def, allow })
	var sub api.SubmitResponse
	h.do(http.MethodPost, "/v1/dispatch/submit", securedBody(t, "127.0.0.1", "", "dts", "sasl-pw", nil)).data(t, &sub)
	want := api.Credentials{Username: def.Username, Password: def.Password, KafkaSASLPassword: "sasl-pw"}
	check := func(what string) {
		t.Helper()
		launches, _, _ := h.launcher.calls()
		if c := launches[len(launches)-1].Creds; c == nil || *c != want {
			t.Errorf("%s: launched with %+v", what, c)
		}
		if c, err := h.store.DB.Credentials(t.Context(), sub.ID); err != nil || c == nil || *c != want {
			t.Errorf("%s: stored %+v, %v", what, c, err)
		}
	}
	check("submit")
	h.do(http.MethodPut, fmt.Sprintf("/v1/dispatch/alter/%d", sub.ID), securedBody(t, "127.0.0.1", "", "dts", "", nil)).wantCode(t, api.CodeOK)
	check("alter without the SASL password")
	h.do(http.MethodPost, fmt.Sprintf("/v1/task/%d/stop", sub.ID), "").wantCode(t, api.CodeOK)
	h.do(http.MethodPost, fmt.Sprintf("/v1/task/%d/start", sub.ID), "").wantCode(t, api.CodeOK)
	check("start")
	creds, err := h.srv.storedCredentials(t.Context(), ptrTask(h.store.task(t, sub.ID)))
	if err != nil || creds == nil || *creds != want {
		t.Errorf("the checks' credentials %+v, %v", creds, err)
	}
}

func isTrue(b *bool) bool { return b != nil && *b }

func ptrTask(t api.Task) *api.Task { return &t }

// setCredsErr makes reading stored credentials fail (a Nomad Variable that cannot be read).
func (s *testStore) setCredsErr(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.credsErr = err
}

// Credentials is store/bolt's, failing while setCredsErr is set.
func (s *testStore) Credentials(ctx context.Context, id int64) (*api.Credentials, error) {
	s.mu.Lock()
	err := s.credsErr
	s.mu.Unlock()
	if err != nil {
		return nil, err
	}
	return s.DB.Credentials(ctx, id)
}
