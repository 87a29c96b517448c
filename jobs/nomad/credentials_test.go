package nomad

import (
	"context"
	"testing"
	"time"

	"github.com/dtsrepl/dts/api"
	"github.com/dtsrepl/dts/internal/testenv"
)

// TestCredentials: the dispatcher's checks read a task's account from the Variable its worker
// gets it from; a task without one has none: nil, nil.
func TestCredentials(t *testing.T) {
	consul := testenv.StartConsul(t)
	agent := testenv.StartNomad(t, consul)
	waitVariables(t, agent.Client)
	l, err := New(testConfig(agent.Client, "/bin/true"))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if c, err := l.Credentials(ctx, 7); c != nil || err != nil {
		t.Errorf("credentials of a task without a variable: %+v, %v; want nil, nil", c, err)
	}
	for _, want := range []api.Credentials{
		{Username: "repl", Password: "pw with spaces", KafkaSASLPassword: "sasl pw", KafkaKeyPEM: "-----BEGIN EC PRIVATE KEY-----\nMHc=\n-----END EC PRIVATE KEY-----\n"},
		// Rotated without the Kafka secrets (the task no longer uses them): they are gone.
		{Username: "repl", Password: "pw with spaces"},
	} {
		if err := l.putVariable(ctx, 7, want); err != nil {
			t.Fatal(err)
		}
		got, err := l.Credentials(ctx, 7)
		if err != nil || *got != want {
			t.Errorf("credentials %+v, %v; want %+v", got, err, want)
		}
		v, _, err := agent.Client.Variables().Read(VariablePath(7), nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := v.Items["kafka_sasl_password"]; ok != (want.KafkaSASLPassword != "") {
			t.Errorf("variable items %v for %+v", keys(v.Items), want)
		}
	}
}

func keys(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}
