// Package bench measures dts. `make bench` runs its TestBench (build tag bench), which builds a
// binlog backlog in a throwaway MariaDB, with a Kafka-protocol broker in its own process, and
// prints one table of figures measured in the same run, side by side:
//
//   - go-mysql decoding the backlog and nothing else (the ceiling), and a minimal
//     decode -> JSON -> sarama pipeline (the baseline), both in the test process;
//   - the dts worker, a `dts worker --task-file` process, over the backlog, and at a steady
//     5,000 rows/s with end-to-end latency percentiles;
//   - the initial copy (incr=false) of the backlog's table by a worker process;
//   - go-mysql and the worker again over a second row shape of about 1.2 KB per row.
//
// Rates swing with whatever else the machine runs; the CPU time a phase costs per row swings
// much less, so each phase reports both. CPU time is the user+sys time of the one process doing
// the work: getrusage of the test process around an in-process phase with nothing else running
// in it, /proc/PID/stat of a worker from its start to its last acknowledged row, never wall time
// times cores. The worker is known only by its command line, its /metrics
// (dts_worker_messages_acked_total) and its pid, so the bench keeps working as its insides change.
//
// Environment: BENCH_ROWS sets the backlog's row changes (default 1,000,000; the wide backlog
// has a fifth as many), for quick runs while developing. BENCH_CPUPROFILE=FILE writes a CPU
// profile of the worker's first five seconds over the backlog to FILE, over the wide backlog
// to FILE.wide, and of the initial copy to FILE.copy. BENCH_PHASES=worker,wide (say) runs only
// those of minimal, worker, latency, exactly_once, formats, compression, copy and wide, after
// the decode-only baseline. BENCH_COMPARE=PATH measures the dts binary at PATH (another build)
// over the same backlogs beside this one's, and BENCH_REPEAT=N runs both N times, alternately:
// two builds compared in one run, under the same load.
//
// It prints figures and asserts nothing about speed.
package bench
