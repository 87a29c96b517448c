package testenv

import (
	"fmt"
	"testing"

	"github.com/go-mysql-org/go-mysql/client"
	"github.com/go-mysql-org/go-mysql/mysql"
)

// MySQLServer is a source server started for a test: MariaDB (the MariaDB flavor) or Dolt (the
// MySQL flavor, standing in for MySQL 8, which cannot be installed here). It holds what the worker
// tests use of *MariaDB, so that one test body can run against both flavors.
type MySQLServer interface {
	// Endpoint is the server's loopback address and an account with every privilege.
	Endpoint() Endpoint
	// Flavor is go-mysql's flavor name: mysql.MariaDBFlavor or mysql.MySQLFlavor.
	Flavor() string
	// GTIDSet is the set of transactions the server has written to its binlog so far.
	GTIDSet(t testing.TB) mysql.GTIDSet
	// Conn opens an admin connection, closed in t.Cleanup.
	Conn(t testing.TB) *client.Conn
	// Exec runs each statement on a fresh admin connection and fails the test on error.
	Exec(t testing.TB, stmts ...string)
	// Query runs one statement and returns its result set.
	Query(t testing.TB, query string, args ...any) *mysql.Result
	// CreateReplicationUser creates an account with only the privileges dts asks of a source.
	CreateReplicationUser(t testing.TB, user, password string)
	// Stop shuts the server down; Restart starts it again with its data on the same port.
	Stop()
	Restart(t testing.TB)
}

// EachFlavor runs body against a fresh MariaDB (the MariaDB flavor) and a fresh Dolt (the MySQL
// flavor, standing in for MySQL 8), in parallel subtests named for the flavor.
func EachFlavor(t *testing.T, body func(t *testing.T, db MySQLServer)) {
	t.Helper()
	for _, flavor := range []string{mysql.MariaDBFlavor, mysql.MySQLFlavor} {
		t.Run(flavor, func(t *testing.T) {
			t.Parallel()
			var db MySQLServer
			if flavor == mysql.MariaDBFlavor {
				db = StartMariaDB(t)
			} else {
				db = StartDolt(t)
			}
			body(t, db)
		})
	}
}

var (
	_ MySQLServer = (*MariaDB)(nil)
	_ MySQLServer = (*Dolt)(nil)
)

// Endpoint is where a test server listens and the account tests use on it.
type Endpoint struct {
	Host     string
	Port     int
	User     string
	Password string
}

// Addr is host:port.
func (e Endpoint) Addr() string { return fmt.Sprintf("%s:%d", e.Host, e.Port) }

// Endpoint is the server's address and root account.
func (m *MariaDB) Endpoint() Endpoint {
	return Endpoint{Host: m.Host, Port: m.Port, User: m.User, Password: m.Password}
}

// Flavor is mysql.MariaDBFlavor.
func (m *MariaDB) Flavor() string { return mysql.MariaDBFlavor }

// GTIDSet is @@gtid_binlog_pos, the GTIDs of every transaction in the binlog.
func (m *MariaDB) GTIDSet(t testing.TB) mysql.GTIDSet {
	t.Helper()
	return queryGTIDSet(t, m, mysql.MariaDBFlavor, "SELECT @@gtid_binlog_pos")
}

func queryGTIDSet(t testing.TB, s MySQLServer, flavor, query string) mysql.GTIDSet {
	t.Helper()
	r := s.Query(t, query)
	v, err := r.GetString(0, 0)
	if err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	set, err := mysql.ParseGTIDSet(flavor, v)
	if err != nil {
		t.Fatalf("%s = %q: %v", query, v, err)
	}
	return set
}
