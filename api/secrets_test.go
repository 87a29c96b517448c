package api

import (
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestAlterSecrets: what an alter does to the task's Kafka secrets, and the credentials its
// worker gets from the body, the stored ones and the default account.
func TestAlterSecrets(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	stored := func(mod ...func(*Task)) *Task {
		s := validSpec()
		task := NewTask(s, "repl", false, now)
		task.ID = 7
		for _, m := range mod {
			m(task)
		}
		return task
	}
	sasl := func(user, pass string) func(*TaskSpec) {
		return func(s *TaskSpec) {
			s.Kafka.SASL = &KafkaSASL{Mechanism: SASLScramSHA512, Username: user, Password: pass}
		}
	}
	cert := func(c, key string) func(*TaskSpec) {
		return func(s *TaskSpec) { s.Kafka.TLS = &KafkaTLS{Enabled: true, CertPEM: c, KeyPEM: key} }
	}
	noAccount := func(s *TaskSpec) { s.Source.Username, s.Source.Password = "", "" }
	body := func(mod ...func(*TaskSpec)) *TaskSpec {
		s := validSpec()
		for _, m := range mod {
			m(s)
		}
		return s
	}
	kept := Credentials{Username: "repl", Password: "old db", KafkaSASLPassword: "old sasl", KafkaKeyPEM: "old key"}
	tests := []struct {
		name          string
		cur           *Task
		body          *TaskSpec
		account       *Credentials // the account the dispatcher has besides the body's (the default one)
		stored        *Credentials
		sasl, key     SecretChange
		kafkaChanged  bool
		kept          []string // with the account known
		want          *Credentials
		mergeErrField string
	}{
		{name: "no kafka secrets", cur: stored(), body: body(),
			want: &Credentials{Username: "repl", Password: "secret"}},
		{name: "a body without passwords keeps the stored ones", cur: stored(withSASL, withCert), body: body(noAccount, sasl("dts", ""), cert("cert", "")), stored: &kept,
			sasl: SecretKeep, key: SecretKeep, kept: []string{"task.kafka.sasl.password", "task.kafka.tls.key_pem"}, want: &kept},
		{name: "new SASL password", cur: stored(withSASL), body: body(noAccount, sasl("dts", "new sasl")), stored: &kept,
			sasl: SecretSet, kafkaChanged: true, want: &Credentials{Username: "repl", Password: "old db", KafkaSASLPassword: "new sasl"}},
		{name: "new client key", cur: stored(withCert), body: body(cert("cert", "new key")), stored: &kept,
			key: SecretSet, kafkaChanged: true, want: &Credentials{Username: "repl", Password: "secret", KafkaKeyPEM: "new key"}},
		{name: "new SASL user with its password", cur: stored(withSASL), body: body(sasl("bob", "bob's")),
			sasl: SecretSet, kafkaChanged: true, want: &Credentials{Username: "repl", Password: "secret", KafkaSASLPassword: "bob's"}},
		{name: "SASL dropped", cur: stored(withSASL, withCert), body: body(noAccount, cert("cert", "")), stored: &kept,
			sasl: SecretDrop, key: SecretKeep, kafkaChanged: true, kept: []string{"task.kafka.tls.key_pem"},
			want: &Credentials{Username: "repl", Password: "old db", KafkaKeyPEM: "old key"}},
		{name: "TLS dropped", cur: stored(withSASL, withCert), body: body(sasl("dts", "")), stored: &kept,
			sasl: SecretKeep, key: SecretDrop, kafkaChanged: true, kept: []string{"task.kafka.sasl.password"},
			want: &Credentials{Username: "repl", Password: "secret", KafkaSASLPassword: "old sasl"}},
		{name: "client certificate dropped, TLS kept", cur: stored(withCert), body: body(func(s *TaskSpec) { s.Kafka.TLS = &KafkaTLS{Enabled: true} }), stored: &kept,
			key: SecretDrop, kafkaChanged: true, want: &Credentials{Username: "repl", Password: "secret"}},
		{name: "a stale stored secret the task does not use is not handed on", cur: stored(), body: body(), stored: &kept,
			want: &Credentials{Username: "repl", Password: "secret"}},
		{name: "default account with the stored kafka secrets", cur: stored(withSASL, func(t *Task) { t.DefaultAccount = true }), body: body(noAccount, sasl("dts", "")),
			account: &Credentials{Username: "dflt", Password: "dflt pw"}, stored: &kept,
			sasl: SecretKeep, kept: []string{"task.kafka.sasl.password"}, want: &Credentials{Username: "dflt", Password: "dflt pw", KafkaSASLPassword: "old sasl"}},
		{name: "kept password that is not stored", cur: stored(withSASL), body: body(sasl("dts", "")), stored: &Credentials{Username: "repl", Password: "old db"},
			sasl: SecretKeep, kept: []string{"task.kafka.sasl.password"}, mergeErrField: "task.kafka.sasl.password"},
		{name: "kept account that is not stored", cur: stored(withSASL), body: body(noAccount, sasl("dts", "new sasl")),
			sasl: SecretSet, kafkaChanged: true, mergeErrField: "task.source.username"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a, err := Alter(tc.cur, tc.body, now)
			if err != nil {
				t.Fatal(err)
			}
			if a.SASLPassword != tc.sasl || a.KeyPEM != tc.key {
				t.Errorf("sasl %v key %v, want %v %v", a.SASLPassword, a.KeyPEM, tc.sasl, tc.key)
			}
			if a.KafkaSecretsChanged() != tc.kafkaChanged {
				t.Errorf("kafka secrets changed %v, want %v", a.KafkaSecretsChanged(), tc.kafkaChanged)
			}
			account := a.Credentials
			if tc.account != nil {
				account = tc.account
			}
			if got := a.Kept(true); strings.Join(got, ",") != strings.Join(tc.kept, ",") {
				t.Errorf("kept %q, want %q", got, tc.kept)
			}
			if got := a.Kept(false); !slices.Contains(got, "task.source.username") || !slices.Contains(got, "task.source.password") {
				t.Errorf("kept without an account %q lacks the account", got)
			}
			got, err := a.Merge(account, tc.stored)
			if tc.mergeErrField != "" {
				var e *Error
				if !errors.As(err, &e) || e.Code != CodeBadRequest || !strings.HasPrefix(e.Message, tc.mergeErrField) {
					t.Fatalf("merge: %v, want -400 on %s", err, tc.mergeErrField)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if *got != *tc.want {
				t.Errorf("credentials %+v, want %+v", *got, *tc.want)
			}
			if s := a.Task.Spec.Kafka; s.SASL != nil && s.SASL.Password != "" || s.TLS != nil && s.TLS.KeyPEM != "" {
				t.Errorf("stored spec holds a Kafka secret")
			}
		})
	}
}

// TestMarkSecrets: the spec GET returns says which secrets are stored, never what they are;
// the markers are never stored or compared.
func TestMarkSecrets(t *testing.T) {
	spec := validSpec()
	spec.Kafka.SASL = &KafkaSASL{Mechanism: SASLPlain, Username: "dts", Password: "sasl pw"}
	spec.Kafka.TLS = &KafkaTLS{Enabled: true, CertPEM: "cert", KeyPEM: "key"}
	view := spec.Redacted()
	view.MarkSecrets(&Credentials{Username: "repl", Password: "secret", KafkaSASLPassword: "sasl pw"})
	b, err := json.Marshal(view)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"password_set":true`, `"sasl":{"mechanism":"PLAIN","username":"dts","password_set":true}`, `"key_pem_set":false`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("%s lacks %s", b, want)
		}
	}
	for _, secret := range []string{"secret", "sasl pw", `"key"`} {
		if strings.Contains(string(b), secret) {
			t.Errorf("%s holds %s", b, secret)
		}
	}
	if r := view.Redacted(); !r.Equal(spec.Redacted()) {
		t.Errorf("redacted view %+v differs from the redacted spec", r)
	}
	// A spec read with GET can be sent back: the markers are accepted and ignored.
	back, err := DecodeSubmit(strings.NewReader(`{"task":` + string(b) + `}`))
	if err != nil {
		t.Fatalf("decode the spec GET returns: %v", err)
	}
	if !back.Redacted().Equal(spec.Redacted()) {
		t.Errorf("the spec sent back reads %+v", back)
	}
	none := spec.Redacted()
	none.MarkSecrets(nil)
	if *none.Source.PasswordSet || *none.Kafka.SASL.PasswordSet || *none.Kafka.TLS.KeyPEMSet {
		t.Errorf("nothing stored, yet marked set: %+v", none)
	}
}
