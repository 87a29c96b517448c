package worker_test

import (
	"strings"
	"testing"
	"time"

	"github.com/dtsrepl/dts/api"
	"github.com/dtsrepl/dts/internal/testenv"
)

// TestSecuredKafka streams to brokers that require TLS and SASL, with each mechanism, and a
// client certificate.
func TestSecuredKafka(t *testing.T) {
	t.Parallel()
	ca := testenv.NewCA(t, "kafka-ca")
	client := ca.Issue(t, "dts-worker")
	for _, mech := range []string{api.SASLScramSHA256, api.SASLScramSHA512, api.SASLPlain} {
		t.Run(mech, func(t *testing.T) {
			t.Parallel()
			db := testenv.StartMariaDB(t)
			kafka := testenv.StartSecureKafka(t, 1, testenv.SecureKafka{CA: ca, Mechanism: mech, User: "dts", Password: "s3cret pass"})
			db.Exec(t, "CREATE DATABASE s", "CREATE TABLE s.t (id INT PRIMARY KEY)")
			h := newHarness(t, db, kafka)
			h.spec(api.TaskSpec{
				Kafka: api.Kafka{Topic: "s",
					TLS:  &api.KafkaTLS{Enabled: true, CAPEM: ca.PEM, CertPEM: client.CertPEM, KeyPEM: client.KeyPEM},
					SASL: &api.KafkaSASL{Mechanism: mech, Username: "dts", Password: "s3cret pass"}},
				Filters: []api.Filter{{DBName: "s", Match: "t"}},
			})
			h.start()
			h.running()
			db.Exec(t, "INSERT INTO s.t VALUES (1), (2)")
			kafka.WaitRecords(t, "s", 2, 30*time.Second)
		})
	}
}

// TestKafkaSecurityFailures: each misconfiguration ends in Failed with a message naming the
// fix, not in an endless retry.
func TestKafkaSecurityFailures(t *testing.T) {
	t.Parallel()
	ca := testenv.NewCA(t, "kafka-ca")
	other := testenv.NewCA(t, "another-ca")
	tests := []struct {
		name   string
		broker testenv.SecureKafka
		tls    *api.KafkaTLS
		sasl   *api.KafkaSASL
		pass   string
		want   []string
	}{
		{"unknown CA", testenv.SecureKafka{CA: ca}, &api.KafkaTLS{Enabled: true, CAPEM: other.PEM}, nil, "", []string{"kafka.tls.ca_pem"}},
		{"hostname mismatch", testenv.SecureKafka{CA: ca, ServerName: "kafka.example"}, &api.KafkaTLS{Enabled: true, CAPEM: ca.PEM}, nil, "", []string{"kafka.tls.server_name"}},
		{"wrong SASL password", testenv.SecureKafka{Mechanism: api.SASLScramSHA256, User: "dts", Password: "right"},
			nil, &api.KafkaSASL{Mechanism: api.SASLScramSHA256, Username: "dts"}, "wrong", []string{"kafka.sasl"}},
		{"TLS to a plaintext listener", testenv.SecureKafka{}, &api.KafkaTLS{Enabled: true, CAPEM: ca.PEM}, nil, "", []string{"plaintext", "kafka.tls.enabled"}},
		{"plaintext to a TLS listener", testenv.SecureKafka{CA: ca}, nil, nil, "", []string{"TLS", "kafka.tls.enabled"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			db := testenv.StartMariaDB(t)
			kafka := testenv.StartSecureKafka(t, 1, tt.broker)
			db.Exec(t, "CREATE DATABASE s", "CREATE TABLE s.t (id INT PRIMARY KEY)")
			h := newHarness(t, db, kafka)
			if tt.sasl != nil {
				tt.sasl.Password = tt.pass
			}
			h.spec(api.TaskSpec{Kafka: api.Kafka{Topic: "s", TLS: tt.tls, SASL: tt.sasl}, Filters: []api.Filter{{DBName: "s", Match: "t"}}})
			h.start()
			st := h.waitStatus("Failed", func(s *api.Status) bool { return s.State == api.StateFailed })
			for _, w := range tt.want {
				if !strings.Contains(st.Message, w) {
					t.Errorf("message lacks %q: %s", w, st.Message)
				}
			}
			for _, secret := range []string{"right", "wrong"} {
				if tt.pass != "" && strings.Contains(st.Message, secret) {
					t.Errorf("message shows a password: %s", st.Message)
				}
			}
		})
	}
}

// TestSourceTLS streams and copies from a MariaDB that requires TLS, verifying its certificate,
// and fails naming the fix when the CA is wrong, when TLS is off, and when TLS is required of a
// server without it.
func TestSourceTLS(t *testing.T) {
	t.Parallel()
	ca := testenv.NewCA(t, "mysql-ca")
	other := testenv.NewCA(t, "another-ca")
	db := testenv.StartMariaDB(t, testenv.WithTLS(t, ca, true))
	plain := testenv.StartMariaDB(t)
	kafka := testenv.StartKafka(t, 1)
	for _, s := range []*testenv.MariaDB{db, plain} {
		s.Exec(t, "CREATE DATABASE s", "CREATE TABLE s.t (id INT PRIMARY KEY)", "INSERT INTO s.t VALUES (1)")
	}
	tests := []struct {
		name  string
		db    *testenv.MariaDB
		tls   *api.SourceTLS
		topic string
		fail  []string // empty: rows arrive
	}{
		{"verify_identity", db, &api.SourceTLS{Mode: api.TLSVerifyIdentity, CAPEM: ca.PEM}, "ok1", nil},
		{"verify_ca", db, &api.SourceTLS{Mode: api.TLSVerifyCA, CAPEM: ca.PEM}, "ok2", nil},
		{"required", db, &api.SourceTLS{Mode: api.TLSRequired}, "ok3", nil},
		{"preferred without TLS on the server", plain, &api.SourceTLS{Mode: api.TLSPreferred}, "ok4", nil},
		{"wrong CA", db, &api.SourceTLS{Mode: api.TLSVerifyCA, CAPEM: other.PEM}, "bad1", []string{"source.tls.ca_pem"}},
		{"TLS off against a server requiring it", db, nil, "bad2", []string{"source.tls"}},
		{"TLS required of a server without it", plain, &api.SourceTLS{Mode: api.TLSRequired}, "bad3", []string{"offers no TLS", "source.tls.mode"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, tt.db, kafka)
			f := false
			spec := api.TaskSpec{Kafka: api.Kafka{Topic: tt.topic}, Filters: []api.Filter{{DBName: "s", Match: "t"}}, Incr: &f}
			spec.Source = &api.Source{Host: tt.db.Host, Port: tt.db.Port, Username: tt.db.User, Password: tt.db.Password, TLS: tt.tls}
			h.write(spec)
			h.start()
			if tt.fail != nil {
				st := h.waitStatus("Failed", func(s *api.Status) bool { return s.State == api.StateFailed })
				for _, w := range tt.fail {
					if !strings.Contains(st.Message, w) {
						t.Errorf("message lacks %q: %s", w, st.Message)
					}
				}
				return
			}
			kafka.WaitRecords(t, tt.topic, 1, 30*time.Second) // the copy
			h.running()
			tt.db.Exec(t, "INSERT INTO s.t VALUES ("+map[string]string{"ok1": "11", "ok2": "12", "ok3": "13", "ok4": "14"}[tt.topic]+")")
			kafka.WaitRecords(t, tt.topic, 2, 30*time.Second) // the stream
		})
	}
}
