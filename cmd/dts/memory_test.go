package main

import "testing"

func TestPlanMemory(t *testing.T) {
	env := func(kv map[string]string) func(string) string { return func(k string) string { return kv[k] } }
	tests := []struct {
		name    string
		mb      int64
		env     map[string]string
		want    memoryPlan
		wantErr bool
	}{
		{"default budget", 128, nil, memoryPlan{InFlightBytes: 32 << 20, SoftLimit: 96 << 20, GCPercent: 400, MaxPacketBytes: 64 << 20, MaxResponseBytes: 32 << 20}, false},
		{"large budget", 1024, nil, memoryPlan{InFlightBytes: 256 << 20, SoftLimit: 768 << 20, GCPercent: 400, MaxPacketBytes: 256 << 20, MaxResponseBytes: 32 << 20}, false},
		{"operator's GOGC stays", 128, map[string]string{"GOGC": "100"}, memoryPlan{InFlightBytes: 32 << 20, SoftLimit: 96 << 20, MaxPacketBytes: 64 << 20, MaxResponseBytes: 32 << 20}, false},
		{"operator's GOMEMLIMIT stays", 128, map[string]string{"GOMEMLIMIT": "1GiB"}, memoryPlan{InFlightBytes: 32 << 20, GCPercent: 400, MaxPacketBytes: 64 << 20, MaxResponseBytes: 32 << 20}, false},
		{"small budget keeps 32 MiB beside the heap", 64, nil, memoryPlan{InFlightBytes: 32 << 20 / 3, SoftLimit: 32 << 20, GCPercent: 400, MaxPacketBytes: 32 << 20, MaxResponseBytes: 16 << 20}, false},
		{"smallest budget", 48, nil, memoryPlan{InFlightBytes: 16 << 20 / 3, SoftLimit: 16 << 20, GCPercent: 400, MaxPacketBytes: 24 << 20, MaxResponseBytes: 12 << 20}, false},
		{"below 48 MiB the heap keeps 16 MiB", 32, nil, memoryPlan{InFlightBytes: 16 << 20 / 3, SoftLimit: 16 << 20, GCPercent: 400, MaxPacketBytes: 16 << 20, MaxResponseBytes: 8 << 20}, false},
		{"too small", 31, nil, memoryPlan{}, true},
	}
	for _, tt := range tests {
		got, err := planMemory(tt.mb, env(tt.env))
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("%s: planMemory(%d) = %+v, %v; want %+v (error %v)", tt.name, tt.mb, got, err, tt.want, tt.wantErr)
		}
	}
}

func TestDefaultMemoryMB(t *testing.T) {
	tests := []struct {
		env  map[string]string
		want int64
	}{
		{nil, DefaultMemoryMB},
		{map[string]string{"NOMAD_MEMORY_LIMIT": "64"}, 64},
		{map[string]string{"NOMAD_MEMORY_LIMIT": "64", "NOMAD_MEMORY_MAX_LIMIT": "512"}, 512},
		{map[string]string{"NOMAD_MEMORY_LIMIT": "64", "NOMAD_MEMORY_MAX_LIMIT": "0"}, 64},
		{map[string]string{"NOMAD_MEMORY_LIMIT": "junk"}, DefaultMemoryMB},
	}
	for _, tt := range tests {
		if got := defaultMemoryMB(func(k string) string { return tt.env[k] }); got != tt.want {
			t.Errorf("defaultMemoryMB(%v) = %d, want %d", tt.env, got, tt.want)
		}
	}
}
