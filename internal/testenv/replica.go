package testenv

import (
	"context"
	"log/slog"
	"sync"
	"testing"

	"github.com/go-mysql-org/go-mysql/mysql"
	"github.com/go-mysql-org/go-mysql/replication"
)

// Replica is another reader of a server's binlog, registered as a replica with a server id
// and a host name, as a production replica would be.
type Replica struct {
	syncer *replication.BinlogSyncer
	cancel context.CancelFunc
	done   chan struct{}

	mu  sync.Mutex
	err error
}

// StartReplica registers a replica of m with serverID and host, streaming from m's current
// position until Close (also called in t.Cleanup).
func StartReplica(t testing.TB, m *MariaDB, serverID uint32, host string) *Replica {
	t.Helper()
	r := m.Query(t, "SELECT @@gtid_binlog_pos")
	pos, _ := r.GetString(0, 0)
	set, err := mysql.ParseMariadbGTIDSet(pos)
	if err != nil {
		t.Fatalf("parse gtid_binlog_pos %q: %v", pos, err)
	}
	syncer := replication.NewBinlogSyncer(replication.BinlogSyncerConfig{
		ServerID: serverID, Flavor: mysql.MariaDBFlavor, Host: m.Host, Port: uint16(m.Port),
		User: m.User, Password: m.Password, Localhost: host, DisableRetrySync: true,
		Logger: slog.New(slog.DiscardHandler),
	})
	streamer, err := syncer.StartSyncGTID(set)
	if err != nil {
		syncer.Close()
		t.Fatalf("start replica %d: %v", serverID, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	rep := &Replica{syncer: syncer, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(rep.done)
		for {
			if _, err := streamer.GetEvent(ctx); err != nil {
				if ctx.Err() == nil {
					rep.mu.Lock()
					rep.err = err
					rep.mu.Unlock()
				}
				return
			}
		}
	}()
	t.Cleanup(rep.Close)
	return rep
}

// Alive reports whether the replica still streams (the server has not dropped it).
func (r *Replica) Alive() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.err == nil
}

// Close stops the replica.
func (r *Replica) Close() {
	r.cancel()
	<-r.done
	r.syncer.Close()
}
