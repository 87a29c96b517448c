package testenv

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/go-mysql-org/go-mysql/client"
	"github.com/go-mysql-org/go-mysql/mysql"
)

// Dolt is a Dolt sql-server (a MySQL-compatible server written in Go, built by `make deps` into
// ./bin/dolt) acting as a binlog primary with MySQL-flavor GTIDs: log_bin, gtid_mode=ON,
// enforce_gtid_consistency=ON and binlog_row_metadata=FULL. It is how the MySQL flavor is tested,
// as MySQL itself cannot be installed here. User/Password is an account 'root'@'%' with every
// privilege (a grant to 'root'@'127.0.0.1' lands on Dolt's built-in 'root'@'localhost' instead).
//
// Dolt is started the way its own binlog tests start it, with its configuration in a private
// DOLT_ROOT_PATH: usage metrics and the version check are off, so it contacts nothing.
//
// Where Dolt 1.86.4 (commit 73fcb4a868c2) differs from MySQL 8 for a binlog client, as seen by
// go-mysql v1.16.0 (TestDoltDeviations pins the ones that can be checked without waiting):
//
//   - COM_BINLOG_DUMP_GTID ignores the client's GTID set and streams the binlog from its first
//     event: Dolt reads the set only when the request has flag 0x04 (BINLOG_THROUGH_GTID), and
//     go-mysql always sends flags 0 (its DumpCommandFlag does not apply to this command). A client
//     must skip the transactions it already has itself.
//   - COM_BINLOG_DUMP (by file and position) is refused: ERROR 1047 "command handling not
//     implemented yet: 18".
//   - The first, artificial Rotate event's file name carries 4 more bytes (the checksum), e.g.
//     "binlog-main.000001" followed by 4 binary bytes.
//   - No Rotate event at a file boundary: after a restart (the only time Dolt starts a new file;
//     FLUSH BINARY LOGS succeeds without rotating, FLUSH LOGS fails with 1105) the stream goes on
//     with the next file's FormatDescription event, whose log positions start again at 120.
//   - Every event's header timestamp is the time the server started, not the time of the write.
//     GTID events carry no commit timestamps, LAST_COMMITTED or SEQUENCE_NUMBER (all 0), XID
//     events have XID 0, and the FormatDescription event names server version 5.6.33.
//   - DDL is logged as Dolt renders it, not as written ("create database `shop`;", CREATE TABLE
//     with every column and ENGINE=InnoDB).
//   - The table map has column names but no signedness: an INT UNSIGNED 4294967295 decodes as -1
//     and a BIGINT UNSIGNED 18446744073709551615 as -1. Nor does it carry the primary key.
//   - JSON numbers are doubles, in storage already: 9007199254740993 reads back (by SELECT and
//     from the binlog) as 9007199254740992.
//   - TIME(n) is refused ("TIME length not yet supported", 1105); a plain TIME column is TIME(6).
//   - SELECT ... TABLE_NAME FROM information_schema.CHECK_CONSTRAINTS (a MariaDB column) fails
//     with 1105 "column ... could not be found", where MySQL 8 says 1054 ER_BAD_FIELD_ERROR.
//   - A session's @@gtid_executed does not follow other sessions' commits; @@GLOBAL.gtid_executed
//     and SHOW MASTER STATUS do, so GTIDSet reads the former.
//   - Heartbeats come every 30 s whatever the client asks for, and a stream whose client has gone
//     lives on until a write to it fails, at the next event or heartbeat (so Dolt's source reads:
//     a fixed ticker). A clean shutdown waits for such streams: 27 s after a client had closed
//     its stream on an idle server, here. So Stop kills Dolt after doltStopGrace; a killed Dolt
//     restarts with everything it committed, its binlog and its GTID history (TestDoltRestart).
type Dolt struct {
	Host     string
	Port     int
	User     string
	Password string
	ServerID int
	DataDir  string
	Proc     *Process

	dir string
	bin string
	env []string
}

// DoltOption changes how StartDolt starts the server.
type DoltOption func(*doltConfig)

type doltConfig struct {
	serverID int
}

// WithDoltServerID sets the server's server_id (default 1). A binlog client's own server id must
// differ from it.
func WithDoltServerID(id int) DoltOption {
	return func(c *doltConfig) { c.serverID = id }
}

const doltRootPassword = "dts-test-root"

// doltStopGrace bounds a clean shutdown, which otherwise waits up to 30 s for binlog streams
// whose clients have gone (see Dolt).
const doltStopGrace = 5 * time.Second

// StartDolt starts a fresh Dolt binlog primary for the test on a free loopback port and stops it
// in t.Cleanup.
func StartDolt(t testing.TB, opts ...DoltOption) *Dolt {
	t.Helper()
	cfg := doltConfig{serverID: 1}
	for _, o := range opts {
		o(&cfg)
	}
	dir := t.TempDir()
	d := &Dolt{
		Host:     "127.0.0.1",
		User:     "root",
		Password: doltRootPassword,
		ServerID: cfg.serverID,
		DataDir:  filepath.Join(dir, "data"),
		dir:      dir,
		bin:      Binary(t, "dolt"),
		env: baseEnv(
			"DOLT_ROOT_PATH="+filepath.Join(dir, "root"),
			// Belt and braces on top of metrics.disabled: never send, never emit usage events.
			"DOLT_DISABLE_EVENT_FLUSH=1",
			"DOLT_EVENTS_EMITTER=null",
		),
	}
	if err := d.init(); err != nil {
		t.Fatalf("dolt: %v", err)
	}
	d.Proc = startRetrying(t, "dolt", func() (*Process, error) {
		d.Port = FreePort(t)
		return d.start(t)
	})
	return d
}

// init writes the global configuration and creates the data directory with the binlog settings
// persisted, as `dolt sql-server` reads log_bin only when it starts.
func (d *Dolt) init() error {
	for _, dir := range []string{filepath.Join(d.dir, "root"), d.DataDir} {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("create %s: %w", dir, err)
		}
	}
	for _, kv := range [][2]string{
		{"metrics.disabled", "true"},
		{"versioncheck.disabled", "true"},
		{"user.name", "dts test"},
		{"user.email", "dts-test@127.0.0.1"},
	} {
		if err := d.run("config", "--global", "--add", kv[0], kv[1]); err != nil {
			return err
		}
	}
	if err := d.run("init"); err != nil {
		return err
	}
	q := fmt.Sprintf(`SET @@PERSIST.log_bin=1;
SET @@PERSIST.gtid_mode=ON;
SET @@PERSIST.enforce_gtid_consistency=ON;
SET @@PERSIST.server_id=%d;
SET @@PERSIST.binlog_row_metadata=FULL;
CREATE USER 'root'@'%%' IDENTIFIED BY '%s';
GRANT ALL PRIVILEGES ON *.* TO 'root'@'%%' WITH GRANT OPTION;
`, d.ServerID, doltRootPassword)
	return d.run("sql", "-q", q)
}

// run runs a short dolt command in the data directory.
func (d *Dolt) run(args ...string) error {
	cmd := exec.Command(d.bin, args...)
	cmd.Dir = d.DataDir
	cmd.Env = d.env
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("dolt %v: %w: %s", args, err, tail(string(out), 2000))
	}
	return nil
}

// start runs the server on the data directory and d.Port and waits until it answers.
func (d *Dolt) start(t testing.TB) (*Process, error) {
	t.Helper()
	proc := StartProcess(t, "dolt", d.dir, d.env, syscall.SIGTERM,
		d.bin, "sql-server",
		"--host="+d.Host,
		"--port="+strconv.Itoa(d.Port),
		"--socket=/dev/null",
		"--data-dir="+d.DataDir,
	)
	// Runs before StartProcess's own cleanup, which would wait 30 s.
	t.Cleanup(func() { proc.Stop(syscall.SIGTERM, doltStopGrace) })
	return proc, WaitFor(context.Background(), proc, 60*time.Second, func(context.Context) error {
		c, err := d.connect()
		if err != nil {
			return err
		}
		return c.Close()
	})
}

// Addr is host:port.
func (d *Dolt) Addr() string { return fmt.Sprintf("%s:%d", d.Host, d.Port) }

// Endpoint is the server's address and root account.
func (d *Dolt) Endpoint() Endpoint {
	return Endpoint{Host: d.Host, Port: d.Port, User: d.User, Password: d.Password}
}

// Flavor is mysql.MySQLFlavor.
func (d *Dolt) Flavor() string { return mysql.MySQLFlavor }

// GTIDSet is @@GLOBAL.gtid_executed. (Not the session's @@gtid_executed, which Dolt does not
// keep current.)
func (d *Dolt) GTIDSet(t testing.TB) mysql.GTIDSet {
	t.Helper()
	return queryGTIDSet(t, d, mysql.MySQLFlavor, "SELECT @@GLOBAL.gtid_executed")
}

// Stop shuts the server down: SIGTERM, then SIGKILL after doltStopGrace.
func (d *Dolt) Stop() { d.Proc.Stop(syscall.SIGTERM, doltStopGrace) }

// Restart starts a stopped server again on the same data directory and port.
func (d *Dolt) Restart(t testing.TB) {
	t.Helper()
	p, err := d.start(t)
	if err != nil {
		t.Fatalf("restart dolt: %v", err)
	}
	d.Proc = p
}

func (d *Dolt) connect() (*client.Conn, error) {
	return client.Connect(d.Addr(), d.User, d.Password, "", func(c *client.Conn) error {
		c.SetCharset("utf8mb4")
		return nil
	})
}

// Conn opens an admin connection, closed in t.Cleanup.
func (d *Dolt) Conn(t testing.TB) *client.Conn {
	t.Helper()
	c, err := d.connect()
	if err != nil {
		t.Fatalf("connect to dolt %s: %v", d.Addr(), err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// Exec runs each statement on a fresh admin connection and fails the test on error.
func (d *Dolt) Exec(t testing.TB, stmts ...string) {
	t.Helper()
	c, err := d.connect()
	if err != nil {
		t.Fatalf("connect to dolt %s: %v", d.Addr(), err)
	}
	defer c.Close()
	for _, s := range stmts {
		if _, err := c.Execute(s); err != nil {
			t.Fatalf("dolt: %s: %v", s, err)
		}
	}
}

// Query runs one statement and returns its result set.
func (d *Dolt) Query(t testing.TB, query string, args ...any) *mysql.Result {
	t.Helper()
	c, err := d.connect()
	if err != nil {
		t.Fatalf("connect to dolt %s: %v", d.Addr(), err)
	}
	defer c.Close()
	r, err := c.Execute(query, args...)
	if err != nil {
		t.Fatalf("dolt: %s: %v", query, err)
	}
	return r
}

// CreateReplicationUser creates a user with exactly the privileges dts documents for its source
// account: replication, reading binlog positions, and SELECT for the initial copy.
func (d *Dolt) CreateReplicationUser(t testing.TB, user, password string) {
	t.Helper()
	d.Exec(t,
		fmt.Sprintf("CREATE USER '%s'@'127.0.0.1' IDENTIFIED BY '%s'", user, password),
		fmt.Sprintf("GRANT SELECT, REPLICATION SLAVE, REPLICATION CLIENT ON *.* TO '%s'@'127.0.0.1'", user),
	)
}
