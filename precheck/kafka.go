package precheck

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/dtsrepl/dts/api"
	"github.com/dtsrepl/dts/worker/produce"
)

// topics lists the topics the task writes: the matched tables' topics, or kafka.topic when the
// tables are not known and everything goes there.
func (r *run) topics() []string {
	seen := map[string]bool{}
	var out []string
	for _, t := range r.tables {
		if t.check.Topic != "" && !seen[t.check.Topic] {
			seen[t.check.Topic] = true
			out = append(out, t.check.Topic)
		}
	}
	if len(out) == 0 {
		if _, ok := r.spec.Kafka.TopicModeValue(); !ok && r.spec.Kafka.Topic != "" {
			out = append(out, r.spec.Kafka.Topic)
		}
	}
	slices.Sort(out)
	return out
}

// kafkaChecks reaches the cluster the way the worker's producer does and checks the topics and
// message sizes.
func (r *run) kafkaChecks(ctx context.Context) {
	cfg, err := KafkaConfig(r.spec, r.in.Creds, r.in.TaskID)
	if err != nil {
		r.add("kafka.credentials", api.CheckFail, "the Kafka settings are complete", err.Error(), "give the missing Kafka setting")
		return
	}
	addr := r.spec.Kafka.Addr
	topics := r.topics()
	cctx, cancel := context.WithTimeout(ctx, r.step())
	defer cancel()
	info, err := produce.Check(cctx, cfg, topics)
	switch {
	case err != nil && IsUnreachable(err):
		r.unreachable("kafka.reachable", "Kafka answers", fmt.Sprintf("%s cannot be reached from the dispatcher: %v", addr, err),
			"check kafka.addr, and that the brokers accept connections from the dispatcher's and the workers' hosts; the topic checks did not run")
		return
	case err != nil:
		r.add("kafka.reachable", api.CheckFail, "Kafka answers", fmt.Sprintf("%s: %v", addr, err), "check kafka.addr, kafka.tls and kafka.sasl")
		return
	}
	r.kafka = info
	how := []string{}
	if cfg.TLS != nil {
		how = append(how, "TLS")
	}
	if cfg.SASL != nil {
		how = append(how, "SASL "+cfg.SASL.Mechanism)
	}
	detail := fmt.Sprintf("%s answers: %s", addr, plural(len(info.Brokers), "broker"))
	if len(how) > 0 {
		detail += ", over " + strings.Join(how, " and ")
	}
	if info.MessageMaxBytes > 0 {
		detail += fmt.Sprintf(", message.max.bytes %d", info.MessageMaxBytes)
	}
	detail += fmt.Sprintf(", transactions %s", map[bool]string{true: "supported", false: "not supported"}[info.Transactions])
	r.add("kafka.reachable", api.CheckPass, "Kafka answers", detail, "")

	var exist, created []string
	for _, t := range topics {
		ti, ok := info.Topics[t]
		if ok {
			exist = append(exist, fmt.Sprintf("%s (%s)", t, plural(ti.Partitions, "partition")))
			continue
		}
		created = append(created, t)
	}
	for _, t := range r.tables {
		if ti, ok := info.Topics[t.check.Topic]; ok {
			t.check.Partitions = ti.Partitions
		}
	}
	switch {
	case len(topics) == 0:
		// topic_mode with no matched table: nothing to name yet.
	case len(created) == 0:
		r.add("kafka.topics", api.CheckPass, "the topics exist", strings.Join(exist, ", "), "")
	case info.AutoCreateTopics != nil && !*info.AutoCreateTopics:
		r.add("kafka.topics", api.CheckFail, "the topics exist", "missing: "+list(created, 20)+"; the brokers do not create topics (auto.create.topics.enable=false)", "create the topics (with the partitions the task's partitioning needs)")
	case info.AutoCreateTopics != nil:
		parts := ""
		if info.DefaultPartitions > 0 {
			parts = fmt.Sprintf(" with %s (num.partitions)", plural(info.DefaultPartitions, "partition"))
		}
		r.add("kafka.topics", api.CheckPass, "the topics exist", "to be created on the first message"+parts+": "+list(created, 20), "")
	default:
		r.add("kafka.topics", api.CheckWarn, "the topics exist", "missing: "+list(created, 20)+"; they are created on the first message only if the brokers allow it (auto.create.topics.enable could not be read)", "create the topics, or make sure the brokers create them")
	}
	r.messageSizes()
}

// messageSizes compares each table's widest message with what its topic accepts.
func (r *run) messageSizes() {
	if len(r.tables) == 0 || r.kafka == nil {
		return
	}
	var over []string
	known := false
	for _, t := range r.tables {
		if t.check.WidestMessageBytes == 0 {
			continue
		}
		known = true
		limit := r.kafka.Limit(t.check.Topic)
		if m := r.spec.Kafka.MaxMessageBytes; m > 0 {
			limit = min(limit, m)
		}
		if t.check.WidestMessageBytes > int64(limit) {
			over = append(over, fmt.Sprintf("%s: up to %d bytes (column %s), topic %s accepts %d", t.ref, t.check.WidestMessageBytes, t.widestCol, t.check.Topic, limit))
		}
	}
	switch {
	case !known:
	case len(over) > 0:
		policy := "fail the task"
		if r.spec.Kafka.OversizedRows == api.OversizedSkip {
			policy = "are skipped (kafka.oversized_rows is skip)"
		}
		r.add("kafka.message_size", api.CheckWarn, "the widest rows fit the topics", "by their column definitions, rows of "+list(over, 10)+"; rows that large "+policy,
			"raise max.message.bytes on the topic and kafka.max_message_bytes, or exclude the wide columns (kafka.exclude_columns), if such rows occur")
	default:
		r.add("kafka.message_size", api.CheckPass, "the widest rows fit the topics", "every matched table's widest possible message fits its topic", "")
	}
}
