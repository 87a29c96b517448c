package api

import (
	"strings"
	"testing"
)

func TestTopicName(t *testing.T) {
	long := func(n int, c string) string { return strings.Repeat(c, n) }
	tests := []struct {
		name string
		in   string
		want string // "" means: check only length, legality and the hash suffix
	}{
		{"legal", "shop_orders", "shop_orders"},
		{"all legal characters", "azAZ09._-", "azAZ09._-"},
		{"space", "a b", "a_b"},
		{"punctuation", "a$b#c@d:e/f\\g", "a_b_c_d_e_f_g"},
		{"non-ASCII", "zürich", "z_rich"},
		{"exactly the limit", long(MaxTopicLength, "a"), long(MaxTopicLength, "a")},
		{"one past the limit", long(MaxTopicLength+1, "a"), ""},
		{"far past the limit", long(1000, "x"), ""},
		{"long after sanitizing", long(300, "é"), ""},
		{"short bytes, long in runes replaced", long(200, "é"), "dts" + long(200, "_")},
		{"Kafka's reserved prefix", "__consumer_offsets", "dts__consumer_offsets"},
		{"reserved after sanitizing", "$$x", "dts__x"},
		{"one underscore", "_tmp", "_tmp"},
		{"dots only", "..", "dts__"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := TopicName(tt.in)
			if err := ValidTopic(got); err != nil {
				t.Errorf("TopicName(%q) = %q: %v", tt.in, got, err)
			}
			if len(got) > MaxTopicLength {
				t.Errorf("TopicName(%q) has %d characters, more than %d", tt.in, len(got), MaxTopicLength)
			}
			if tt.want != "" {
				if got != tt.want {
					t.Errorf("TopicName(%q) = %q, want %q", tt.in, got, tt.want)
				}
				return
			}
			if len(got) != MaxTopicLength {
				t.Errorf("TopicName(%q...) has %d characters, want the limit %d", tt.in[:10], len(got), MaxTopicLength)
			}
			if i := strings.LastIndexByte(got, '-'); i != MaxTopicLength-9 {
				t.Errorf("TopicName(%q...) = %q: want a -xxxxxxxx hash suffix", tt.in[:10], got)
			}
			if TopicName(tt.in) != got {
				t.Errorf("TopicName is not deterministic")
			}
		})
	}
}

// TestTopicNameLongUnique: different long inputs must get different topics.
func TestTopicNameLongUnique(t *testing.T) {
	base := strings.Repeat("d", 240) + "_" + strings.Repeat("t", 20)
	tests := []struct {
		name string
		a, b string
	}{
		{"differ in the last character", base + "1", base + "2"},
		{"differ past the cut", base + "_orders_2023", base + "_orders_2024"},
		{"differ in length only", base, base + "t"},
		{"differ early", "a" + base, "b" + base},
		{"one cut, one at the limit", strings.Repeat("a", MaxTopicLength), strings.Repeat("a", MaxTopicLength+1)},
		{"differ only in characters Kafka does not allow", base + "$", base + "#"},
		{"differ only in non-ASCII characters", base + "é", base + "ü"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ta, tb := TopicName(tt.a), TopicName(tt.b)
			if ta == tb {
				t.Errorf("TopicName gives the same topic %q\nfor %q\nand %q", ta, tt.a, tt.b)
			}
		})
	}
}
