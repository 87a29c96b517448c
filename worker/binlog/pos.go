// Package binlog reads a MySQL or MariaDB binlog with go-mysql and turns it into the worker's
// row changes, grouped by transaction, each transaction carrying the position after it.
//
// It uses go-mysql's replication package directly, not its canal package, for three reasons:
//   - Column names and types come from the binlog's own row metadata (binlog_row_metadata=FULL)
//     where the server logs it, so a schema change later in the backlog can never shift a row's
//     columns; canal takes them from its own schema tracking, which describes tables as they are
//     now.
//   - Rows of tables out of scope are not decoded at all (RowsEventDecodeFunc decodes only the
//     header and skips the data): for a task that streams a few tables of a busy server that is
//     most of the decoding work, which canal always does.
//   - The reader decides where a transaction ends and which position follows it, and the worker
//     checkpoints only positions Kafka has acknowledged; canal keeps its own position and its
//     handler interface is wide and library-owned.
//
// Connections to the source go through a guard (wire.go) that refuses authentication methods
// revealing the password on plain connections, checks the peer is a MySQL server, bounds
// packet sizes and deadlines, and makes every call honour its context.
package binlog

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/go-mysql-org/go-mysql/mysql"
)

// Flavor prefixes of a GTID position, as the task list shows them.
const (
	mysqlPrefix   = "MySQL56/"
	mariadbPrefix = "MariaDB/"
)

// Pos is a resumable binlog position: a GTID set where the source has GTIDs, else a file and
// offset. The zero Pos means "no position".
type Pos struct {
	// Flavor is mysql.MySQLFlavor or mysql.MariaDBFlavor.
	Flavor string
	// GTID is the set of transactions already delivered; nil in file mode.
	GTID mysql.GTIDSet
	// File and Offset locate the next event in file mode (and are informative in GTID mode).
	File   string
	Offset uint32
}

// IsZero reports whether p is the zero Pos.
func (p Pos) IsZero() bool { return p.GTID == nil && p.File == "" }

// String is the form stored in the status and shown in the list: "MariaDB/0-1-123",
// "MySQL56/<uuid>:1-100" or "mysql-bin.000003:4567".
func (p Pos) String() string {
	switch {
	case p.GTID != nil && p.Flavor == mysql.MariaDBFlavor:
		return mariadbPrefix + p.GTID.String()
	case p.GTID != nil:
		return mysqlPrefix + p.GTID.String()
	case p.File != "":
		return p.File + ":" + strconv.FormatUint(uint64(p.Offset), 10)
	}
	return ""
}

// Clone returns a copy that shares nothing mutable with p.
func (p Pos) Clone() Pos {
	if p.GTID != nil {
		p.GTID = p.GTID.Clone()
	}
	return p
}

// ParsePos parses what String writes. flavor is used for the file:offset form.
func ParsePos(s, flavor string) (Pos, error) {
	switch {
	case s == "":
		return Pos{}, nil
	case strings.HasPrefix(s, mariadbPrefix):
		set, err := mysql.ParseMariadbGTIDSet(strings.TrimPrefix(s, mariadbPrefix))
		if err != nil {
			return Pos{}, fmt.Errorf("%w: MariaDB GTID position %q: %w", ErrBadPosition, s, err)
		}
		return Pos{Flavor: mysql.MariaDBFlavor, GTID: set}, nil
	case strings.HasPrefix(s, mysqlPrefix):
		set, err := mysql.ParseMysqlGTIDSet(strings.TrimPrefix(s, mysqlPrefix))
		if err != nil {
			return Pos{}, fmt.Errorf("%w: MySQL GTID position %q: %w", ErrBadPosition, s, err)
		}
		return Pos{Flavor: mysql.MySQLFlavor, GTID: set}, nil
	}
	i := strings.LastIndexByte(s, ':')
	if i <= 0 {
		return Pos{}, fmt.Errorf("%w: %q is neither a GTID set with flavor nor file:offset", ErrBadPosition, s)
	}
	off, err := strconv.ParseUint(s[i+1:], 10, 32)
	if err != nil {
		return Pos{}, fmt.Errorf("%w: %q: bad offset: %w", ErrBadPosition, s, err)
	}
	return Pos{Flavor: flavor, File: s[:i], Offset: uint32(off)}, nil
}

// ErrPurged means the source no longer has the binlog needed to resume from a position.
var ErrPurged = errors.New("binlog purged")

// ErrBadPosition means a saved position does not parse: the status was edited or corrupted.
var ErrBadPosition = errors.New("bad binlog position")
