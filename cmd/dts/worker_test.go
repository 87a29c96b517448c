package main

import (
	"encoding/base64"
	"strings"
	"testing"

	"github.com/dtsrepl/dts/api"
)

// TestCredentialsFromEnv: the worker reads what a launcher hands it, plain or base64 (as Nomad's
// template writes it). The names are spelt out: they are the contract with the template.
func TestCredentialsFromEnv(t *testing.T) {
	b64 := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
	const key = "-----BEGIN EC PRIVATE KEY-----\nMHcC\n-----END EC PRIVATE KEY-----\n"
	tests := []struct {
		name    string
		env     map[string]string
		want    *api.Credentials
		wantErr string
	}{
		{name: "nothing", want: nil},
		{name: "source account", env: map[string]string{"DTS_SOURCE_USER": "repl", "DTS_SOURCE_PASSWORD": "pw"},
			want: &api.Credentials{Username: "repl", Password: "pw"}},
		{name: "everything in base64", env: map[string]string{
			"DTS_SOURCE_USER_B64": b64("repl"), "DTS_SOURCE_PASSWORD_B64": b64("p=w\n'x"),
			"DTS_KAFKA_SASL_PASSWORD_B64": b64("sasl \"pw\""), "DTS_KAFKA_KEY_PEM_B64": b64(key)},
			want: &api.Credentials{Username: "repl", Password: "p=w\n'x", KafkaSASLPassword: "sasl \"pw\"", KafkaKeyPEM: key}},
		{name: "kafka secrets plain", env: map[string]string{"DTS_SOURCE_USER": "repl", "DTS_KAFKA_SASL_PASSWORD": "sasl", "DTS_KAFKA_KEY_PEM": key},
			want: &api.Credentials{Username: "repl", KafkaSASLPassword: "sasl", KafkaKeyPEM: key}},
		{name: "base64 wins over plain", env: map[string]string{"DTS_KAFKA_SASL_PASSWORD": "plain", "DTS_KAFKA_SASL_PASSWORD_B64": b64("encoded")},
			want: &api.Credentials{KafkaSASLPassword: "encoded"}},
		{name: "only a kafka secret (a task file's own account)", env: map[string]string{"DTS_KAFKA_KEY_PEM_B64": b64(key)},
			want: &api.Credentials{KafkaKeyPEM: key}},
		{name: "bad base64 names the variable", env: map[string]string{"DTS_KAFKA_KEY_PEM_B64": "not base64!"}, wantErr: "DTS_KAFKA_KEY_PEM_B64"},
	}
	all := []string{"DTS_SOURCE_USER", "DTS_SOURCE_PASSWORD", "DTS_KAFKA_SASL_PASSWORD", "DTS_KAFKA_KEY_PEM"}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for _, name := range all {
				t.Setenv(name, "")
				t.Setenv(name+"_B64", "")
			}
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			got, err := credentialsFromEnv()
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want one naming %s", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if (got == nil) != (tc.want == nil) || got != nil && *got != *tc.want {
				t.Errorf("credentials %+v, want %+v", got, tc.want)
			}
		})
	}
}
