package e2e

import (
	"context"
	"errors"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/dtsrepl/dts/internal/testenv"
)

// TestUsageErrors: configurations that would expose a secret are refused at start, with exit
// status 2 and a message that says why and what to set. Nothing here reaches a server.
func TestUsageErrors(t *testing.T) {
	t.Parallel()
	bin := testenv.Build(t, "./cmd/dts")
	for _, tc := range []struct {
		name string
		args []string
		env  []string
		msg  string
	}{
		{"dev: default account without allow-list", []string{"dev", "--source-user", "repl", "--source-password", "pw"}, nil,
			"--source-user is set but --source-allow is empty"},
		{"dev: default account from the environment", []string{"dev"}, []string{"DTS_SOURCE_USER=repl", "DTS_SOURCE_PASSWORD=pw"},
			"--source-allow (DTS_SOURCE_ALLOW)"},
		{"dispatcher: default account without allow-list", []string{"dispatcher", "--auth-user", "a", "--auth-password", "b", "--source-user", "repl"}, nil,
			"--source-user is set but --source-allow is empty"},
		{"dispatcher: a wildcard", []string{"dispatcher", "--auth-user", "a", "--auth-password", "b", "--source-user", "repl", "--source-allow", "*"}, nil,
			"--source-allow: \"*\": wildcards are not supported"},
		{"dev: a bad network", []string{"dev", "--source-user", "repl", "--source-allow", "10.0.0.0/40"}, nil,
			"--source-allow: \"10.0.0.0/40\" is not a network"},
		// 192.0.2.1 (TEST-NET-1) is on no interface here: should the check be missing, listening
		// fails instead of exposing anything.
		{"dev: seed credentials beyond loopback", []string{"dev", "--listen", "192.0.2.1:0"}, nil,
			"dts dev uses the seed's public test credentials"},
		{"dev: seed credentials given explicitly", []string{"dev", "--listen", "192.0.2.1:0"}, []string{"DTS_AUTH_USER=replicator", "DTS_AUTH_PASSWORD=dtsfor3.1415926"},
			"set --auth-user and --auth-password"},
		{"dev: no auth beyond loopback", []string{"dev", "--listen", "192.0.2.1:0", "--auth-user", ""}, nil,
			"set --auth-user and --auth-password"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			cmd := exec.CommandContext(ctx, bin, append(tc.args, "--data-dir", t.TempDir())...)
			if tc.args[0] == "dispatcher" {
				cmd = exec.CommandContext(ctx, bin, tc.args...)
			}
			cmd.Env = childEnv(tc.env...)
			out, err := cmd.CombinedOutput()
			var exit *exec.ExitError
			if !errors.As(err, &exit) || exit.ExitCode() != 2 {
				t.Fatalf("exit %v, want status 2: %s", err, out)
			}
			if !strings.Contains(string(out), tc.msg) {
				t.Errorf("output %q does not say %q", out, tc.msg)
			}
		})
	}
}

// TestDevListenWithOwnCredentials: with credentials of its own, dts dev may listen beyond
// loopback; here the address exists on no interface, so it gets as far as listening and fails
// there.
func TestDevListenWithOwnCredentials(t *testing.T) {
	t.Parallel()
	bin := testenv.Build(t, "./cmd/dts")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "dev", "--listen", "192.0.2.1:0", "--auth-user", "ops", "--auth-password", "a-long-secret", "--data-dir", t.TempDir())
	cmd.Env = childEnv()
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 || !strings.Contains(string(out), "listen on 192.0.2.1:0") {
		t.Fatalf("exit %v: %s; want the listen itself to fail", err, out)
	}
}
