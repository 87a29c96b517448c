package worker

import (
	"strings"
	"testing"
	"time"

	"github.com/dtsrepl/dts/store/bolt"
)

func TestConfigValidate(t *testing.T) {
	db, err := bolt.Open(t.TempDir() + "/dts.db")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rec := db.TaskRecord(1, "w")
	tests := []struct {
		name string
		cfg  Config
		want string // "" for valid
	}{
		{"defaults", Config{Record: rec}, ""},
		{"no record", Config{}, "a Record is required"},
		{"retry bounds crossed", Config{Record: rec, RetryMin: time.Minute, RetryMax: time.Second}, "RetryMax 1s is below RetryMin 1m0s"},
		{"heartbeat faster than status", Config{Record: rec, StatusInterval: 5 * time.Second, HeartbeatInterval: time.Second}, "HeartbeatInterval"},
		{"negative packet bound", Config{Record: rec, MaxPacketBytes: -1}, "MaxPacketBytes -1 or MaxResponseBytes 0 is negative"},
	}
	for _, tt := range tests {
		c := tt.cfg
		c.applyDefaults()
		err := c.Validate()
		if tt.want == "" && err != nil || tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)) {
			t.Errorf("%s: Validate() = %v, want %q", tt.name, err, tt.want)
		}
	}
}
