package worker

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// metrics are one worker's Prometheus metrics, in a registry of its own so several workers can
// run in one process (dts dev).
type metrics struct {
	reg           *prometheus.Registry
	rows          *prometheus.CounterVec
	bytes         prometheus.Counter
	acked         prometheus.Counter
	filtered      prometheus.Counter
	txns          prometheus.Counter
	errors        prometheus.Counter
	lag           prometheus.Gauge
	inflight      prometheus.Gauge
	checkpointTS  prometheus.Gauge
	snapshotRows  prometheus.Counter
	starts        prometheus.Counter
	oversized     prometheus.Counter
	txnsCommitted prometheus.Counter
	limitWait     *prometheus.CounterVec
	headroom      prometheus.Gauge
	tableRows     *prometheus.CounterVec
	tableBytes    *prometheus.CounterVec
	kafkaStalled  prometheus.Gauge
}

func newMetrics() *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		rows: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "dts_worker_rows_total", Help: "Row changes sent to Kafka, by type.",
		}, []string{"type"}),
		bytes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "dts_worker_message_bytes_total", Help: "Bytes of message keys and values sent to Kafka.",
		}),
		acked: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "dts_worker_messages_acked_total", Help: "Messages Kafka acknowledged.",
		}),
		filtered: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "dts_worker_rows_filtered_total", Help: "Row changes of tables in scope dropped by a row filter.",
		}),
		txns: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "dts_worker_transactions_total", Help: "Source transactions read.",
		}),
		errors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "dts_worker_errors_total", Help: "Pipeline failures (each followed by a retry or a Failed state).",
		}),
		lag: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "dts_worker_lag_seconds", Help: "How far the checkpoint is behind the source.",
		}),
		inflight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "dts_worker_inflight_batches", Help: "Transactions or chunks sent and not yet wholly acknowledged.",
		}),
		checkpointTS: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "dts_worker_checkpoint_transaction_timestamp_seconds", Help: "Source commit time of the checkpointed transaction.",
		}),
		snapshotRows: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "dts_worker_snapshot_rows_total", Help: "Rows read by the initial copy.",
		}),
		headroom: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "dts_worker_retention_headroom_seconds", Help: "How long the source keeps the binlog at the checkpoint still (-1: it purges by no age).",
		}),
		tableRows: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "dts_worker_table_changes_total", Help: "Changes processed per table (the first 100 tables; the others under table \"*\"), by type.",
		}, []string{"table", "type"}),
		tableBytes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "dts_worker_table_message_bytes_total", Help: "Bytes of messages sent per table (the first 100 tables; the others under table \"*\").",
		}, []string{"table"}),
		limitWait: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "dts_worker_rate_limit_wait_seconds_total", Help: "Time rows waited for a rate limit's tokens, by limit (task: rate_limit, table: rate_limit.tables).",
		}, []string{"limit"}),
		txnsCommitted: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "dts_worker_kafka_transactions_committed_total", Help: "Kafka transactions committed (exactly-once delivery).",
		}),
		oversized: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "dts_worker_rows_oversized_total", Help: "Rows not sent because their message was larger than the topic accepts (kafka.oversized_rows skip).",
		}),
		kafkaStalled: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "dts_worker_kafka_stalled_seconds", Help: "How long messages have waited for Kafka without any acknowledgement (0: none waiting, or acknowledgements coming).",
		}),
		starts: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "dts_worker_pipeline_starts_total", Help: "Pipeline starts: the first, then one per retry or spec change (a change of rate_limit or retention_warn_share needs none).",
		}),
	}
	m.reg.MustRegister(m.rows, m.bytes, m.acked, m.filtered, m.txns, m.errors, m.lag, m.inflight, m.checkpointTS, m.snapshotRows, m.starts, m.oversized, m.kafkaStalled, m.txnsCommitted, m.limitWait, m.tableRows, m.tableBytes, m.headroom,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// rateLimited counts time a rate limit made rows wait.
func (m *metrics) rateLimited(scope string, d time.Duration) {
	m.limitWait.WithLabelValues(scope).Add(d.Seconds())
}
