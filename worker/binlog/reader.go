package binlog

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/go-mysql-org/go-mysql/mysql"
	"github.com/go-mysql-org/go-mysql/replication"

	"github.com/dtsrepl/dts/worker/change"
	"github.com/dtsrepl/dts/worker/schema"
)

// Handler receives a transaction's changes in binlog order, then its end. Both run on the
// goroutine that called Reader.Run, so a slow handler slows the reader (backpressure). ctx is
// Run's.
type Handler interface {
	// Change receives one row change of a table in scope, or a DDL on one. The handler owns ev.
	Change(ctx context.Context, ev *change.Event) error
	// Commit ends a transaction, whether or not it had changes in scope.
	Commit(ctx context.Context, end TxnEnd) error
	// Idle is called when the server reports it has nothing new (a heartbeat).
	Idle(ctx context.Context)
}

// TxnEnd is the end of a transaction.
type TxnEnd struct {
	// Pos is the position after the transaction: where to resume so it is not read again.
	Pos Pos
	// Time is when the source committed it.
	Time time.Time
	XID  uint64
	// JSONColumns is the JSON column history at Pos (nil where the binlog types JSON itself):
	// a reader started at Pos must start with it.
	JSONColumns *JSONColumns
}

// Scope decides which tables' changes the reader decodes and passes on.
type Scope interface {
	Table(db, table string) bool
	Database(db string) bool
}

// TableDescriber reads a table's definition from the server, for what row metadata lacks.
// *Describer is the one the worker uses.
type TableDescriber interface {
	Describe(ctx context.Context, db, table string) (*schema.Table, error)
	// JSONChecks reads the json_valid checks of the tables of dbs (of table only, if not
	// empty): MariaDB's JSON columns.
	JSONChecks(ctx context.Context, dbs []string, table string) ([]schema.JSONCheck, error)
}

// Config configures a Reader.
type Config struct {
	Dialer Dialer
	Server *Server
	// Start is where to read from: the position after the last delivered transaction.
	Start Pos
	// Scope must be safe for concurrent use: the reader calls it from go-mysql's parsing
	// goroutine and from Run's (filter.Scope is).
	Scope Scope
	// Describe is used from Run's goroutine only. Without it the reader knows no MariaDB JSON
	// column, and without full row metadata it cannot read the binlog.
	Describe TableDescriber
	// JSONColumns is MariaDB's JSON column history at Start (see JSONColumns); nil: the reader
	// reads each database's from the server when it first meets the database. Unused for MySQL,
	// whose binlog types JSON itself.
	JSONColumns *JSONColumns
	Logger      *slog.Logger
}

// Reader streams the binlog from a position.
type Reader struct {
	cfg Config
	log *slog.Logger

	// scopeCache remembers, by table id, whether the table is in scope; go-mysql's parsing
	// goroutine alone uses it.
	scopeCache map[uint64]scopeEntry

	tables map[uint64]*tableState
	ddl    ddlParser
	// json is the JSON column history at the reader's position; nil for MySQL.
	json *JSONColumns
	// warnedTooLarge is set once the reader has said the history is too large to save.
	warnedTooLarge bool

	file string
	// gtid is the current transaction's GTID ("0-1-5", "<uuid>:5"), empty without GTIDs.
	gtid string
	// committed is the current transaction's commit time from its GTID event (MySQL 8 logs it
	// to the microsecond), zero when the server gives none.
	committed time.Time
	// skipping is set while the reader passes over a transaction the start set already holds:
	// MySQL sends none, but a server that ignores the set in the dump request (Dolt) replays
	// its whole history.
	skipping bool
	// payloadEnd is the end offset of a MySQL compressed transaction payload while its inner
	// events (which carry no offsets of their own) are handled.
	payloadEnd uint32
}

type scopeEntry struct {
	tme *replication.TableMapEvent
	in  bool
}

// NewReader returns a reader; Run starts it.
func NewReader(cfg Config) *Reader {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	r := &Reader{
		cfg:        cfg,
		log:        cfg.Logger,
		scopeCache: map[uint64]scopeEntry{},
		tables:     map[uint64]*tableState{},
		file:       cfg.Start.File,
		json:       cfg.JSONColumns,
	}
	if r.json == nil && cfg.Server != nil && cfg.Server.Flavor == mysql.MariaDBFlavor {
		r.json = NewJSONColumns()
	}
	return r
}

// Run reads until ctx ends or an error; it returns the error (ctx.Err() on cancellation).
// Errors the operator must fix wrap ErrPurged, ErrAccessDenied or ErrUnsupported.
func (r *Reader) Run(ctx context.Context, h Handler) error {
	src := r.cfg.Dialer
	// The guard speaks the TLS (see guardConn): go-mysql is given none.
	d, err := src.guarded(ctx)
	if err != nil {
		return err
	}
	syncer := replication.NewBinlogSyncer(replication.BinlogSyncerConfig{
		ServerID:  src.Source.ServerID,
		Flavor:    r.cfg.Server.Flavor,
		Host:      src.Source.Host,
		Port:      uint16(src.Source.Port),
		User:      src.Source.Username,
		Password:  src.Source.Password,
		Charset:   "utf8mb4",
		Localhost: src.replicaName(),
		Dialer:    d.dial,
		// Times come as time.Time and are formatted by the reader: go-mysql formats them with
		// fmt.Sprintf, a measurable share of decoding.
		ParseTime:             true,
		RenderJSONAsMySQLText: true,
		HeartbeatPeriod:       2 * time.Second,
		ReadTimeout:           30 * time.Second,
		DisableRetrySync:      true,
		EventCacheCount:       512,
		Logger:                quiet(r.log),
		RowsEventDecodeFunc:   r.decodeRows,
	})
	defer syncer.Close()

	var streamer *replication.BinlogStreamer
	start := r.cfg.Start
	switch {
	case start.GTID != nil:
		streamer, err = syncer.StartSyncGTID(start.GTID.Clone())
	case start.File != "":
		streamer, err = syncer.StartSync(mysql.Position{Name: start.File, Pos: start.Offset})
	default:
		return errors.New("binlog reader: no start position")
	}
	if err != nil {
		return classify(fmt.Errorf("start binlog stream at %s: %w", start, d.fault.explain(err)))
	}
	for {
		ev, err := streamer.GetEvent(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return r.dumpError(fmt.Errorf("read binlog after %s: %w", start, d.fault.explain(err)))
		}
		if err := r.handle(ctx, ev, h); err != nil {
			return err
		}
	}
}

// dumpError classifies an error of the binlog stream. A server that ignores the GTID set of the
// dump request (Dolt) may report a purge of transactions relative to an empty set (its message
// quotes the set the replica sent as empty), although the reader sent a set holding them: that
// is no purge of the task's position, and the reader tries again.
func (r *Reader) dumpError(err error) error {
	err = classify(err)
	var me *mysql.MyError
	if errors.Is(err, ErrPurged) && r.cfg.Start.GTID != nil && !r.cfg.Start.GTID.IsEmpty() &&
		errors.As(err, &me) && strings.Contains(me.Message, "sent by the replica is ''") {
		return fmt.Errorf("the source reported a purge relative to an empty GTID set, not the task's %s (it ignores the set in the dump request): %s", r.cfg.Start, me.Message)
	}
	return err
}

// decodeRows runs on go-mysql's parsing goroutine: it skips decoding the rows of tables out of
// scope, which is most of the work for a task that streams a few tables of a busy server.
func (r *Reader) decodeRows(e *replication.RowsEvent, data []byte) error {
	pos, err := e.DecodeHeader(data)
	if err != nil {
		return err
	}
	if !r.inScope(e.TableID, e.Table) {
		return nil
	}
	return e.DecodeData(pos, data)
}

// inScope runs on go-mysql's parsing goroutine only, the one user of scopeCache.
func (r *Reader) inScope(id uint64, tme *replication.TableMapEvent) bool {
	if ent, ok := r.scopeCache[id]; ok && ent.tme == tme {
		return ent.in
	}
	in := r.cfg.Scope.Table(string(tme.Schema), string(tme.Table))
	if len(r.scopeCache) > 10000 {
		clear(r.scopeCache)
	}
	r.scopeCache[id] = scopeEntry{tme: tme, in: in}
	return in
}

func (r *Reader) handle(ctx context.Context, ev *replication.BinlogEvent, h Handler) error {
	hdr := ev.Header
	switch e := ev.Event.(type) {
	case *replication.RotateEvent:
		r.file = fileName(e.NextLogName)
	case *replication.GTIDEvent:
		next, err := e.GTIDNext()
		if err != nil {
			return fmt.Errorf("binlog GTID event at %s: %w", eventPos(r.file, hdr), err)
		}
		r.gtid = next.String()
		r.committed = e.ImmediateCommitTime()
		r.skipping = r.cfg.Start.GTID != nil && r.cfg.Start.GTID.Contain(next)
	case *replication.MariadbGTIDEvent:
		r.gtid = e.GTID.String()
		r.committed, r.skipping = time.Time{}, false
	case *replication.RowsEvent:
		if len(e.Rows) == 0 || r.skipping {
			return nil
		}
		return r.rows(ctx, hdr, e, h)
	case *replication.XIDEvent:
		if r.skipping {
			r.skipping = false
			return nil
		}
		return h.Commit(ctx, r.txnEnd(hdr, e.GSet, e.XID))
	case *replication.QueryEvent:
		if r.skipping {
			if verb := strings.ToUpper(firstWord(stripComments(strings.TrimSpace(string(e.Query))))); verb != "BEGIN" {
				r.skipping = false // a COMMIT, or a DDL: each ends its transaction
			}
			return nil
		}
		return r.query(ctx, hdr, e, h)
	case *replication.TransactionPayloadEvent:
		r.payloadEnd = hdr.LogPos
		defer func() { r.payloadEnd = 0 }()
		for _, inner := range e.Events {
			if err := r.handle(ctx, inner, h); err != nil {
				return err
			}
		}
	case *replication.HeartbeatEvent:
		// The server has nothing newer: the reader is caught up.
		h.Idle(ctx)
	}
	return nil
}

// txnEnd is the end of the transaction that ends with the event hdr heads.
func (r *Reader) txnEnd(hdr *replication.EventHeader, gset mysql.GTIDSet, xid uint64) TxnEnd {
	return TxnEnd{Pos: r.posAfter(hdr, gset), Time: r.commitTime(hdr), XID: xid, JSONColumns: r.json}
}

func (r *Reader) posAfter(hdr *replication.EventHeader, gset mysql.GTIDSet) Pos {
	p := Pos{Flavor: r.cfg.Server.Flavor, File: r.file, Offset: hdr.LogPos}
	if r.payloadEnd != 0 {
		p.Offset = r.payloadEnd
	}
	if r.cfg.Start.GTID != nil {
		p.GTID = gset
		if p.GTID == nil {
			// A transaction before the first GTID event of the stream cannot happen when
			// starting from a GTID set; keep the start set rather than lose the position.
			p.GTID = r.cfg.Start.GTID.Clone()
		}
	}
	return p
}

func eventTime(hdr *replication.EventHeader) time.Time {
	return time.Unix(int64(hdr.Timestamp), 0)
}

// commitTime is the current transaction's commit time: its GTID event's where the server logs
// one, else the event header's (whole seconds).
func (r *Reader) commitTime(hdr *replication.EventHeader) time.Time {
	if !r.committed.IsZero() {
		return r.committed
	}
	return eventTime(hdr)
}

// fileName is a Rotate event's binlog file name, cut at the first byte no file name has: a
// server may log more (Dolt's first Rotate carries the event's checksum after the name).
func fileName(b []byte) string {
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-' || c == '/') {
			return string(b[:i])
		}
	}
	return string(b)
}

func eventPos(file string, hdr *replication.EventHeader) string {
	start := hdr.LogPos - hdr.EventSize
	if hdr.LogPos < hdr.EventSize {
		start = 0
	}
	return file + ":" + strconv.FormatUint(uint64(start), 10)
}

func (r *Reader) rows(ctx context.Context, hdr *replication.EventHeader, e *replication.RowsEvent, h Handler) error {
	ts, err := r.table(ctx, e.TableID, e.Table)
	if err != nil {
		return err
	}
	var kind change.Kind
	step := 1
	switch e.Type() {
	case replication.EnumRowsEventTypeInsert:
		kind = change.Insert
	case replication.EnumRowsEventTypeUpdate:
		kind, step = change.Update, 2
	case replication.EnumRowsEventTypeDelete:
		kind = change.Delete
	default:
		if hdr.EventType == replication.PARTIAL_UPDATE_ROWS_EVENT {
			return fmt.Errorf("%w: the source logs partial JSON updates; set binlog_row_value_options = '' so updates carry whole rows", ErrUnsupported)
		}
		return nil
	}
	when := eventTime(hdr)
	pos := eventPos(r.file, hdr)
	for i := 0; i+step <= len(e.Rows); i += step {
		ev := &change.Event{Kind: kind, Table: ts.table, Time: when, Pos: pos, GTID: r.gtid}
		for j := i; j < i+step; j++ {
			if skipped := e.SkippedColumns[j]; len(skipped) > 0 {
				return fmt.Errorf("%w: a row image of %s.%s lacks columns; set binlog_row_image = FULL", ErrUnsupported, ts.table.Schema, ts.table.Name)
			}
			if err := ts.normalize(e.Rows[j]); err != nil {
				return err
			}
		}
		switch kind {
		case change.Insert:
			ev.After = e.Rows[i]
		case change.Delete:
			ev.Before = e.Rows[i]
		case change.Update:
			ev.Before, ev.After = e.Rows[i], e.Rows[i+1]
		}
		if err := h.Change(ctx, ev); err != nil {
			return err
		}
	}
	return nil
}

func (r *Reader) query(ctx context.Context, hdr *replication.EventHeader, e *replication.QueryEvent, h Handler) error {
	q := strings.TrimSpace(string(e.Query))
	verb := strings.ToUpper(firstWord(stripComments(q)))
	switch verb {
	case "BEGIN", "SAVEPOINT", "XA":
		return nil
	case "COMMIT", "ROLLBACK":
		return h.Commit(ctx, r.txnEnd(hdr, e.GSet, 0))
	}
	db := string(e.Schema)
	st, isDDL := r.ddl.parse(q)
	if isDDL {
		targets := st.targets(db)
		pos := eventPos(r.file, hdr)
		if err := r.followJSON(ctx, db, st, pos); err != nil {
			return err
		}
		r.forget(targets)
		when := eventTime(hdr)
		for _, t := range targets {
			if !r.targetInScope(t) {
				continue
			}
			ev := &change.Event{Kind: change.DDL, Schema: t.db, SQL: q, Time: when, Pos: pos, GTID: r.gtid}
			if t.table != "" {
				ev.Table = &change.Table{Schema: t.db, Name: t.table}
			}
			if err := h.Change(ctx, ev); err != nil {
				return err
			}
		}
	}
	// Every statement logged as a query outside BEGIN..COMMIT is a transaction of its own.
	return h.Commit(ctx, r.txnEnd(hdr, e.GSet, 0))
}

func (r *Reader) targetInScope(t ddlTarget) bool {
	if t.table == "" {
		return r.cfg.Scope.Database(t.db)
	}
	return r.cfg.Scope.Table(t.db, t.table)
}

// forget drops cached table layouts a DDL may have changed.
func (r *Reader) forget(targets []ddlTarget) {
	for id, ts := range r.tables {
		for _, t := range targets {
			if ts.table.Schema == t.db && (t.table == "" || ts.table.Name == t.table) {
				delete(r.tables, id)
			}
		}
	}
}

func firstWord(s string) string {
	for i, c := range s {
		if c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '(' || c == ';' {
			return s[:i]
		}
	}
	return s
}

// quiet keeps go-mysql's chatty logging at warnings and above.
func quiet(l *slog.Logger) *slog.Logger {
	return slog.New(levelFilter{h: l.Handler(), min: slog.LevelWarn})
}

type levelFilter struct {
	h   slog.Handler
	min slog.Level
}

func (f levelFilter) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= f.min && f.h.Enabled(ctx, l)
}
func (f levelFilter) Handle(ctx context.Context, r slog.Record) error { return f.h.Handle(ctx, r) }
func (f levelFilter) WithAttrs(a []slog.Attr) slog.Handler {
	return levelFilter{h: f.h.WithAttrs(a), min: f.min}
}
func (f levelFilter) WithGroup(n string) slog.Handler {
	return levelFilter{h: f.h.WithGroup(n), min: f.min}
}
