package binlog

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/go-mysql-org/go-mysql/mysql"
	"github.com/go-mysql-org/go-mysql/replication"
)

const uuid1 = "3e11fa47-71ca-11e1-9e33-c80aa9429562"

func TestParsePosRoundTrip(t *testing.T) {
	tests := []struct {
		name       string
		in         string
		flavor     string // passed to ParsePos
		wantFlavor string
		wantGTID   bool
		wantFile   string
		wantOffset uint32
		want       string // String() of the parsed Pos; "" means in
	}{
		{name: "MariaDB, two domains", in: "MariaDB/0-1-5,1-2-9", wantFlavor: mysql.MariaDBFlavor, wantGTID: true},
		{name: "MariaDB, one domain", in: "MariaDB/0-1-123", wantFlavor: mysql.MariaDBFlavor, wantGTID: true},
		{name: "MariaDB, domains sorted", in: "MariaDB/1-2-9,0-1-5", wantFlavor: mysql.MariaDBFlavor, wantGTID: true, want: "MariaDB/0-1-5,1-2-9"},
		{name: "MariaDB flavor argument ignored for a GTID", in: "MariaDB/0-1-5", flavor: mysql.MySQLFlavor, wantFlavor: mysql.MariaDBFlavor, wantGTID: true},
		{name: "MySQL, one interval", in: "MySQL56/" + uuid1 + ":1-100", wantFlavor: mysql.MySQLFlavor, wantGTID: true},
		{name: "MySQL, single transaction", in: "MySQL56/" + uuid1 + ":5", wantFlavor: mysql.MySQLFlavor, wantGTID: true},
		{name: "MySQL, several intervals and servers", in: "MySQL56/" + uuid1 + ":1-5:7-9,5e11fa47-71ca-11e1-9e33-c80aa9429562:1", wantFlavor: mysql.MySQLFlavor, wantGTID: true},
		{name: "MySQL, upper-case uuid normalized", in: "MySQL56/" + strings.ToUpper(uuid1) + ":1-3", wantFlavor: mysql.MySQLFlavor, wantGTID: true, want: "MySQL56/" + uuid1 + ":1-3"},
		{name: "MySQL, tagged GTIDs", in: "MySQL56/" + uuid1 + ":tag:1-3", wantFlavor: mysql.MySQLFlavor, wantGTID: true},
		{name: "file and offset", in: "mysql-bin.000003:4567", flavor: mysql.MySQLFlavor, wantFlavor: mysql.MySQLFlavor, wantFile: "mysql-bin.000003", wantOffset: 4567},
		{name: "file and offset, MariaDB", in: "mariadb-bin.000001:4", flavor: mysql.MariaDBFlavor, wantFlavor: mysql.MariaDBFlavor, wantFile: "mariadb-bin.000001", wantOffset: 4},
		{name: "file name with a colon", in: "host:bin.000001:120", flavor: mysql.MySQLFlavor, wantFlavor: mysql.MySQLFlavor, wantFile: "host:bin.000001", wantOffset: 120},
		{name: "largest offset", in: "f.000001:4294967295", flavor: mysql.MySQLFlavor, wantFlavor: mysql.MySQLFlavor, wantFile: "f.000001", wantOffset: 4294967295},
		{name: "offset zero", in: "f.000001:0", flavor: mysql.MySQLFlavor, wantFlavor: mysql.MySQLFlavor, wantFile: "f.000001"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := ParsePos(tt.in, tt.flavor)
			if err != nil {
				t.Fatalf("ParsePos(%q): %v", tt.in, err)
			}
			if p.Flavor != tt.wantFlavor {
				t.Errorf("Flavor = %q, want %q", p.Flavor, tt.wantFlavor)
			}
			if (p.GTID != nil) != tt.wantGTID {
				t.Errorf("GTID = %v, want set: %v", p.GTID, tt.wantGTID)
			}
			if p.File != tt.wantFile || p.Offset != tt.wantOffset {
				t.Errorf("File, Offset = %q, %d, want %q, %d", p.File, p.Offset, tt.wantFile, tt.wantOffset)
			}
			if p.IsZero() {
				t.Errorf("IsZero() = true for %q", tt.in)
			}
			want := tt.want
			if want == "" {
				want = tt.in
			}
			s := p.String()
			if s != want {
				t.Errorf("String() = %q, want %q", s, want)
			}
			// And String's output parses back to the same position.
			p2, err := ParsePos(s, tt.flavor)
			if err != nil {
				t.Fatalf("ParsePos(String()) %q: %v", s, err)
			}
			if p2.String() != s || p2.Flavor != p.Flavor {
				t.Errorf("second round trip: %q (%s), want %q (%s)", p2.String(), p2.Flavor, s, p.Flavor)
			}
		})
	}
}

func TestParsePosEmpty(t *testing.T) {
	p, err := ParsePos("", mysql.MySQLFlavor)
	if err != nil || !p.IsZero() || p.String() != "" {
		t.Errorf(`ParsePos("") = %+v, %v; want the zero Pos`, p, err)
	}
}

func TestParsePosErrors(t *testing.T) {
	tests := []struct {
		in      string
		wantErr string
	}{
		{"mysql-bin.000003", "neither a GTID set with flavor nor file:offset"},
		{":4567", "neither a GTID set with flavor nor file:offset"},
		{"0-1-5", "neither a GTID set with flavor nor file:offset"},
		{"mysql-bin.000003:", "bad offset"},
		{"mysql-bin.000003:abc", "bad offset"},
		{"mysql-bin.000003:-1", "bad offset"},
		{"mysql-bin.000003:4294967296", "bad offset"},
		{"MariaDB/x", "MariaDB GTID position"},
		{"MariaDB/0-1", "MariaDB GTID position"},
		{"MySQL56/zz", "MySQL GTID position"},
		{"MySQL56/" + uuid1 + ":x-y", "MySQL GTID position"},
	}
	for _, tt := range tests {
		p, err := ParsePos(tt.in, mysql.MySQLFlavor)
		if err == nil {
			t.Errorf("ParsePos(%q) = %+v, want an error", tt.in, p)
			continue
		}
		if !errors.Is(err, ErrBadPosition) {
			t.Errorf("ParsePos(%q) error %v does not wrap ErrBadPosition", tt.in, err)
		}
		if !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), tt.in) {
			t.Errorf("ParsePos(%q) error %q, want it to contain %q and the input", tt.in, err, tt.wantErr)
		}
		if !p.IsZero() {
			t.Errorf("ParsePos(%q) returned %+v with the error", tt.in, p)
		}
	}
}

func TestPosString(t *testing.T) {
	mariadb, _ := mysql.ParseMariadbGTIDSet("0-1-5")
	my, _ := mysql.ParseMysqlGTIDSet(uuid1 + ":1-3")
	tests := []struct {
		name string
		p    Pos
		want string
	}{
		{"zero", Pos{}, ""},
		{"flavor only", Pos{Flavor: mysql.MySQLFlavor}, ""},
		{"file", Pos{File: "mysql-bin.000003", Offset: 4567}, "mysql-bin.000003:4567"},
		{"MariaDB GTID, file informative", Pos{Flavor: mysql.MariaDBFlavor, GTID: mariadb, File: "f", Offset: 9}, "MariaDB/0-1-5"},
		{"MySQL GTID", Pos{Flavor: mysql.MySQLFlavor, GTID: my}, "MySQL56/" + uuid1 + ":1-3"},
		{"GTID without a flavor is MySQL's", Pos{GTID: my}, "MySQL56/" + uuid1 + ":1-3"},
	}
	for _, tt := range tests {
		if got := tt.p.String(); got != tt.want {
			t.Errorf("%s: String() = %q, want %q", tt.name, got, tt.want)
		}
	}
}

func TestPosClone(t *testing.T) {
	tests := []struct {
		pos, add, want string
	}{
		{"MySQL56/" + uuid1 + ":1-3", uuid1 + ":4", "MySQL56/" + uuid1 + ":1-3"},
		{"MariaDB/0-1-5", "0-1-6", "MariaDB/0-1-5"},
		{"f.000001:4", "", "f.000001:4"},
	}
	for _, tt := range tests {
		p, err := ParsePos(tt.pos, mysql.MySQLFlavor)
		if err != nil {
			t.Fatal(err)
		}
		c := p.Clone()
		if c.String() != p.String() {
			t.Errorf("Clone() = %q, want %q", c, p)
		}
		if tt.add == "" {
			continue
		}
		if err := c.GTID.Update(tt.add); err != nil {
			t.Fatal(err)
		}
		if p.String() != tt.want {
			t.Errorf("updating the clone changed the original to %q", p)
		}
		if c.String() == tt.want {
			t.Errorf("Update on the clone had no effect: %q", c)
		}
	}
}

func TestEventPos(t *testing.T) {
	tests := []struct {
		file           string
		logPos, evSize uint32
		want           string
	}{
		{"mysql-bin.000003", 4667, 100, "mysql-bin.000003:4567"},
		{"f", 100, 100, "f:0"},
		{"f", 10, 100, "f:0"}, // inner events of a compressed payload carry no offsets
	}
	for _, tt := range tests {
		hdr := &replication.EventHeader{LogPos: tt.logPos, EventSize: tt.evSize}
		if got := eventPos(tt.file, hdr); got != tt.want {
			t.Errorf("eventPos(%q, %d, %d) = %q, want %q", tt.file, tt.logPos, tt.evSize, got, tt.want)
		}
	}
}

func TestClassify(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want error // nil: returned as is
	}{
		{"not a server error", errors.New("eof"), nil},
		{"access denied", &mysql.MyError{Code: mysql.ER_ACCESS_DENIED_ERROR, Message: "denied"}, ErrAccessDenied},
		{"missing privilege", &mysql.MyError{Code: mysql.ER_SPECIFIC_ACCESS_DENIED_ERROR, Message: "need REPLICATION SLAVE"}, ErrAccessDenied},
		{"purged binlog", &mysql.MyError{Code: mysql.ER_MASTER_FATAL_ERROR_READING_BINLOG, Message: "purged"}, ErrPurged},
		{"other server error", &mysql.MyError{Code: mysql.ER_NO_SUCH_TABLE, Message: "no table"}, nil},
	}
	for _, tt := range tests {
		wrapped := fmt.Errorf("start: %w", tt.err)
		got := classify(wrapped)
		if tt.want == nil {
			if got != wrapped {
				t.Errorf("%s: classify changed the error to %v", tt.name, got)
			}
			continue
		}
		if !errors.Is(got, tt.want) {
			t.Errorf("%s: classify = %v, want it to wrap %v", tt.name, got, tt.want)
		}
		if !errors.Is(got, tt.err) {
			t.Errorf("%s: classify = %v lost the server error", tt.name, got)
		}
	}
}
