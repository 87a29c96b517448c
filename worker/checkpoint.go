package worker

import (
	"time"

	"github.com/dtsrepl/dts/api"
	"github.com/dtsrepl/dts/worker/binlog"
)

// Checkpoint is what Kafka's acknowledgements make durable: resuming from it loses nothing. It is
// a value: the emitter seals one at the end of every transaction and copy chunk, the tracker
// hands back the newest one whose messages (and all before) are acknowledged, and only the fenced
// status write records it.
type Checkpoint struct {
	// Pos is the binlog position after the last wholly acknowledged transaction; while the
	// initial copy runs, the position taken before it.
	Pos binlog.Pos
	// TxnTime is when the source committed the transaction at Pos (zero during the copy).
	TxnTime time.Time
	// Copy is the initial copy's progress; nil for a task that copies nothing. Once Done it
	// stays on every later checkpoint, so a restart never copies again.
	Copy *api.SnapshotProgress
	// Sent counts the messages sent up to here over the task's life: all of them acknowledged.
	Sent uint64
	// JSONColumns is MariaDB's JSON column history at Pos (nil for MySQL): the reader resumes
	// with it, so rows after Pos are typed by the definitions they were written under.
	JSONColumns *binlog.JSONColumns
}

// resumeFrom reads the checkpoint a saved status holds; flavor parses a file:offset position.
func resumeFrom(st *api.Status, flavor string) (Checkpoint, error) {
	pos, err := binlog.ParsePos(st.Pos, flavor)
	if err != nil {
		return Checkpoint{}, err
	}
	c := Checkpoint{Pos: pos, TxnTime: st.TransactionTime, Sent: st.RowsSent, JSONColumns: binlog.LoadJSONColumns(st.JSONColumns)}
	if st.Snapshot != nil {
		cp := *st.Snapshot
		c.Copy = &cp
	}
	return c, nil
}

// copying reports whether the initial copy is unfinished.
func (c Checkpoint) copying() bool { return c.Copy != nil && !c.Copy.Done }
