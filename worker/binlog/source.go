package binlog

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/go-mysql-org/go-mysql/client"
	"github.com/go-mysql-org/go-mysql/mysql"

	"github.com/dtsrepl/dts/api"
	"github.com/dtsrepl/dts/worker/schema"
)

// Errors the worker cannot fix by retrying. Each is wrapped with the server's words and what the
// operator should do.
var (
	// ErrAccessDenied: the account cannot log in or lacks a privilege.
	ErrAccessDenied = errors.New("access denied")
	// ErrUnsupported: the server's binlog settings cannot be streamed without losing data.
	ErrUnsupported = errors.New("unsupported source configuration")
)

// Dialer opens the worker's connections to its source.
type Dialer struct {
	// Source is the task's source, with the account to log in with and the replica server id
	// the worker registers with (two readers with one id knock each other off the server).
	Source api.Source
	// ReplicaName is the host name the worker registers with (SHOW SLAVE HOSTS shows it);
	// default "dts".
	ReplicaName string
	// MaxPacket bounds one packet from the server (default DefaultMaxPacket): a row event or a
	// result row larger than this fails the task instead of the worker's memory.
	MaxPacket int
}

func (d Dialer) replicaName() string {
	if d.ReplicaName == "" {
		return "dts"
	}
	return d.ReplicaName
}

// Timeouts of the source connections. Every read and write of a packet has one, so a server
// that stops answering fails the session instead of hanging it.
const (
	dialTimeout  = 10 * time.Second
	queryTimeout = 2 * time.Minute
)

// tlsMode is the source's TLS mode ("" when the connection is not encrypted).
func (d Dialer) tlsMode() string {
	t := d.Source.TLS
	switch {
	case t == nil || t.Mode == api.TLSDisabled:
		return ""
	case t.Mode == "":
		return api.TLSPreferred
	}
	return t.Mode
}

// tlsConfig is the TLS configuration of the source's mode, nil without TLS. preferred and
// required encrypt without checking who answers; verify_ca checks the certificate chains to
// the task's CAs (or the system's); verify_identity also that it names the host.
func (d Dialer) tlsConfig() (*tls.Config, error) {
	mode := d.tlsMode()
	if mode == "" {
		return nil, nil
	}
	cfg := &tls.Config{ServerName: d.Source.Host, MinVersion: tls.VersionTLS12}
	var roots *x509.CertPool
	if d.Source.TLS.CAPEM != "" {
		pool, err := api.CertPool(d.Source.TLS.CAPEM)
		if err != nil {
			return nil, fmt.Errorf("source.tls.ca_pem: %w", err)
		}
		roots = pool
	}
	switch mode {
	case api.TLSPreferred, api.TLSRequired:
		cfg.InsecureSkipVerify = true
	case api.TLSVerifyCA:
		// Go verifies the chain and the name together: check the chain alone.
		cfg.InsecureSkipVerify = true
		cfg.VerifyConnection = func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return errors.New("the source sent no certificate")
			}
			inter := x509.NewCertPool()
			for _, c := range cs.PeerCertificates[1:] {
				inter.AddCert(c)
			}
			_, err := cs.PeerCertificates[0].Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter})
			return err
		}
	case api.TLSVerifyIdentity:
		cfg.RootCAs = roots
	}
	return cfg, nil
}

// guardedDial dials the source with a timeout and guards the connections (see guardConn),
// which speak TLS as the source's mode asks; they fail at once when life ends. Its fault holds
// what a guard refused.
type guardedDial struct {
	life      context.Context
	d         Dialer
	tlsMode   string
	tlsConfig *tls.Config
	fault     fault
}

func (d Dialer) guarded(life context.Context) (*guardedDial, error) {
	cfg, err := d.tlsConfig()
	if err != nil {
		return nil, err
	}
	return &guardedDial{life: life, d: d, tlsMode: d.tlsMode(), tlsConfig: cfg}, nil
}

func (g *guardedDial) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	nd := &net.Dialer{Timeout: dialTimeout, KeepAlive: 30 * time.Second}
	c, err := nd.DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	return guard(g.life, c, addr, g.d.MaxPacket, &g.fault, g.tlsMode, g.tlsConfig), nil
}

// Connect opens a client connection for queries. It fails every call once ctx ends. With
// source.tls.mode preferred and a server that offers no TLS, it connects without.
func (d Dialer) Connect(ctx context.Context) (*client.Conn, error) {
	c, _, err := d.Resolve(ctx)
	return c, err
}

// Resolve connects like Connect and returns the Dialer as it connected: with a preferred TLS
// mode settled to required (the server offers TLS) or disabled, so that the binlog connection
// does what the query connection did.
func (d Dialer) Resolve(ctx context.Context) (*client.Conn, Dialer, error) {
	c, err := d.connect(ctx)
	if errors.Is(err, errNoTLSOffered) {
		d.Source.TLS = &api.SourceTLS{Mode: api.TLSDisabled}
		c, err = d.connect(ctx)
	} else if err == nil && d.tlsMode() == api.TLSPreferred {
		t := *d.Source.TLS
		t.Mode = api.TLSRequired
		d.Source.TLS = &t
	}
	return c, d, err
}

func (d Dialer) connect(ctx context.Context) (*client.Conn, error) {
	g, err := d.guarded(ctx)
	if err != nil {
		return nil, err
	}
	mode := g.tlsMode
	src := d.Source
	dctx, cancel := context.WithTimeout(ctx, dialTimeout)
	defer cancel()
	// The guard speaks the TLS (see guardConn): go-mysql is given none.
	c, err := client.ConnectWithDialer(dctx, "tcp", src.Addr(), src.Username, src.Password, "", g.dial, func(c *client.Conn) error {
		c.ReadTimeout, c.WriteTimeout = queryTimeout, queryTimeout
		return nil
	})
	if err != nil {
		err = classify(fmt.Errorf("connect to %s as %q: %w", src.Addr(), src.Username, tlsHint(g.fault.explain(err), mode)))
		if mode == "" && errors.Is(err, ErrAccessDenied) && g.fault.tlsOffered() {
			err = fmt.Errorf("%w; the source offers TLS and may require it (require_secure_transport, or an account created with REQUIRE SSL): set source.tls.mode", err)
		}
		return nil, err
	}
	// TIMESTAMP values read by queries must match the binlog's, which the reader writes in UTC.
	if _, err := c.Execute("SET time_zone = '+00:00'"); err != nil {
		c.Close()
		return nil, classify(fmt.Errorf("set session time zone on %s: %w", src.Addr(), g.fault.explain(err)))
	}
	return c, nil
}

// tlsHint says what to fix when the TLS handshake with the source failed.
func tlsHint(err error, mode string) error {
	var unknown x509.UnknownAuthorityError
	var hostname x509.HostnameError
	var invalid x509.CertificateInvalidError
	switch {
	case mode == "" || err == nil:
		return err
	case errors.As(err, &unknown):
		return fmt.Errorf("%w: %w: the source's certificate is not signed by source.tls.ca_pem (or a system CA): give the CA that signed it", ErrTLSVerify, err)
	case errors.As(err, &hostname):
		return fmt.Errorf("%w: %w: the source's certificate does not name source.host: connect by a name it carries, or use mode verify_ca", ErrTLSVerify, err)
	case errors.As(err, &invalid):
		return fmt.Errorf("%w: %w", ErrTLSVerify, err)
	}
	return err
}

// ErrTLSVerify: the source's TLS certificate does not verify with the task's settings.
var ErrTLSVerify = errors.New("the source's certificate does not verify")

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

// ErrServerIDInUse means another replica of the source registered with the task's server id:
// two replicas with one id disconnect each other for ever.
var ErrServerIDInUse = errors.New("replica server id in use")

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
		return classifyDump(me, err)
	}
	return err
}

// classifyDump sorts the server's error 1236, which covers every reason a binlog dump stops:
// the server has only its message to tell them apart.
func classifyDump(me *mysql.MyError, err error) error {
	msg := strings.ToLower(me.Message)
	has := func(words ...string) bool {
		for _, w := range words {
			if strings.Contains(msg, w) {
				return true
			}
		}
		return false
	}
	switch {
	case has("purged", "could not find first log file", "could not find gtid state", "too old"):
		return fmt.Errorf("%w: %w", ErrPurged, err)
	case has("same server_uuid", "same server_id", "same server id"):
		return fmt.Errorf("%w: %w; another replica connected with this task's server id and the source dropped this one: give the task a server id no other replica uses (source.server_id)", ErrServerIDInUse, err)
	case has("max_allowed_packet", "max_packet"):
		return fmt.Errorf("%w: %w; an event is larger than the source's max_allowed_packet allows to send: raise max_allowed_packet on the source", ErrUnsupported, err)
	case has("not in the master's binlog", "which is not in the", "is not in the binlog", "gtid", "not found"):
		return fmt.Errorf("%w: %w; the source does not have the task's position in its binlog (was the source replaced, restored or its binlog reset?): resubmit the task to start afresh", ErrBadPosition, err)
	}
	return fmt.Errorf("the source stopped sending its binlog (error 1236): %w", err)
}

// CheckServerID fails with ErrServerIDInUse when another replica of the source registered with
// server id id: the two would disconnect each other for ever. self is the host name this worker
// registers with, so its own earlier registration is not mistaken for another replica. An
// error without ErrServerIDInUse means the replicas could not be listed (a missing privilege).
func CheckServerID(c *client.Conn, id uint32, self string) error {
	r, err := c.Execute("SHOW SLAVE HOSTS")
	var me *mysql.MyError
	if errors.As(err, &me) && me.Code == mysql.ER_PARSE_ERROR {
		// MySQL 8.4 knows only the new name (which MariaDB does not know).
		r, err = c.Execute("SHOW REPLICAS")
	}
	if err != nil {
		return fmt.Errorf("list the source's replicas: %w", err)
	}
	col := func(names ...string) int {
		for i, f := range r.Fields {
			for _, n := range names {
				if strings.EqualFold(string(f.Name), n) {
					return i
				}
			}
		}
		return -1
	}
	idCol, hostCol, portCol := col("Server_id"), col("Host"), col("Port")
	if idCol < 0 {
		return nil
	}
	for i := range r.RowNumber() {
		sid, _ := r.GetUint(i, idCol)
		if uint32(sid) != id {
			continue
		}
		host := ""
		if hostCol >= 0 {
			host, _ = r.GetString(i, hostCol)
		}
		if host == self {
			continue
		}
		port := int64(0)
		if portCol >= 0 {
			port, _ = r.GetInt(i, portCol)
		}
		return fmt.Errorf("%w: server id %d is already used by another replica of the source (host %q, port %d): two replicas with one server id disconnect each other; give the task a free id (source.server_id)", ErrServerIDInUse, id, host, port)
	}
	return nil
}

// Describer reads table definitions for the reader on a connection of its own, reconnecting
// once when that connection has gone. It owns the connection: Close closes it.
type Describer struct {
	d    Dialer
	conn *client.Conn
}

// NewDescriber returns a Describer that connects when first asked.
func NewDescriber(d Dialer) *Describer { return &Describer{d: d} }

// Describe reads one table's definition.
func (d *Describer) Describe(ctx context.Context, db, table string) (*schema.Table, error) {
	var t *schema.Table
	err := d.query(ctx, func(c *client.Conn) (err error) {
		t, err = schema.Describe(c, db, table)
		return err
	})
	return t, err
}

// JSONChecks reads the json_valid checks of the tables of dbs (of table only, if not empty).
func (d *Describer) JSONChecks(ctx context.Context, dbs []string, table string) ([]schema.JSONCheck, error) {
	var checks []schema.JSONCheck
	err := d.query(ctx, func(c *client.Conn) (err error) {
		checks, err = schema.JSONChecks(c, dbs, table)
		return err
	})
	return checks, err
}

// query runs f on the connection, connecting when there is none. The connection may have gone
// (a server restart, an idle timeout): a failure other than a missing table tries once more on a
// new one.
func (d *Describer) query(ctx context.Context, f func(*client.Conn) error) error {
	if d.conn != nil {
		err := f(d.conn)
		if err == nil || errors.Is(err, schema.ErrNoTable) {
			return err
		}
		d.Close()
	}
	c, err := d.d.Connect(ctx)
	if err != nil {
		return err
	}
	d.conn = c
	return f(d.conn)
}

// Close closes the connection, if any.
func (d *Describer) Close() {
	if d.conn != nil {
		d.conn.Close()
		d.conn = nil
	}
}

// Retention is how long the source keeps its binlog files (binlog_expire_logs_seconds, or
// expire_logs_days on older servers); 0 when it purges none by age.
func Retention(c *client.Conn) (time.Duration, error) {
	if r, err := c.Execute("SELECT @@binlog_expire_logs_seconds"); err == nil {
		if v, err := r.GetFloat(0, 0); err == nil && v > 0 {
			return time.Duration(v * float64(time.Second)), nil
		}
	}
	r, err := c.Execute("SELECT @@expire_logs_days")
	if err != nil {
		return 0, nil // neither variable: a server that does not purge by age
	}
	days, err := r.GetFloat(0, 0)
	if err != nil {
		return 0, fmt.Errorf("read expire_logs_days: %w", err)
	}
	return time.Duration(days * 24 * float64(time.Hour)), nil
}
