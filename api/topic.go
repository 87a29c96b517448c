package api

import (
	"fmt"
	"hash/fnv"
	"strings"
)

// MaxTopicLength is Kafka's limit on topic names.
const MaxTopicLength = 249

// reservedTopicPrefix starts Kafka's internal topics (__consumer_offsets, __transaction_state).
const reservedTopicPrefix = "__"

// ValidTopic reports whether name is a legal Kafka topic name that a task may write to. Names
// starting with "__" are Kafka's own (__consumer_offsets, __transaction_state): writing rows
// there would corrupt the cluster's bookkeeping.
func ValidTopic(name string) error {
	if name == "" || name == "." || name == ".." {
		return fmt.Errorf("%q is not a valid topic name", name)
	}
	if len(name) > MaxTopicLength {
		return fmt.Errorf("topic name is longer than %d characters", MaxTopicLength)
	}
	for _, r := range name {
		if !topicChar(r) {
			return fmt.Errorf("topic %q has %q: only letters, digits, '.', '_' and '-' are allowed", name, r)
		}
	}
	if strings.HasPrefix(name, reservedTopicPrefix) {
		return fmt.Errorf("%q starts with %q, which Kafka reserves for its internal topics", name, reservedTopicPrefix)
	}
	return nil
}

// TopicName makes a topic name that ValidTopic accepts from database and table names (the
// topic_mode topics): characters Kafka does not allow become '_', a name that would start with
// Kafka's reserved "__" is prefixed with "dts", and names past Kafka's limit are cut with a hash
// of the original so they stay unique.
func TopicName(s string) string {
	orig := s
	if strings.IndexFunc(s, func(c rune) bool { return !topicChar(c) }) >= 0 {
		var b strings.Builder
		for _, c := range s {
			if topicChar(c) {
				b.WriteRune(c)
			} else {
				b.WriteByte('_')
			}
		}
		s = b.String()
	}
	switch s {
	case "", ".", "..":
		s = "dts" + strings.ReplaceAll(s, ".", "_")
	}
	if strings.HasPrefix(s, reservedTopicPrefix) {
		s = "dts" + s
	}
	if len(s) > MaxTopicLength {
		h := fnv.New32a()
		h.Write([]byte(orig))
		suffix := fmt.Sprintf("-%08x", h.Sum32())
		s = s[:MaxTopicLength-len(suffix)] + suffix
	}
	return s
}

func topicChar(c rune) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-'
}
