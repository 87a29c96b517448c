package testenv

import (
	"context"
	"crypto/tls"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/go-mysql-org/go-mysql/client"
	"github.com/go-mysql-org/go-mysql/mysql"
)

// MariaDB is a mariadbd process with its own data directory, ROW binlog, GTIDs and full row
// metadata, listening on a free loopback port. Root is reachable over TCP as User/Password.
type MariaDB struct {
	Host     string
	Port     int
	User     string
	Password string
	DataDir  string
	Proc     *Process

	// start runs the server again on the same data directory and port.
	start func() (*Process, error)
	// tls makes the test's admin connections use TLS.
	tls bool
}

// MariaDBOption changes how StartMariaDB starts the server.
type MariaDBOption func(*mariadbConfig)

type mariadbConfig struct {
	args []string
	tls  bool
}

// WithTLS serves TLS with a certificate for 127.0.0.1 signed by ca and, with require, refuses
// connections without it (require_secure_transport). The test's own admin connections use TLS.
func WithTLS(t testing.TB, ca *CA, require bool) MariaDBOption {
	cert := ca.Issue(t, "127.0.0.1")
	certFile, keyFile, caFile := cert.Files(t, t.TempDir(), ca)
	return func(c *mariadbConfig) {
		c.tls = true
		c.args = append(c.args, "--ssl-cert="+certFile, "--ssl-key="+keyFile, "--ssl-ca="+caFile)
		if require {
			c.args = append(c.args, "--require-secure-transport=ON")
		}
	}
}

// WithServerArgs adds mariadbd command-line options, for example "--binlog-row-metadata=MINIMAL".
// Later options override earlier ones.
func WithServerArgs(args ...string) MariaDBOption {
	return func(c *mariadbConfig) { c.args = append(c.args, args...) }
}

const mariadbRootPassword = "dts-test-root"

// Addr is host:port.
func (m *MariaDB) Addr() string { return fmt.Sprintf("%s:%d", m.Host, m.Port) }

// StartMariaDB starts a fresh server for the test and stops it in t.Cleanup.
// MariaDB is installed with apt-get if mariadbd is missing.
func StartMariaDB(t testing.TB, opts ...MariaDBOption) *MariaDB {
	t.Helper()
	var cfg mariadbConfig
	for _, o := range opts {
		o(&cfg)
	}
	bin, err := ensureMariaDB()
	if err != nil {
		t.Fatalf("mariadb: %v", err)
	}
	tmpl, err := mariadbTemplate(bin)
	if err != nil {
		t.Fatalf("mariadb: %v", err)
	}
	dir := t.TempDir()
	dataDir := filepath.Join(dir, "data")
	if b, err := exec.Command("cp", "-a", tmpl, dataDir).CombinedOutput(); err != nil {
		t.Fatalf("copy mariadb data dir: %v: %s", err, b)
	}
	initFile := filepath.Join(dir, "init.sql")
	initSQL := fmt.Sprintf(`CREATE OR REPLACE USER 'root'@'127.0.0.1' IDENTIFIED BY '%s';
GRANT ALL PRIVILEGES ON *.* TO 'root'@'127.0.0.1' WITH GRANT OPTION;
`, mariadbRootPassword)
	if err := os.WriteFile(initFile, []byte(initSQL), 0o600); err != nil {
		t.Fatal(err)
	}
	// A private tmpdir: the shared /tmp is cleaned by others while a server uses it.
	tmpDir := filepath.Join(dir, "tmp")
	if err := os.MkdirAll(tmpDir, 0o700); err != nil {
		t.Fatal(err)
	}
	base := []string{
		bin.mariadbd,
		"--no-defaults",
		"--datadir=" + dataDir,
		"--tmpdir=" + tmpDir,
		"--socket=" + filepath.Join(dir, "mysqld.sock"),
		"--pid-file=" + filepath.Join(dir, "mysqld.pid"),
		"--bind-address=127.0.0.1",
		"--skip-name-resolve",
		"--init-file=" + initFile,
		"--log-bin=" + filepath.Join(dataDir, "mysql-bin"),
		"--binlog-format=ROW",
		"--binlog-row-metadata=FULL",
		"--binlog-row-image=FULL",
		"--server-id=1",
		"--log-slave-updates",
		"--innodb-buffer-pool-size=128M",
		"--innodb-log-file-size=256M",
		"--innodb-flush-log-at-trx-commit=2",
		"--sync-binlog=0",
		"--max-connections=500",
		"--max-allowed-packet=64M",
		"--character-set-server=utf8mb4",
		"--collation-server=utf8mb4_general_ci",
		"--skip-log-error",
	}
	if os.Geteuid() == 0 {
		base = append(base, "--user=root")
	}
	m := &MariaDB{Host: "127.0.0.1", User: "root", Password: mariadbRootPassword, DataDir: dataDir, tls: cfg.tls}
	m.start = func() (*Process, error) {
		args := append(append(append([]string(nil), base...), "--port="+strconv.Itoa(m.Port)), cfg.args...)
		proc := StartProcess(t, "mariadbd", dir, baseEnv(), syscall.SIGTERM, args...)
		return proc, WaitFor(context.Background(), proc, 60*time.Second, func(context.Context) error {
			c, err := m.connect()
			if err != nil {
				return err
			}
			return c.Close()
		})
	}
	m.Proc = startRetrying(t, "mariadb", func() (*Process, error) {
		m.Port = FreePort(t)
		return m.start()
	})
	return m
}

// Stop shuts the server down (SIGTERM, then SIGKILL after 30s).
func (m *MariaDB) Stop() { m.Proc.Stop(syscall.SIGTERM, 30*time.Second) }

// Restart starts a stopped server again on the same data directory and port.
func (m *MariaDB) Restart(t testing.TB) {
	t.Helper()
	p, err := m.start()
	if err != nil {
		t.Fatalf("restart mariadb: %v", err)
	}
	m.Proc = p
}

func (m *MariaDB) connect() (*client.Conn, error) {
	return client.Connect(m.Addr(), m.User, m.Password, "", func(c *client.Conn) error {
		c.SetCharset("utf8mb4")
		if m.tls {
			c.SetTLSConfig(&tls.Config{InsecureSkipVerify: true}) // the test's own admin connection
		}
		return nil
	})
}

// Conn opens an admin connection, closed in t.Cleanup.
func (m *MariaDB) Conn(t testing.TB) *client.Conn {
	t.Helper()
	c, err := m.connect()
	if err != nil {
		t.Fatalf("connect to mariadb %s: %v", m.Addr(), err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// Exec runs each statement on a fresh admin connection and fails the test on error.
func (m *MariaDB) Exec(t testing.TB, stmts ...string) {
	t.Helper()
	c, err := m.connect()
	if err != nil {
		t.Fatalf("connect to mariadb %s: %v", m.Addr(), err)
	}
	defer c.Close()
	for _, s := range stmts {
		if _, err := c.Execute(s); err != nil {
			t.Fatalf("mariadb: %s: %v", s, err)
		}
	}
}

// Query runs one statement and returns its result set.
func (m *MariaDB) Query(t testing.TB, query string, args ...any) *mysql.Result {
	t.Helper()
	c, err := m.connect()
	if err != nil {
		t.Fatalf("connect to mariadb %s: %v", m.Addr(), err)
	}
	defer c.Close()
	r, err := c.Execute(query, args...)
	if err != nil {
		t.Fatalf("mariadb: %s: %v", query, err)
	}
	return r
}

// CreateReplicationUser creates a user with exactly the privileges dts documents for its source
// account: replication, reading binlog positions, and SELECT for the initial copy.
func (m *MariaDB) CreateReplicationUser(t testing.TB, user, password string) {
	t.Helper()
	m.Exec(t,
		fmt.Sprintf("CREATE USER '%s'@'127.0.0.1' IDENTIFIED BY '%s'", user, password),
		fmt.Sprintf("GRANT SELECT, REPLICATION SLAVE, REPLICATION CLIENT ON *.* TO '%s'@'127.0.0.1'", user),
	)
}

type mariadbBinaries struct {
	mariadbd  string
	installDB string
}

var (
	mariadbInstallOnce sync.Once
	mariadbInstallErr  error
	mariadbBins        mariadbBinaries
)

// ensureMariaDB finds mariadbd, installing Debian's mariadb-server once if it is missing.
func ensureMariaDB() (mariadbBinaries, error) {
	mariadbInstallOnce.Do(func() {
		find := func() bool {
			d, err1 := lookPath("mariadbd")
			i, err2 := lookPath("mariadb-install-db")
			if err1 != nil || err2 != nil {
				return false
			}
			mariadbBins = mariadbBinaries{mariadbd: d, installDB: i}
			return true
		}
		if find() {
			return
		}
		// Serialise with other test processes installing at the same time.
		lock, err := os.OpenFile(filepath.Join(os.TempDir(), "dts-apt.lock"), os.O_CREATE|os.O_RDWR, 0o644)
		if err != nil {
			mariadbInstallErr = err
			return
		}
		defer lock.Close()
		if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
			mariadbInstallErr = err
			return
		}
		if find() {
			return
		}
		cmd := exec.Command("apt-get", "install", "-y", "--no-install-recommends", "mariadb-server")
		cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
		if out, err := cmd.CombinedOutput(); err != nil {
			mariadbInstallErr = fmt.Errorf("mariadbd is missing and `apt-get install mariadb-server` failed (run `make deps` as root): %v\n%s", err, tail(string(out), 2000))
			return
		}
		if !find() {
			mariadbInstallErr = fmt.Errorf("mariadb-server installed but mariadbd not found")
		}
	})
	return mariadbBins, mariadbInstallErr
}

func lookPath(name string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	for _, d := range []string{"/usr/sbin", "/usr/bin", "/usr/local/sbin"} {
		p := filepath.Join(d, name)
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s not found", name)
}

var (
	templateOnce sync.Once
	templateDir  string
	templateErr  error
)

// mariadbTemplate initialises one data directory per test process; each server gets a copy,
// which is much faster than running mariadb-install-db for every test.
func mariadbTemplate(bin mariadbBinaries) (string, error) {
	templateOnce.Do(func() {
		d, err := os.MkdirTemp("", "dts-mariadb-template-")
		if err != nil {
			templateErr = err
			return
		}
		templateDir = d
		tmp := filepath.Join(d, "tmp")
		if err := os.Mkdir(tmp, 0o700); err != nil {
			templateErr = err
			return
		}
		args := []string{"--no-defaults", "--datadir=" + filepath.Join(d, "data"), "--tmpdir=" + tmp, "--auth-root-authentication-method=normal", "--skip-test-db"}
		if os.Geteuid() == 0 {
			args = append(args, "--user=root")
		}
		out, err := exec.Command(bin.installDB, args...).CombinedOutput()
		if err != nil {
			templateErr = fmt.Errorf("mariadb-install-db: %v\n%s", err, tail(string(out), 2000))
		}
	})
	if templateErr != nil {
		return "", templateErr
	}
	return filepath.Join(templateDir, "data"), nil
}

func mariadbTemplateCleanup() {
	if templateDir != "" {
		os.RemoveAll(templateDir)
	}
}
