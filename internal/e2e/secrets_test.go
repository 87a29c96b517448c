package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.etcd.io/bbolt"

	"github.com/dtsrepl/dts/api"
	"github.com/dtsrepl/dts/internal/testenv"
)

// TestDevSecuredKafka runs `dts dev` against a broker that requires TLS with a client
// certificate and SCRAM-SHA-512, and a MariaDB that requires TLS: the Kafka secrets of the
// submit reach the worker through the embedded store, rows arrive; an alter rotates the SASL
// password to a wrong one (Failed, naming kafka.sasl) and back (Running again), keeping the
// client key and the source password it does not repeat; GET says which secrets are set. No
// secret is in any response, in the log, or in the store file outside its credentials.
func TestDevSecuredKafka(t *testing.T) {
	t.Parallel()
	start := time.Now()
	const (
		saslUser  = "dts-producer"
		saslPass  = "sasl-Right-9f2c47ab"
		wrongPass = "sasl-Wrong-51d0e3cc"
	)
	kafkaCA := testenv.NewCA(t, "kafka-ca")
	mysqlCA := testenv.NewCA(t, "mysql-ca")
	client := kafkaCA.Issue(t, "dts-worker")
	kafka := testenv.StartSecureKafka(t, 2, testenv.SecureKafka{CA: kafkaCA, RequireClientCert: true,
		Mechanism: api.SASLScramSHA512, User: saslUser, Password: saslPass})
	db := testenv.StartMariaDB(t, testenv.WithTLS(t, mysqlCA, true))
	seedDB(t, db)
	dir := t.TempDir()
	dataDir := filepath.Join(dir, "dts-data")
	srv := startServer(t, "dts-dev", dir, childEnv("DTS_LOG_LEVEL=debug"), "dev", "--data-dir", dataDir)
	t.Logf("servers up in %s", time.Since(start).Round(time.Millisecond))
	var rec recorder
	base := srv.URL

	// body is the task as an operator writes it; sasl and key are the secrets it carries ("":
	// left out, as an alter may).
	body := func(topic, dbPassword, sasl, key string) string {
		spec := api.TaskSpec{
			Source: &api.Source{Host: "127.0.0.1", Port: db.Port, Username: seedDBUser, Password: dbPassword,
				TLS: &api.SourceTLS{Mode: api.TLSVerifyIdentity, CAPEM: mysqlCA.PEM}},
			Kafka: api.Kafka{Addr: kafka.Addr(), Topic: topic,
				TLS:  &api.KafkaTLS{Enabled: true, CAPEM: kafkaCA.PEM, CertPEM: client.CertPEM, KeyPEM: key, ServerName: "127.0.0.1"},
				SASL: &api.KafkaSASL{Mechanism: api.SASLScramSHA512, Username: saslUser, Password: sasl}},
			Filters: []api.Filter{{DBName: "oa_data_service", Match: `/xes_class_students_\d+/`}, {DBName: "oa_data_service", Match: "check_delay"}},
		}
		b, err := json.Marshal(api.SubmitRequest{Task: &spec})
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	alter := func(b string) *reply {
		t.Helper()
		return rec.api(t, base, http.MethodPut, "/v1/dispatch/alter/1", b)
	}

	var submitted api.SubmitResponse
	rec.api(t, base, http.MethodPost, "/v1/dispatch/submit", body("secured", seedDBPassword, saslPass, client.KeyPEM)).ok(t, &submitted)
	id := submitted.ID
	rec.waitState(t, base, id, api.StateRunning, 60*time.Second)
	insertRows(t, db, 1, 4)
	waitRows(t, kafka, "secured", 1, 4, 60*time.Second)

	// GET says that each secret is set.
	rep := rec.api(t, base, http.MethodGet, fmt.Sprintf("/v1/task/%d", id), "")
	var d api.TaskDetail
	rep.ok(t, &d)
	if !set(d.Spec.Source.PasswordSet) || !set(d.Spec.Kafka.SASL.PasswordSet) || !set(d.Spec.Kafka.TLS.KeyPEMSet) {
		t.Errorf("GET does not say the secrets are set: %s", rep.Body)
	}
	for _, want := range []string{`"password_set":true`, `"key_pem_set":true`, `"cert_pem":`} {
		if !strings.Contains(rep.Body, want) {
			t.Errorf("GET lacks %s: %s", want, rep.Body)
		}
	}
	version := d.SpecVersion

	// A rotation to a wrong SASL password: the body repeats neither the source password nor the
	// client key, which are kept. The worker restarts with it and fails, naming what to fix.
	alter(body("secured", "", wrongPass, "")).ok(t, nil)
	failed := rec.waitState(t, base, id, api.StateFailed, 90*time.Second)
	if !strings.Contains(failed.Message, "kafka.sasl") {
		t.Errorf("the failure does not name kafka.sasl: %s", failed.Message)
	}
	t.Logf("with the wrong SASL password: %s", failed.Message)

	// Changing the SASL user without its password is refused, naming the password.
	other := strings.Replace(body("secured", "", "", ""), `"username":"`+saslUser+`"`, `"username":"someone-else"`, 1)
	alter(other).want(t, api.CodeBadRequest, "task.kafka.sasl.password")

	// The right password again: the task recovers and streams what was written meanwhile.
	insertRows(t, db, 4, 7)
	alter(body("secured", "", saslPass, "")).ok(t, nil)
	rec.waitState(t, base, id, api.StateRunning, 90*time.Second)
	insertRows(t, db, 7, 10)
	waitRows(t, kafka, "secured", 1, 10, 60*time.Second)
	d = rec.detail(t, base, id)
	if d.SpecVersion != version || !set(d.Spec.Source.PasswordSet) || !set(d.Spec.Kafka.SASL.PasswordSet) || !set(d.Spec.Kafka.TLS.KeyPEMSet) {
		t.Errorf("after the rotations: version %d (was %d), spec %s", d.SpecVersion, version, mustJSON(t, d.Spec))
	}
	rec.list(t, base)
	t.Logf("rotations done after %s", time.Since(start).Round(time.Millisecond))

	// Stopped, so that the store file can be read.
	srv.Proc.Stop(syscall.SIGTERM, 90*time.Second)
	if _, err := srv.Proc.Exited(); err != nil {
		t.Fatalf("dts dev did not exit cleanly: %v", err)
	}
	outside, creds := boltContents(t, filepath.Join(dataDir, "dts.db"))
	if !strings.Contains(creds, saslPass) || !strings.Contains(creds, keyBody(client.KeyPEM)) || strings.Contains(creds, wrongPass) {
		t.Errorf("the stored credentials do not hold the current Kafka secrets")
	}

	secrets := map[string]string{"SASL password": saslPass, "wrong SASL password": wrongPass,
		"client key": keyBody(client.KeyPEM), "source password": seedDBPassword}
	logs := []string{srv.Proc.Log(), readFile(t, filepath.Join(dir, "dts-dev.log"))}
	if !strings.Contains(logs[0], "level=DEBUG") {
		t.Errorf("dts dev did not log at debug level")
	}
	for what, secret := range secrets {
		noSecret(t, "response ("+what+")", secret, rec.all()...)
		noSecret(t, "dts dev log ("+what+")", secret, logs...)
		noSecret(t, "store file outside the credentials ("+what+")", secret, outside...)
	}
	t.Logf("done after %s", time.Since(start).Round(time.Millisecond))
}

func set(b *bool) bool { return b != nil && *b }

// keyBody is the first line of a PEM block's base64 body: what a leak of the key would hold
// however it was reformatted.
func keyBody(pemText string) string {
	lines := strings.Split(pemText, "\n")
	if len(lines) < 2 {
		return pemText
	}
	return lines[1]
}

// boltContents reads a dts dev store file: every key and value outside the credentials bucket,
// and the credentials bucket's values.
func boltContents(t *testing.T, path string) (outside []string, creds string) {
	t.Helper()
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{ReadOnly: true, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatalf("open %s: %v", path, err)
	}
	defer db.Close()
	var cb strings.Builder
	err = db.View(func(tx *bbolt.Tx) error {
		return tx.ForEach(func(name []byte, b *bbolt.Bucket) error {
			return walkBucket(b, func(k, v []byte) {
				if string(name) == "credentials" {
					cb.Write(v)
					return
				}
				outside = append(outside, string(name)+"/"+string(k)+"="+string(v))
			})
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(outside) == 0 {
		t.Fatalf("%s holds nothing outside its credentials", path)
	}
	return outside, cb.String()
}

func walkBucket(b *bbolt.Bucket, f func(k, v []byte)) error {
	return b.ForEach(func(k, v []byte) error {
		if v == nil {
			if nb := b.Bucket(k); nb != nil {
				return walkBucket(nb, f)
			}
		}
		f(k, v)
		return nil
	})
}
