package binlog

import (
	"strings"
	"testing"

	"github.com/go-mysql-org/go-mysql/client"

	"github.com/dtsrepl/dts/internal/testenv"
)

// TestCheckServerIDDenied: an account that may not list the replicas is told so, not given the
// syntax error of the statement's MySQL 8.4 name, which MariaDB does not know.
func TestCheckServerIDDenied(t *testing.T) {
	db := testenv.StartMariaDB(t)
	db.Exec(t, "CREATE USER 'reader'@'127.0.0.1' IDENTIFIED BY 'pw'", "GRANT SELECT ON *.* TO 'reader'@'127.0.0.1'")
	c, err := client.Connect(db.Addr(), "reader", "pw", "")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	err = CheckServerID(c, 77, "dts")
	if err == nil || !strings.Contains(err.Error(), "denied") || strings.Contains(err.Error(), "syntax") {
		t.Fatalf("CheckServerID: %v, want the missing privilege", err)
	}
	admin := db.Conn(t)
	if err := CheckServerID(admin, 77, "dts"); err != nil {
		t.Fatalf("CheckServerID as admin: %v", err)
	}
}
