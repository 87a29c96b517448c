package main

import (
	"fmt"
	"log/slog"
	"runtime/debug"
	"strconv"
)

// The worker's memory budget (--memory-mb) sets how much it may hold. What the process holds
// beside its Go heap (the runtime, goroutine stacks, the program's mapped text) is about 20-30
// MiB whatever the load, so a quarter of the budget, and at least 32 MiB, is kept for it; the
// Go runtime's soft limit is the rest, a third of which bounds the messages sent to Kafka and
// not yet acknowledged, with a garbage collector that waits for the heap to grow five times
// over its live size. Collections then
// happen when the budget is mostly used, not every time the heap doubles: a worker spends less
// of its CPU collecting (see README, Performance), and its memory stays within the budget.
// GOGC and GOMEMLIMIT, when set, are the operator's and stay.

// DefaultMemoryMB is the worker's default memory budget outside Nomad.
const DefaultMemoryMB = 128

// defaultMemoryMB is the budget a worker takes without --memory-mb: under Nomad, what its
// allocation may use (NOMAD_MEMORY_MAX_LIMIT, which Nomad sets when memory oversubscription
// lets the task go above its reservation, else NOMAD_MEMORY_LIMIT, the reservation, which the
// exec and docker drivers enforce); elsewhere DefaultMemoryMB.
func defaultMemoryMB(getenv func(string) string) int64 {
	for _, name := range []string{"NOMAD_MEMORY_MAX_LIMIT", "NOMAD_MEMORY_LIMIT"} {
		if mb, err := strconv.ParseInt(getenv(name), 10, 64); err == nil && mb > 0 {
			return mb
		}
	}
	return DefaultMemoryMB
}

// gcPercent is the collector's GOGC under a memory budget: the soft limit, not the heap's
// growth, decides when it runs while the live heap is under a fifth of the budget.
const gcPercent = 400

// nonHeapBytes is the least of the budget kept for what the process holds beside its heap.
const nonHeapBytes = 32 << 20

// minHeapBytes is the least soft limit: below a 48 MiB budget the worker runs slower and its
// memory goes past the budget rather than spending all its time collecting.
const minHeapBytes = 16 << 20

// memoryPlan is what a budget sets.
type memoryPlan struct {
	InFlightBytes int64 // worker.Config.MaxInFlightBytes
	SoftLimit     int64 // debug.SetMemoryLimit; 0: left to GOMEMLIMIT
	GCPercent     int   // debug.SetGCPercent; 0: left to GOGC
	// MaxPacketBytes (worker.Config.MaxPacketBytes) bounds one packet from the source: half
	// the budget, at most 256 MiB. MaxResponseBytes (worker.Config.MaxResponseBytes) bounds
	// one response from a Kafka broker: a quarter of it, at most 32 MiB. No peer can make the
	// worker allocate past its budget.
	MaxPacketBytes, MaxResponseBytes int64
}

// Most a packet from the source and a response from a broker may take of any budget.
const (
	maxPacketBytes   = 256 << 20
	maxResponseBytes = 32 << 20
)

// planMemory derives the plan of a budget of mb MiB; getenv reads GOGC and GOMEMLIMIT.
func planMemory(mb int64, getenv func(string) string) (memoryPlan, error) {
	if mb < 32 {
		return memoryPlan{}, fmt.Errorf("--memory-mb %d: a worker needs at least 32 MiB", mb)
	}
	b := mb << 20
	heap := max(b-max(b/4, nonHeapBytes), minHeapBytes)
	p := memoryPlan{InFlightBytes: heap / 3, MaxPacketBytes: min(b/2, maxPacketBytes), MaxResponseBytes: min(b/4, maxResponseBytes)}
	if getenv("GOMEMLIMIT") == "" {
		p.SoftLimit = heap
	}
	if getenv("GOGC") == "" {
		p.GCPercent = gcPercent
	}
	return p, nil
}

// apply sets the plan's runtime settings.
func (p memoryPlan) apply(log *slog.Logger, mb int64) {
	if p.SoftLimit > 0 {
		debug.SetMemoryLimit(p.SoftLimit)
	}
	if p.GCPercent > 0 {
		debug.SetGCPercent(p.GCPercent)
	}
	log.Debug("memory budget", "mb", mb, "in_flight_bytes", p.InFlightBytes, "soft_limit", p.SoftLimit, "gc_percent", p.GCPercent)
}
