package precheck

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/go-mysql-org/go-mysql/client"
	"github.com/go-mysql-org/go-mysql/mysql"

	"github.com/dtsrepl/dts/api"
	"github.com/dtsrepl/dts/worker/binlog"
)

// connect opens the source connection the worker would, and reports reachability, TLS and the
// account. It returns false when nothing more can be checked on the source.
func (r *run) connect(ctx context.Context) bool {
	d := SourceDialer(r.spec, r.in.Creds, r.in.TaskID)
	addr := d.Source.Addr()
	if d.Source.Username == "" {
		r.add("source.credentials", api.CheckFail, "an account to log in with", "the task gives no source.username and the dispatcher has no default account for "+d.Source.Host, "give source.username and source.password")
		return false
	}
	conn, resolved, err := r.resolve(ctx, d)
	if err != nil {
		switch {
		case IsUnreachable(err):
			r.unreachable("source.reachable", "the source answers", fmt.Sprintf("%s cannot be reached from the dispatcher: %v", addr, err),
				"check the host and port, and that the source accepts connections from the dispatcher's and the workers' hosts; the other source checks did not run")
		case errors.Is(err, binlog.ErrAccessDenied):
			r.add("source.reachable", api.CheckPass, "the source answers", addr+" answers", "")
			r.add("source.credentials", api.CheckFail, "the account logs in", fmt.Sprintf("%v", err), "check source.username and source.password, and the host the account may log in from")
		case errors.Is(err, binlog.ErrTLSVerify), errors.Is(err, binlog.ErrNoTLS), errors.Is(err, binlog.ErrInsecureAuth):
			r.add("source.reachable", api.CheckPass, "the source answers", addr+" answers", "")
			r.add("source.tls", api.CheckFail, "TLS to the source", err.Error(), "fix source.tls (mode, ca_pem) or the server's TLS settings")
		default:
			r.add("source.reachable", api.CheckFail, "the source answers", fmt.Sprintf("%s: %v", addr, err), "check that source.host and source.port name a MySQL or MariaDB server")
		}
		return false
	}
	r.conn = conn
	r.add("source.reachable", api.CheckPass, "the source answers", addr+" answers", "")
	mode := "disabled"
	if t := resolved.Source.TLS; t != nil && t.Mode != "" {
		mode = t.Mode
	}
	switch {
	case r.spec.Source.TLS == nil || r.spec.Source.TLS.Mode == api.TLSDisabled:
		r.add("source.tls", api.CheckPass, "TLS to the source", "not asked for (source.tls)", "")
	case mode == api.TLSDisabled:
		r.add("source.tls", api.CheckWarn, "TLS to the source", "source.tls.mode is preferred and the source offers no TLS: the connection is not encrypted", "enable TLS on the source, or set source.tls.mode to required to refuse plain connections")
	default:
		r.add("source.tls", api.CheckPass, "TLS to the source", "encrypted, mode "+mode, "")
	}
	r.add("source.credentials", api.CheckPass, "the account logs in", fmt.Sprintf("logged in as %q", d.Source.Username), "")
	return true
}

// errNoGreeting: the source accepted the connection and said nothing in time.
var errNoGreeting = errors.New("the server accepted the connection but did not complete the MySQL handshake in time")

// resolve connects like the worker, bounded by the run's step bound: binlog's own handshake
// bound is longer than a submit should wait for a server that accepts and says nothing.
func (r *run) resolve(ctx context.Context, d binlog.Dialer) (*client.Conn, binlog.Dialer, error) {
	type result struct {
		conn *client.Conn
		d    binlog.Dialer
		err  error
	}
	done := make(chan result, 1)
	go func() {
		// ctx is the connection's life: binlog's guard fails it once ctx ends.
		c, rd, err := d.Resolve(ctx)
		done <- result{c, rd, err}
	}()
	t := time.NewTimer(r.step())
	defer t.Stop()
	select {
	case v := <-done:
		return v.conn, v.d, v.err
	case <-t.C:
		go func() {
			// Run's end cancels ctx, which ends the connection attempt.
			if v := <-done; v.conn != nil {
				v.conn.Close()
			}
		}()
		return nil, d, fmt.Errorf("connect to %s: %w (within %s)", d.Source.Addr(), errNoGreeting, r.step())
	}
}

// query runs one statement within a step's bound.
func (r *run) query(ctx context.Context, q string, args ...any) (*mysql.Result, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	type result struct {
		res *mysql.Result
		err error
	}
	// The connection fails once ctx ends (binlog's guard); the step bound is a shorter one.
	done := make(chan result, 1)
	go func() {
		res, err := r.conn.Execute(q, args...)
		done <- result{res, err}
	}()
	t := time.NewTimer(stepTimeout)
	defer t.Stop()
	select {
	case v := <-done:
		return v.res, v.err
	case <-t.C:
		r.conn.Close()
		v := <-done
		if v.err == nil {
			v.err = errors.New("timed out")
		}
		return nil, fmt.Errorf("%s: no answer within %s: %w", q, stepTimeout, v.err)
	}
}

// variable reads one server variable as a string; ok is false when the server has none.
func (r *run) variable(ctx context.Context, name string) (string, bool) {
	res, err := r.query(ctx, "SELECT @@"+name)
	if err != nil || res.RowNumber() == 0 {
		return "", false
	}
	v, err := res.GetString(0, 0)
	return v, err == nil
}

// sourceSettings checks the binlog settings one by one, so that every wrong one is named.
func (r *run) sourceSettings(ctx context.Context) {
	version, _ := r.variable(ctx, "version")
	r.flavor = mysql.MySQLFlavor
	if strings.Contains(strings.ToLower(version), "mariadb") {
		r.flavor = mysql.MariaDBFlavor
	}
	logBin, _ := r.variable(ctx, "log_bin")
	if logBin != "1" && !strings.EqualFold(logBin, "ON") {
		r.add("source.log_bin", api.CheckFail, "the binary log is on", "log_bin is "+orUnknown(logBin), "start the server with --log-bin (and binlog_format=ROW, binlog_row_image=FULL)")
	} else {
		r.add("source.log_bin", api.CheckPass, "the binary log is on", "log_bin is ON", "")
	}
	if f, _ := r.variable(ctx, "binlog_format"); !strings.EqualFold(f, "ROW") {
		r.add("source.binlog_format", api.CheckFail, "binlog_format is ROW", "binlog_format is "+orUnknown(f)+": dts reads row events only", "SET GLOBAL binlog_format = 'ROW' (and in the server config), then reconnect the writers")
	} else {
		r.add("source.binlog_format", api.CheckPass, "binlog_format is ROW", "ROW", "")
	}
	if img, _ := r.variable(ctx, "binlog_row_image"); !strings.EqualFold(img, "FULL") {
		r.add("source.binlog_row_image", api.CheckFail, "binlog_row_image is FULL", "binlog_row_image is "+orUnknown(img)+": updates and deletes would carry only some columns, and dts sends whole rows", "SET GLOBAL binlog_row_image = 'FULL' (and in the server config)")
	} else {
		r.add("source.binlog_row_image", api.CheckPass, "binlog_row_image is FULL", "FULL", "")
	}
	if meta, ok := r.variable(ctx, "binlog_row_metadata"); !ok || !strings.EqualFold(meta, "FULL") {
		detail := "binlog_row_metadata is " + orUnknown(meta) + ": column names come from the current table definitions, so a schema change in a backlog stops the task rather than shift columns"
		if !ok {
			detail = "the server has no binlog_row_metadata (MySQL before 8.0.1, MariaDB before 10.5): column names come from the current table definitions, so a schema change in a backlog stops the task"
		}
		r.add("source.binlog_row_metadata", api.CheckWarn, "binlog_row_metadata is FULL", detail, "SET GLOBAL binlog_row_metadata = 'FULL' where the server has it")
	} else {
		r.add("source.binlog_row_metadata", api.CheckPass, "binlog_row_metadata is FULL", "FULL: the binlog carries column names", "")
	}
	switch {
	case r.flavor == mysql.MariaDBFlavor:
		r.add("source.gtid", api.CheckPass, "GTID positions", "MariaDB: positions are GTID sets", "")
	default:
		mode, _ := r.variable(ctx, "gtid_mode")
		if strings.EqualFold(mode, "ON") {
			r.add("source.gtid", api.CheckPass, "GTID positions", "gtid_mode is ON: positions are GTID sets", "")
		} else {
			r.add("source.gtid", api.CheckWarn, "GTID positions", "gtid_mode is "+orUnknown(mode)+": positions are file:offset, which another server (a failover, a restored backup) does not have", "turn gtid_mode ON (with enforce_gtid_consistency) to keep positions across failovers")
		}
	}
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}

// grants are the account's global privileges, as SHOW GRANTS lists them. The lines themselves
// are never shown: they may hold the password's hash.
type grants struct {
	global map[string]bool
	all    bool
	roles  bool
}

func (r *run) readGrants(ctx context.Context) (*grants, error) {
	res, err := r.query(ctx, "SHOW GRANTS")
	if err != nil {
		return nil, err
	}
	g := &grants{global: map[string]bool{}}
	for i := range res.RowNumber() {
		line, _ := res.GetString(i, 0)
		up := strings.ToUpper(line)
		if !strings.HasPrefix(up, "GRANT ") {
			continue
		}
		privs, rest, ok := strings.Cut(up[len("GRANT "):], " ON ")
		if !ok {
			g.roles = true // GRANT `role` TO `user`
			continue
		}
		if !strings.HasPrefix(strings.TrimSpace(rest), "*.*") {
			continue
		}
		for _, p := range strings.Split(privs, ",") {
			p = strings.TrimSpace(p)
			g.global[p] = true
			if p == "ALL" || p == "ALL PRIVILEGES" {
				g.all = true
			}
		}
	}
	return g, nil
}

func (g *grants) has(names ...string) bool {
	if g.all {
		return true
	}
	for _, n := range names {
		if g.global[n] {
			return true
		}
	}
	return false
}

// privileges checks REPLICATION SLAVE and REPLICATION CLIENT: from SHOW GRANTS, and by running
// what REPLICATION CLIENT allows. SELECT is tried table by table in tableChecks.
func (r *run) privileges(ctx context.Context) {
	g, err := r.readGrants(ctx)
	if err != nil {
		r.add("source.privileges", api.CheckWarn, "the account's privileges", fmt.Sprintf("SHOW GRANTS failed: %v", err), "check the account has REPLICATION SLAVE, REPLICATION CLIENT and SELECT")
		return
	}
	var missing []string
	if !g.has("REPLICATION SLAVE", "REPLICATION REPLICA") {
		missing = append(missing, "REPLICATION SLAVE")
	}
	// REPLICATION CLIENT is BINLOG MONITOR since MariaDB 10.5; SHOW MASTER STATUS needs it.
	// What the server lets the account run decides; the grants are the fallback when the
	// statement fails for another reason.
	canMonitor := g.has("REPLICATION CLIENT", "BINLOG MONITOR", "SUPER")
	if _, err := r.query(ctx, "SHOW MASTER STATUS"); err != nil {
		if _, err2 := r.query(ctx, "SHOW BINARY LOG STATUS"); err2 != nil {
			var me *mysql.MyError
			if errors.As(err, &me) && (me.Code == mysql.ER_SPECIFIC_ACCESS_DENIED_ERROR || me.Code == mysql.ER_ACCESS_DENIED_ERROR) {
				canMonitor = false
			}
		} else {
			canMonitor = true
		}
	} else {
		canMonitor = true
	}
	if !canMonitor {
		missing = append(missing, "REPLICATION CLIENT")
	}
	switch {
	case len(missing) == 0:
		r.add("source.privileges", api.CheckPass, "REPLICATION SLAVE and REPLICATION CLIENT", "granted", "")
	case g.roles:
		r.add("source.privileges", api.CheckWarn, "REPLICATION SLAVE and REPLICATION CLIENT",
			"not granted to the account itself ("+strings.Join(missing, ", ")+"); it has roles, whose privileges SHOW GRANTS may not list", "make sure a default role grants "+strings.Join(missing, " and "))
	default:
		r.add("source.privileges", api.CheckFail, "REPLICATION SLAVE and REPLICATION CLIENT",
			"the account lacks "+strings.Join(missing, " and ")+": it cannot read the binlog", "GRANT "+strings.Join(missing, ", ")+" ON *.* TO the account")
	}
}

// serverID checks that no replica registered with the source has the task's server id.
func (r *run) serverID(ctx context.Context) {
	src := r.spec.Source
	if r.in.TaskID == 0 && src.ServerID == 0 {
		r.add("source.server_id", api.CheckPass, "the server id is free", "default: 1000000000 + the task id, checked against the source's replicas when the worker starts", "")
		return
	}
	id := src.EffectiveServerID(r.in.TaskID)
	self := SourceDialer(r.spec, r.in.Creds, r.in.TaskID).ReplicaName
	cctx, cancel := context.WithTimeout(ctx, stepTimeout)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- binlog.CheckServerID(r.conn, id, self) }()
	var err error
	select {
	case err = <-done:
	case <-cctx.Done():
		r.conn.Close()
		err = <-done
	}
	switch {
	case errors.Is(err, binlog.ErrServerIDInUse):
		r.add("source.server_id", api.CheckFail, "the server id is free", err.Error(), "give the task another source.server_id")
	case err != nil:
		r.add("source.server_id", api.CheckWarn, "the server id is free", fmt.Sprintf("the source's replicas could not be listed (%v)", err), "make sure no other replica of the source uses server id "+fmt.Sprint(id))
	default:
		r.add("source.server_id", api.CheckPass, "the server id is free", fmt.Sprintf("no other replica of the source registered with %d", id), "")
	}
}

// assumedCopyRate is the copy's rate when no rate limit bounds it, in rows per second: well
// under what the README's benchmark measures, so that the estimate errs long.
const assumedCopyRate = 20000

// retention compares the initial copy's estimated length with how long the source keeps its
// binlog: the copy streams from the position taken before it, which must still be there after.
func (r *run) retention(ctx context.Context) {
	var rows uint64
	for _, t := range r.tables {
		rows += t.check.RowsEstimate
	}
	rate := float64(assumedCopyRate)
	if rl := r.spec.RateLimit; rl != nil && rl.Rate > 0 && rl.Rate < rate {
		rate = rl.Rate
	}
	copySecs := float64(rows) / rate
	estimate := fmt.Sprintf("the copy of about %d rows takes %s at %.0f rows/s", rows, roundDuration(copySecs), rate)

	var secs float64
	how := ""
	if v, ok := r.variable(ctx, "binlog_expire_logs_seconds"); ok && v != "0" && v != "" {
		fmt.Sscan(v, &secs)
		how = "binlog_expire_logs_seconds = " + v
	} else if v, ok := r.variable(ctx, "expire_logs_days"); ok && v != "" {
		var days float64
		fmt.Sscan(v, &days)
		secs = days * 86400
		how = "expire_logs_days = " + v
	}
	oldest := ""
	if res, err := r.query(ctx, "SHOW BINARY LOGS"); err == nil && res.RowNumber() > 0 {
		first, _ := res.GetString(0, 0)
		oldest = fmt.Sprintf("; %s, the oldest %s", plural(res.RowNumber(), "binlog file"), first)
	}
	limits := ""
	for _, v := range []string{"max_binlog_total_size", "binlog_space_limit"} {
		if s, ok := r.variable(ctx, v); ok && s != "" && s != "0" {
			limits += fmt.Sprintf("; %s = %s also purges binlogs by size", v, s)
		}
	}
	const title = "the binlog outlasts the initial copy"
	fix := "raise binlog_expire_logs_seconds for the copy's duration, or copy faster (a higher rate_limit)"
	switch {
	case secs <= 0:
		st := api.CheckPass
		if limits != "" {
			st = api.CheckWarn
		}
		r.add("source.binlog_retention", st, title, estimate+"; binlogs are not expired by age"+oldest+limits, map[bool]string{true: "make sure the size limit keeps the copy's binlog", false: ""}[st == api.CheckWarn])
	case copySecs > secs:
		r.add("source.binlog_retention", api.CheckFail, title, fmt.Sprintf("%s, but the source keeps binlogs for %s (%s)%s%s: the position taken before the copy would be purged before the stream starts there", estimate, time.Duration(secs*float64(time.Second)).String(), how, oldest, limits), fix)
	case copySecs > secs/2 || limits != "":
		r.add("source.binlog_retention", api.CheckWarn, title, fmt.Sprintf("%s; the source keeps binlogs for %s (%s)%s%s: little headroom", estimate, time.Duration(secs*float64(time.Second)).String(), how, oldest, limits), fix)
	default:
		r.add("source.binlog_retention", api.CheckPass, title, fmt.Sprintf("%s; the source keeps binlogs for %s (%s)%s", estimate, time.Duration(secs*float64(time.Second)).String(), how, oldest), "")
	}
}

func roundDuration(secs float64) string {
	d := time.Duration(secs * float64(time.Second))
	switch {
	case d < time.Second:
		return "under a second"
	case d < time.Hour:
		return "about " + d.Round(time.Second).String()
	}
	return "about " + d.Round(time.Minute).String()
}
