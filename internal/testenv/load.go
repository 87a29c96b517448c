package testenv

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand"
	"sync"
	"testing"
	"time"

	"github.com/go-mysql-org/go-mysql/mysql"
)

// Load writes single-row transactions and small multi-row ones to t.kv, a table the test creates
// as (id INT PRIMARY KEY, seq INT, pad VARCHAR(200)): a new key is inserted with seq 0, an
// existing key gets seq+1. It keeps the expected final seq of every key, so that Verify can check
// what a task delivered of it.
type Load struct {
	// Pause, if set, is slept between transactions (a steady rate instead of a flood).
	Pause time.Duration

	db   MySQLServer
	mu   sync.Mutex
	want map[int]int
	// overwritten holds, per key, the seqs a later statement of the same transaction replaced.
	overwritten map[int]map[int]bool
}

// NewLoad is a load on db's t.kv.
func NewLoad(db MySQLServer) *Load {
	return &Load{db: db, want: map[int]int{}, overwritten: map[int]map[int]bool{}}
}

// Run writes transactions on keys 0..keys-1, chosen by a random source seeded with seed, until
// ctx ends.
func (l *Load) Run(t testing.TB, ctx context.Context, keys int, seed int64) error {
	c := l.db.Conn(t)
	rnd := rand.New(rand.NewSource(seed))
	for ctx.Err() == nil {
		n := 1
		if rnd.Intn(10) == 0 {
			n = 2 + rnd.Intn(5)
		}
		if n > 1 {
			if _, err := c.Execute("BEGIN"); err != nil {
				return err
			}
		}
		l.mu.Lock()
		inTxn := map[int]bool{}
		for range n {
			k := rnd.Intn(keys)
			if s, ok := l.want[k]; ok && inTxn[k] {
				if l.overwritten[k] == nil {
					l.overwritten[k] = map[int]bool{}
				}
				l.overwritten[k][s] = true
			}
			inTxn[k] = true
			if s, ok := l.want[k]; ok {
				if _, err := c.Execute(fmt.Sprintf("UPDATE t.kv SET seq = %d WHERE id = %d", s+1, k)); err != nil {
					l.mu.Unlock()
					return err
				}
				l.want[k] = s + 1
			} else {
				if _, err := c.Execute(fmt.Sprintf("INSERT INTO t.kv VALUES (%d, 0, REPEAT('x', 100))", k)); err != nil {
					l.mu.Unlock()
					return err
				}
				l.want[k] = 0
			}
		}
		l.mu.Unlock()
		if n > 1 {
			if _, err := c.Execute("COMMIT"); err != nil {
				return err
			}
		}
		if l.Pause > 0 {
			time.Sleep(l.Pause)
		}
	}
	return nil
}

// Verify reads the topic and checks at-least-once, in-order delivery per key: every seq of
// every key was delivered, per key the seqs never jump forward (a replay after a restart may go
// back), and the last one is the key's final value. It returns the messages read and how many
// of them repeat a row version.
func (l *Load) Verify(t testing.TB, kafka *Kafka, topic string) (msgs, dups int) {
	t.Helper()
	return l.check(t, kafka.Read(t, topic))
}

// VerifyCommitted is Verify for what a read_committed consumer sees.
func (l *Load) VerifyCommitted(t testing.TB, kafka *Kafka, topic string) (msgs, dups int) {
	t.Helper()
	return l.check(t, kafka.ReadCommitted(t, topic))
}

func (l *Load) check(t testing.TB, recs []Record) (msgs, dups int) {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	seqs := map[int][]int{}
	for _, r := range recs {
		var m struct {
			Data struct {
				ID  int `json:"id"`
				Seq int `json:"seq"`
			} `json:"data"`
		}
		if err := json.Unmarshal(r.Value, &m); err != nil {
			t.Fatalf("%v: %s", err, r.Value)
		}
		seqs[m.Data.ID] = append(seqs[m.Data.ID], m.Data.Seq)
		msgs++
	}
	for k, final := range l.want {
		s := seqs[k]
		if len(s) == 0 {
			t.Errorf("key %d: no message, want seq 0..%d", k, final)
			continue
		}
		// Dolt writes its binlog from the difference a commit makes, so a version a later statement
		// of the same transaction replaced is never logged (MySQL and MariaDB log every statement):
		// only there may such a version be absent.
		skip := map[int]bool{}
		if l.db.Flavor() == mysql.MySQLFlavor {
			skip = l.overwritten[k]
		}
		next := func(v int) int {
			for v++; skip[v]; v++ {
			}
			return v
		}
		seen := map[int]bool{}
		for i, v := range s {
			seen[v] = true
			if i > 0 && v > next(s[i-1]) {
				t.Errorf("key %d: seq jumps from %d to %d: %v", k, s[i-1], v, s)
				break
			}
		}
		for v := 0; v <= final; v++ {
			if !seen[v] && !skip[v] {
				t.Errorf("key %d: seq %d never delivered: %v", k, v, s)
				break
			}
		}
		if s[len(s)-1] != final {
			t.Errorf("key %d: last delivered seq %d, final %d", k, s[len(s)-1], final)
		}
		dups += len(s) - (final + 1 - len(skip))
	}
	return msgs, dups
}

// Total is the number of row changes written so far.
func (l *Load) Total() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, s := range l.want {
		n += s + 1
	}
	return n
}
