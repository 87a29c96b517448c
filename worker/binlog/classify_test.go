package binlog

import (
	"errors"
	"fmt"
	"testing"

	"github.com/go-mysql-org/go-mysql/mysql"
)

// TestClassifyDumpErrors: the server's error 1236 covers every reason a binlog dump stops; only
// the purged binlog may be reported as such.
func TestClassifyDumpErrors(t *testing.T) {
	tests := []struct {
		msg  string
		want error // nil: a transient error, retried
	}{
		{"Could not find first log file name in binary log index file", ErrPurged},
		{"The slave is connecting using CHANGE MASTER TO MASTER_AUTO_POSITION = 1, but the master has purged binary logs containing GTIDs that the slave requires.", ErrPurged},
		{"Could not find GTID state requested by slave in any binlog files. Probably the slave state is too old and required binlog files have been purged.", ErrPurged},
		{"A slave with the same server_uuid/server_id as this slave has connected to the master; the first event 'mysql-bin.000001' at 4", ErrServerIDInUse},
		{"log event entry exceeded max_allowed_packet; Increase max_allowed_packet on master", ErrUnsupported},
		{"Error: connecting slave requested to start from GTID 0-1-900, which is not in the master's binlog", ErrBadPosition},
		{"binlog truncated in the middle of event; consider out of disk space on master", nil},
		{"bogus data in log event", nil},
	}
	for _, tt := range tests {
		err := classify(fmt.Errorf("read binlog: %w", &mysql.MyError{Code: mysql.ER_MASTER_FATAL_ERROR_READING_BINLOG, Message: tt.msg}))
		for _, sentinel := range []error{ErrPurged, ErrServerIDInUse, ErrUnsupported, ErrBadPosition} {
			if got := errors.Is(err, sentinel); got != (sentinel == tt.want) {
				t.Errorf("%q: errors.Is(%v) = %v, want %v (%v)", tt.msg, sentinel, got, !got, err)
			}
		}
	}
}
