package worker

import (
	"context"
	"fmt"
	"math"
	"sync/atomic"
	"time"

	"github.com/go-mysql-org/go-mysql/client"

	"github.com/dtsrepl/dts/api"
	"github.com/dtsrepl/dts/worker/binlog"
	"github.com/dtsrepl/dts/worker/track"
)

// headroom is what the last read of the source's binlog retention found.
type headroom struct {
	keep    time.Duration // the retention; 0: the source purges by no age
	warning string        // set when the headroom is short
}

// warnShare is the task's retention_warn_share, which an alter changes while the pipeline runs
// (like the rate limit, without restarting it).
type warnShare struct{ bits atomic.Uint64 }

func (s *warnShare) set(spec *api.TaskSpec) {
	s.bits.Store(math.Float64bits(spec.EffectiveRetentionWarnShare()))
}

func (s *warnShare) get() float64 { return math.Float64frombits(s.bits.Load()) }

// retention reads the source's binlog retention every RetentionCheckInterval and publishes it,
// with a warning when the headroom at the checkpoint (the retention minus the checkpoint's age,
// api.Status.RetentionHeadroom) is under the task's retention_warn_share of it. With an
// unfinished copy, the age is the copy's: the binlog from the position taken before it must
// outlive it. A short headroom is a warning in the status before the rows are gone, not a
// failure after.
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
			out.Store(&headroom{}) // nothing purges by age
			p.metrics.headroom.Set(-1)
			continue
		}
		c, _ := tracker.Checkpoint()
		since := c.TxnTime
		if c.copying() {
			since = c.Copy.Started
		}
		h := &headroom{keep: keep}
		if !since.IsZero() {
			age := time.Since(since)
			left := keep - age
			if left.Seconds() < p.share.get()*keep.Seconds() {
				h.warning = fmt.Sprintf("warning: the source purges its binlog after %s and the checkpoint is %s old: about %s before rows this task has not sent are gone; speed the task up (rate_limit) or keep the binlog longer (binlog_expire_logs_seconds)",
					keep.Round(time.Minute), age.Round(time.Second), max(left, 0).Round(time.Second))
			}
			p.metrics.headroom.Set(left.Seconds())
		}
		out.Store(h)
	}
}
