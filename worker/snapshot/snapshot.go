// Package snapshot copies the existing rows of a task's tables, in primary-key order and in
// chunks, each chunk a unit the worker checkpoints, so a copy killed half-way resumes after the
// last chunk Kafka acknowledged. Each chunk is one short consistent read: no table locks, and no
// long transaction holding back purge on the source.
package snapshot

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/go-mysql-org/go-mysql/client"
	"github.com/go-mysql-org/go-mysql/mysql"

	"github.com/dtsrepl/dts/api"
	"github.com/dtsrepl/dts/worker/change"
	"github.com/dtsrepl/dts/worker/schema"
)

// Sink receives what the copy reads.
type Sink interface {
	// Row receives one copied row (a change.Snapshot event). ctx is Copy's.
	Row(ctx context.Context, ev *change.Event) error
	// Chunk ends a unit of rows: once they are all delivered, p is the copy's checkpoint.
	Chunk(ctx context.Context, p api.SnapshotProgress) error
}

// Conn is the source connection the copy reads with; *client.Conn satisfies it.
type Conn interface {
	schema.Querier
	Prepare(query string) (*client.Stmt, error)
	ExecuteSelectStreaming(command string, result *mysql.Result, perRow client.SelectPerRowCallback, perResult client.SelectPerResultCallback) error
}

// Plan lists the tables to copy: every base table of the filters' databases that scope
// selects, in name order, with the sum of their estimated row counts.
func Plan(c schema.Querier, dbs []string, scope func(db, table string) bool) ([]api.TableRef, uint64, error) {
	all, err := schema.Tables(c, dbs)
	if err != nil {
		return nil, 0, fmt.Errorf("list tables to copy: %w", err)
	}
	var tables []api.TableRef
	var total uint64
	for _, t := range all {
		if scope(t.DB, t.Name) {
			tables = append(tables, api.TableRef{DB: t.DB, Table: t.Name})
			total += t.Rows
		}
	}
	return tables, total, nil
}

// Copier copies tables through a Sink.
type Copier struct {
	Conn Conn
	// ChunkRows is how many rows one query reads.
	ChunkRows int
	// Now stamps the copied rows; default time.Now.
	Now func() time.Time
}

// Copy copies the tables of p from where p says the copy stopped, calling sink.Chunk after every
// chunk with the progress that includes it. It returns when every table is copied; p.Done is then
// true in the last Chunk call.
func (c *Copier) Copy(ctx context.Context, p api.SnapshotProgress, sink Sink) error {
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.ChunkRows <= 0 {
		c.ChunkRows = 5000
	}
	for p.TablesDone < len(p.Tables) {
		name := p.Tables[p.TablesDone]
		var resume json.RawMessage
		if p.Table != nil && *p.Table == name {
			resume = p.LastKey
		}
		p.Table = &name
		ct, err := c.copyTable(ctx, name.DB, name.Table, resume, &p, sink)
		switch {
		case errors.Is(err, schema.ErrNoTable):
			// Dropped since the plan: its drop is in the binlog after the snapshot position.
		case err != nil:
			return err
		default:
			if err := sink.Row(ctx, &change.Event{Kind: change.CopyEnd, Table: ct, Time: c.Now()}); err != nil {
				return err
			}
		}
		p.TablesDone++
		p.Table, p.LastKey = nil, nil
		if p.TablesDone == len(p.Tables) {
			p.Done = true
		}
		if err := sink.Chunk(ctx, p); err != nil {
			return err
		}
	}
	if !p.Done {
		p.Done = true
		return sink.Chunk(ctx, p)
	}
	return nil
}

// copyTable copies one table from resume (nil: from its first row, which the sink hears of as a
// CopyBegin) and returns the worker's view of it.
func (c *Copier) copyTable(ctx context.Context, db, table string, resume json.RawMessage, p *api.SnapshotProgress, sink Sink) (*change.Table, error) {
	desc, err := schema.Describe(c.Conn, db, table)
	if err != nil {
		return nil, err
	}
	tb := &copied{desc: desc, ct: desc.Change(), norms: normalizers(desc)}
	if len(resume) == 0 {
		if err := sink.Row(ctx, &change.Event{Kind: change.CopyBegin, Table: tb.ct, Time: c.Now()}); err != nil {
			return nil, err
		}
	}
	return tb.ct, c.copyRows(ctx, tb, resume, p, sink)
}

// copyRows copies a table's rows in chunks of the chunk key, from the row after resume.
func (c *Copier) copyRows(ctx context.Context, tb *copied, resume json.RawMessage, p *api.SnapshotProgress, sink Sink) error {
	desc := tb.desc
	db, table := desc.Schema, desc.Name
	cols := make([]string, len(desc.Columns))
	for i, col := range desc.Columns {
		cols[i] = quote(col.Name)
	}
	from := " FROM " + quote(db) + "." + quote(table)
	key := desc.ChunkKey
	if len(key) == 0 {
		// No primary or NOT NULL unique key to page by: one pass over the whole table. A copy
		// killed here restarts this table from its first row.
		q := "SELECT " + strings.Join(cols, ",") + from
		_, _, err := c.chunk(ctx, q, nil, tb, p, sink)
		return err
	}
	var last []any
	var err error
	if len(resume) > 0 {
		last, err = decodeKey(resume, desc, key)
		if err != nil {
			return fmt.Errorf("resume copy of %s.%s: %w", db, table, err)
		}
	}
	order := make([]string, len(key))
	for i, k := range key {
		order[i] = quote(desc.Columns[k].Name)
	}
	head := "SELECT " + strings.Join(cols, ",") + from
	tail := " ORDER BY " + strings.Join(order, ",") + " LIMIT " + strconv.Itoa(c.ChunkRows)
	firstQ := head + tail
	nextQ := head + " WHERE " + after(order) + tail
	var next *client.Stmt
	defer func() {
		if next != nil {
			next.Close()
		}
	}()
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		var args []any
		q := firstQ
		if last != nil {
			q = nextQ
			for i := range key {
				for j := 0; j <= i; j++ {
					args = append(args, last[j])
				}
			}
		}
		var stmt *client.Stmt
		if last != nil {
			if next == nil {
				if next, err = c.Conn.Prepare(q); err != nil {
					return fmt.Errorf("copy %s.%s: prepare: %w", db, table, err)
				}
			}
			stmt = next
		}
		lastRow, n, err := c.chunk(ctx, q, stmt, tb, p, sink, args...)
		if err != nil {
			return err
		}
		if n < c.ChunkRows {
			// A short chunk is the table's last; Copy checkpoints the table as done.
			return nil
		}
		last = make([]any, len(key))
		for i, k := range key {
			last[i] = lastRow[k]
		}
		p.LastKey = encodeKey(last)
		if err := sink.Chunk(ctx, *p); err != nil {
			return err
		}
	}
}

// chunk runs one query (prepared when stmt is set) and passes its rows to the sink. It returns
// the last row read and how many there were.
// copied is a table being copied: its definition, the worker's view of it, and how its values
// are normalized.
type copied struct {
	desc  *schema.Table
	ct    *change.Table
	norms []change.Normalizer
}

func (c *Copier) chunk(ctx context.Context, q string, stmt *client.Stmt, tb *copied, p *api.SnapshotProgress, sink Sink, args ...any) (change.Row, int, error) {
	desc, ct := tb.desc, tb.ct
	now := c.Now()
	var last change.Row
	n := 0
	perRow := func(fields []mysql.FieldValue) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		row, err := convertRow(fields, desc, tb.norms)
		if err != nil {
			return fmt.Errorf("copy %s.%s: %w", desc.Schema, desc.Name, err)
		}
		last = row
		n++
		p.RowsCopied++
		return sink.Row(ctx, &change.Event{Kind: change.Snapshot, Table: ct, After: row, Time: now})
	}
	var res mysql.Result
	var err error
	if stmt != nil {
		err = stmt.ExecuteSelectStreaming(&res, perRow, nil, args...)
	} else {
		err = c.Conn.ExecuteSelectStreaming(q, &res, perRow, nil)
	}
	if err != nil {
		if ctx.Err() != nil {
			return nil, 0, ctx.Err()
		}
		var me *mysql.MyError
		if errors.As(err, &me) && me.Code == mysql.ER_NO_SUCH_TABLE {
			return nil, 0, fmt.Errorf("copy %s.%s: %w", desc.Schema, desc.Name, schema.ErrNoTable)
		}
		return nil, 0, fmt.Errorf("copy %s.%s: %w", desc.Schema, desc.Name, err)
	}
	return last, n, nil
}

// after builds "(k1 > ?) OR (k1 = ? AND k2 > ?) ..." for paging by a composite key: it uses the
// key's index on every server, where a row-constructor comparison may not.
func after(cols []string) string {
	var ors []string
	for i := range cols {
		var ands []string
		for j := 0; j < i; j++ {
			ands = append(ands, cols[j]+" = ?")
		}
		ands = append(ands, cols[i]+" > ?")
		ors = append(ors, "("+strings.Join(ands, " AND ")+")")
	}
	return "(" + strings.Join(ors, " OR ") + ")"
}

func quote(name string) string { return "`" + strings.ReplaceAll(name, "`", "``") + "`" }

// normalizers returns how the copy normalizes each column of desc: with the same code as the
// binlog reader (change.Normalizer), fed the result set's values, so a key or partition is the
// same whichever way the row arrived.
func normalizers(desc *schema.Table) []change.Normalizer {
	out := make([]change.Normalizer, len(desc.Columns))
	for i, c := range desc.Columns {
		// The connection's charset is utf8mb4 (the server converts text) and MySQL pads
		// BINARY(n) and names ENUM and SET members itself. The result set's buffer is reused
		// row after row: no aliasing.
		out[i] = change.Normalizer{Type: c.Type, Unsigned: c.Unsigned, Float32: c.DataType == "float", Decimals: c.Decimals}
	}
	return out
}

// convertRow turns a result row into change.Row values.
func convertRow(fields []mysql.FieldValue, desc *schema.Table, norms []change.Normalizer) (change.Row, error) {
	if len(fields) != len(desc.Columns) {
		return nil, fmt.Errorf("query returned %d columns, table has %d", len(fields), len(desc.Columns))
	}
	row := make(change.Row, len(fields))
	for i := range fields {
		var raw any
		switch f := &fields[i]; f.Type {
		case mysql.FieldValueTypeNull:
			continue
		case mysql.FieldValueTypeSigned:
			raw = f.AsInt64()
		case mysql.FieldValueTypeUnsigned:
			raw = f.AsUint64()
		case mysql.FieldValueTypeFloat:
			raw = f.AsFloat64()
		default:
			raw = f.AsString()
		}
		v, err := norms[i].Normalize(raw)
		if err != nil {
			return nil, fmt.Errorf("column %s: %w", desc.Columns[i].Name, err)
		}
		row[i] = v
	}
	return row, nil
}

// encodeKey stores a chunk key in the checkpoint: numbers as numbers, text as strings, bytes
// as base64.
func encodeKey(vals []any) json.RawMessage {
	out := make([]any, len(vals))
	for i, v := range vals {
		switch x := v.(type) {
		case []byte:
			out[i] = base64.StdEncoding.EncodeToString(x)
		case float32:
			out[i] = float64(x)
		default:
			out[i] = x
		}
	}
	b, err := json.Marshal(out)
	if err != nil {
		return nil
	}
	return b
}

// decodeKey reads what encodeKey wrote, typed by the key columns.
func decodeKey(raw json.RawMessage, desc *schema.Table, key []int) ([]any, error) {
	d := json.NewDecoder(strings.NewReader(string(raw)))
	d.UseNumber()
	var vals []any
	if err := d.Decode(&vals); err != nil {
		return nil, fmt.Errorf("decode last key %s: %w", raw, err)
	}
	if len(vals) != len(key) {
		return nil, fmt.Errorf("last key %s has %d values for a %d-column key: the table's key changed", raw, len(vals), len(key))
	}
	out := make([]any, len(vals))
	for i, v := range vals {
		c := desc.Columns[key[i]]
		switch x := v.(type) {
		case json.Number:
			switch {
			case c.Type == change.TypeInt && c.Unsigned, c.Type == change.TypeBit:
				u, err := strconv.ParseUint(x.String(), 10, 64)
				if err != nil {
					return nil, fmt.Errorf("last key value %s: %w", x, err)
				}
				out[i] = u
			case c.Type == change.TypeInt || c.Type == change.TypeYear:
				n, err := strconv.ParseInt(x.String(), 10, 64)
				if err != nil {
					return nil, fmt.Errorf("last key value %s: %w", x, err)
				}
				out[i] = n
			default:
				f, err := x.Float64()
				if err != nil {
					return nil, fmt.Errorf("last key value %s: %w", x, err)
				}
				out[i] = f
			}
		case string:
			if c.Type == change.TypeBinary || c.Type == change.TypeGeometry {
				b, err := base64.StdEncoding.DecodeString(x)
				if err != nil {
					return nil, fmt.Errorf("last key value %q: %w", x, err)
				}
				out[i] = b
			} else {
				out[i] = x
			}
		case nil:
			out[i] = nil
		default:
			return nil, fmt.Errorf("last key value %v has an unexpected type", v)
		}
	}
	return out, nil
}
