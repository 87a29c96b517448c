package worker

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/go-mysql-org/go-mysql/client"

	"github.com/dtsrepl/dts/worker/binlog"
	"github.com/dtsrepl/dts/worker/track"
)

// headroom is how long the source keeps the binlog at the checkpoint still.
type headroom struct {
	seconds float64 // retention minus the checkpoint's age
	warning string  // set when it is short
}

// retention reads the source's binlog retention every RetentionCheckInterval and publishes how long the
// binlog at the checkpoint will still be there: the retention minus the age of the checkpoint
// (the file holding a transaction is written at or after its commit, and purged no sooner than
// the retention after that). With an unfinished copy, the age is the copy's: the binlog from
// the position taken before it must outlive it. A short headroom is a warning in the status
// before the rows are gone, not a failure after.
func (p *pipeline) retention(ctx context.Context, d binlog.Dialer, tracker *track.Tracker[Checkpoint], out *atomic.Pointer[headroom]) error {
	var conn *client.Conn
	defer func() {
		if conn != nil {
			conn.Close()
		}
	}()
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			t.Reset(p.cfg.RetentionCheckInterval)
		}
		if conn == nil {
			c, err := d.Connect(ctx)
			if err != nil {
				p.log.Warn("read the source's binlog retention", "err", err)
				continue
			}
			conn = c
		}
		keep, err := binlog.Retention(conn)
		if err != nil {
			p.log.Warn("read the source's binlog retention", "err", err)
			conn.Close()
			conn = nil
			continue
		}
		if keep <= 0 {
			out.Store(nil) // nothing purges by age
			p.metrics.headroom.Set(-1)
			continue
		}
		c, _ := tracker.Checkpoint()
		since := c.TxnTime
		if c.copying() {
			since = c.Copy.Started
		}
		if since.IsZero() {
			continue
		}
		h := &headroom{seconds: (keep - time.Since(since)).Seconds()}
		if h.seconds < p.cfg.RetentionWarnShare*keep.Seconds() {
			h.warning = fmt.Sprintf("warning: the source purges its binlog after %s and the checkpoint is %s old: about %s before rows this task has not sent are gone; speed the task up (rate_limit) or keep the binlog longer (binlog_expire_logs_seconds)",
				keep.Round(time.Minute), time.Since(since).Round(time.Second), time.Duration(max(h.seconds, 0)*float64(time.Second)).Round(time.Second))
		}
		out.Store(h)
		p.metrics.headroom.Set(h.seconds)
	}
}
