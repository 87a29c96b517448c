package bolt

import (
	"context"
	"testing"

	"github.com/dtsrepl/dts/store/storetest"
	"github.com/dtsrepl/dts/worker"
)

func TestChecks(t *testing.T) {
	storetest.TestChecks(t, func(t *testing.T) storetest.Backend {
		d, _ := open(t)
		return storetest.Backend{
			Store: d,
			Other: d,
			TaskRecord: func(id int64, name string) worker.TaskRecord {
				c := d.TaskRecord(id, name)
				t.Cleanup(func() { _ = c.Unlock(context.Background()) })
				return c
			},
			BreakLock: d.breakLock,
		}
	})
}
