package binlog

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/go-mysql-org/go-mysql/client"
	"github.com/go-mysql-org/go-mysql/mysql"
)

// Errors the worker cannot fix by retrying. Each is wrapped with the server's words and what the
// operator should do.
var (
	// ErrAccessDenied: the account cannot log in or lacks a privilege.
	ErrAccessDenied = errors.New("access denied")
	// ErrUnsupported: the server's binlog settings cannot be streamed without losing data.
	ErrUnsupported = errors.New("unsupported source configuration")
)

// Source says how to reach the MySQL or MariaDB server.
type Source struct {
	Host     string
	Port     int
	User     string
	Password string
	// ServerID is the replica id the worker registers with.
	ServerID uint32
}

// Addr is host:port.
func (s Source) Addr() string { return net.JoinHostPort(s.Host, strconv.Itoa(s.Port)) }

// Connect opens a client connection for queries. ctx bounds the dial.
func (s Source) Connect(ctx context.Context) (*client.Conn, error) {
	d := &net.Dialer{Timeout: 10 * time.Second}
	c, err := client.ConnectWithDialer(ctx, "tcp", s.Addr(), s.User, s.Password, "", d.DialContext, func(c *client.Conn) error {
		c.SetCharset("utf8mb4")
		return nil
	})
	if err != nil {
		return nil, classify(fmt.Errorf("connect to %s as %q: %w", s.Addr(), s.User, err))
	}
	// TIMESTAMP values read by queries must match the binlog's, which the reader writes in UTC.
	if _, err := c.Execute("SET time_zone = '+00:00'"); err != nil {
		c.Close()
		return nil, classify(fmt.Errorf("set session time zone on %s: %w", s.Addr(), err))
	}
	return c, nil
}

// Server is what the worker learned about the source at start.
type Server struct {
	// Flavor is mysql.MySQLFlavor or mysql.MariaDBFlavor.
	Flavor  string
	Version string
	// GTID is true when positions are GTID sets (always for MariaDB; gtid_mode=ON for MySQL).
	GTID bool
	// FullMetadata is true when the binlog carries column names (binlog_row_metadata=FULL).
	FullMetadata bool
}

// Inspect reads the server's flavor and binlog settings and refuses settings that would lose
// data: binlog off, binlog_format other than ROW, binlog_row_image other than FULL.
func Inspect(c *client.Conn) (*Server, error) {
	r, err := c.Execute("SELECT VERSION(), @@log_bin, @@binlog_format, @@binlog_row_image")
	if err != nil {
		return nil, classify(fmt.Errorf("read server settings: %w", err))
	}
	version, _ := r.GetString(0, 0)
	logBin, _ := r.GetInt(0, 1)
	format, _ := r.GetString(0, 2)
	image, _ := r.GetString(0, 3)
	s := &Server{Version: version, Flavor: mysql.MySQLFlavor}
	if strings.Contains(strings.ToLower(version), "mariadb") {
		s.Flavor = mysql.MariaDBFlavor
	}
	if logBin != 1 {
		return nil, fmt.Errorf("%w: the binary log is off on the source; start it with --log-bin", ErrUnsupported)
	}
	if !strings.EqualFold(format, "ROW") {
		return nil, fmt.Errorf("%w: binlog_format is %s; dts needs ROW (SET GLOBAL binlog_format = 'ROW' and restart writers, or set it in the server config)", ErrUnsupported, format)
	}
	if !strings.EqualFold(image, "FULL") {
		return nil, fmt.Errorf("%w: binlog_row_image is %s; dts needs FULL row images to send whole rows (SET GLOBAL binlog_row_image = 'FULL')", ErrUnsupported, image)
	}
	if r, err := c.Execute("SELECT @@binlog_row_metadata"); err == nil {
		meta, _ := r.GetString(0, 0)
		s.FullMetadata = strings.EqualFold(meta, "FULL")
	}
	switch s.Flavor {
	case mysql.MariaDBFlavor:
		s.GTID = true
	default:
		if r, err := c.Execute("SELECT @@gtid_mode"); err == nil {
			mode, _ := r.GetString(0, 0)
			s.GTID = strings.EqualFold(mode, "ON")
		}
	}
	return s, nil
}

// CurrentPos returns the position at the end of the source's binlog now.
func CurrentPos(c *client.Conn, s *Server) (Pos, error) {
	if s.Flavor == mysql.MariaDBFlavor {
		r, err := c.Execute("SELECT @@gtid_binlog_pos")
		if err != nil {
			return Pos{}, classify(fmt.Errorf("read gtid_binlog_pos: %w", err))
		}
		v, _ := r.GetString(0, 0)
		set, err := mysql.ParseMariadbGTIDSet(v)
		if err != nil {
			return Pos{}, fmt.Errorf("parse gtid_binlog_pos %q: %w", v, err)
		}
		return Pos{Flavor: s.Flavor, GTID: set}, nil
	}
	r, err := c.Execute("SHOW MASTER STATUS")
	if err != nil {
		// MySQL 8.4 renamed the statement.
		if r, err = c.Execute("SHOW BINARY LOG STATUS"); err != nil {
			return Pos{}, classify(fmt.Errorf("read binlog status: %w", err))
		}
	}
	if r.RowNumber() == 0 {
		return Pos{}, fmt.Errorf("%w: SHOW MASTER STATUS is empty: the binary log is off", ErrUnsupported)
	}
	file, _ := r.GetStringByName(0, "File")
	off, _ := r.GetUintByName(0, "Position")
	p := Pos{Flavor: s.Flavor, File: file, Offset: uint32(off)}
	if s.GTID {
		executed, _ := r.GetStringByName(0, "Executed_Gtid_Set")
		set, err := mysql.ParseMysqlGTIDSet(strings.ReplaceAll(executed, "\n", ""))
		if err != nil {
			return Pos{}, fmt.Errorf("parse Executed_Gtid_Set %q: %w", executed, err)
		}
		p.GTID = set
	}
	return p, nil
}

// classify marks server errors the worker cannot retry its way out of.
func classify(err error) error {
	var me *mysql.MyError
	if !errors.As(err, &me) {
		return err
	}
	switch me.Code {
	case mysql.ER_ACCESS_DENIED_ERROR, mysql.ER_DBACCESS_DENIED_ERROR, mysql.ER_SPECIFIC_ACCESS_DENIED_ERROR,
		mysql.ER_TABLEACCESS_DENIED_ERROR, mysql.ER_COLUMNACCESS_DENIED_ERROR:
		return fmt.Errorf("%w: %w; check the source account: dts needs REPLICATION SLAVE, REPLICATION CLIENT and SELECT", ErrAccessDenied, err)
	case mysql.ER_MASTER_FATAL_ERROR_READING_BINLOG:
		return fmt.Errorf("%w: %w", ErrPurged, err)
	}
	return err
}
