package binlog

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/go-mysql-org/go-mysql/client"

	"github.com/dtsrepl/dts/api"
	"github.com/dtsrepl/dts/internal/testenv"
	"github.com/dtsrepl/dts/worker/schema"
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

// TestDescriberReconnects: the describer's connection, killed by the server, is replaced once
// and not leaked; a missing table is an answer, not a reason to reconnect; Close closes it.
func TestDescriberReconnects(t *testing.T) {
	db := testenv.StartMariaDB(t)
	db.Exec(t, "CREATE DATABASE x", "CREATE TABLE x.t (id INT PRIMARY KEY, v VARCHAR(8))",
		"CREATE USER 'describer'@'127.0.0.1' IDENTIFIED BY 'pw'", "GRANT SELECT ON *.* TO 'describer'@'127.0.0.1'")
	admin := db.Conn(t)
	conns := func() []int64 {
		t.Helper()
		r, err := admin.Execute("SELECT ID FROM information_schema.PROCESSLIST WHERE USER = 'describer' ORDER BY ID")
		if err != nil {
			t.Fatal(err)
		}
		var ids []int64
		for i := range r.RowNumber() {
			id, _ := r.GetInt(i, 0)
			ids = append(ids, id)
		}
		return ids
	}
	d := NewDescriber(Dialer{Source: api.Source{Host: "127.0.0.1", Port: db.Port, Username: "describer", Password: "pw"}})
	defer d.Close()
	ctx := context.Background()
	describe := func(what string) {
		t.Helper()
		tbl, err := d.Describe(ctx, "x", "t")
		if err != nil || len(tbl.Columns) != 2 {
			t.Fatalf("describe %s: %+v, %v", what, tbl, err)
		}
	}
	describe("first")
	first := conns()
	if len(first) != 1 {
		t.Fatalf("connections after the first describe: %v, want one", first)
	}
	if _, err := admin.Execute(fmt.Sprintf("KILL %d", first[0])); err != nil {
		t.Fatal(err)
	}
	describe("after the server killed the connection")
	second := conns()
	if len(second) != 1 || second[0] == first[0] {
		t.Fatalf("connections after the reconnect: %v (the first was %d), want one new one", second, first[0])
	}
	if _, err := d.Describe(ctx, "x", "missing"); !errors.Is(err, schema.ErrNoTable) {
		t.Fatalf("describe a missing table: %v, want schema.ErrNoTable", err)
	}
	if got := conns(); len(got) != 1 || got[0] != second[0] {
		t.Fatalf("connections after a missing table: %v, want %d kept", got, second[0])
	}
	d.Close()
	for deadline := time.Now().Add(10 * time.Second); len(conns()) > 0; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("connections after Close: %v, want none", conns())
		}
	}
}
