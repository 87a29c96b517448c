package formattest

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dtsrepl/dts/worker/change"
	"github.com/dtsrepl/dts/worker/encode"
)

var update = flag.Bool("update", false, "rewrite the golden files of the format tests with what the formats write now")

// Encoder is what a format test runs: the format's Encode.
type Encoder func(ev *change.Event, key []byte, send func(key, value []byte) error) error

// Messages encodes ev as the emitter would, with ev's dts key, and returns its messages as
// "key <key>\nvalue <value>\n" lines (a nil key or value is written as null).
func Messages(t testing.TB, enc *encode.Encoder, f Encoder, ev *change.Event) string {
	t.Helper()
	key, ok := enc.Key(nil, ev)
	if !ok {
		key = nil
	}
	var b strings.Builder
	err := f(ev, key, func(k, v []byte) error {
		for _, part := range []struct {
			name string
			b    []byte
		}{{"key", k}, {"value", v}} {
			b.WriteString(part.name)
			b.WriteByte(' ')
			if part.b == nil {
				b.WriteString("null")
			} else {
				b.Write(part.b)
			}
			b.WriteByte('\n')
		}
		return nil
	})
	if err != nil {
		t.Fatalf("%v: %v", ev.Kind, err)
	}
	return b.String()
}

// Golden compares got with testdata/name.golden, or rewrites the file with go test -update.
// Every key and value that looks like JSON must be valid JSON.
func Golden(t *testing.T, name, got string) {
	t.Helper()
	for _, line := range strings.Split(strings.TrimSpace(got), "\n") {
		_, v, _ := strings.Cut(line, " ")
		if strings.HasPrefix(v, "{") && !json.Valid([]byte(v)) {
			t.Errorf("%s: not valid JSON: %s", name, v)
		}
	}
	path := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (go test -update writes it)", err)
	}
	if got != string(want) {
		t.Errorf("%s:\n got %s\nwant %s", name, got, want)
	}
}
