// Package bench measures dts: `make bench` runs its TestBench (build tag bench), which builds
// a one-million-row binlog backlog in a throwaway MariaDB and prints, side by side, how fast
// go-mysql alone decodes it, how fast a minimal decode-encode-produce pipeline delivers it,
// and how fast the dts worker delivers it with every feature on, with peak memory; then
// end-to-end latency percentiles at a steady write rate, and the initial copy's rate.
//
// It prints figures and asserts nothing about speed.
package bench
