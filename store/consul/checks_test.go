package consul_test

import (
	"testing"

	"github.com/dtsrepl/dts/internal/testenv"
	"github.com/dtsrepl/dts/store/consul"
	"github.com/dtsrepl/dts/store/storetest"
	"github.com/dtsrepl/dts/worker"
)

func TestChecks(t *testing.T) {
	c := testenv.StartConsul(t)
	storetest.TestChecks(t, func(t *testing.T) storetest.Backend {
		e := newEnv(t, c)
		s := consul.New(e.client(t), e.prefix)
		return storetest.Backend{
			Store: s,
			Other: consul.New(e.client(t), e.prefix),
			TaskRecord: func(id int64, name string) worker.TaskRecord {
				return e.record(t, s, id, name)
			},
			BreakLock: func(t *testing.T, id int64) { e.destroyHolder(t, id) },
		}
	})
}
