package snapshot

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/go-mysql-org/go-mysql/client"
	"github.com/go-mysql-org/go-mysql/mysql"

	"github.com/dtsrepl/dts/worker/change"
	"github.com/dtsrepl/dts/worker/schema"
)

// Table is one table prepared for reading the way the copy reads it: in chunk-key order, its
// values normalized by the same code, so that what the dispatcher's preview and verify read is
// what the copy would send.
type Table struct {
	Desc *schema.Table
	// Change is the worker's view of the table, as the copy's events carry it.
	Change *change.Table
	norms  []change.Normalizer
}

// Open describes a table for reading; schema.ErrNoTable if it does not exist.
func Open(q schema.Querier, db, table string) (*Table, error) {
	desc, err := schema.Describe(q, db, table)
	if err != nil {
		return nil, err
	}
	return &Table{Desc: desc, Change: desc.Change(), norms: normalizers(desc)}, nil
}

// Key returns row's chunk-key values, to read on after it; nil when the table has no chunk key.
func (t *Table) Key(row change.Row) []any {
	if len(t.Desc.ChunkKey) == 0 {
		return nil
	}
	out := make([]any, len(t.Desc.ChunkKey))
	for i, k := range t.Desc.ChunkKey {
		out[i] = row[k]
	}
	return out
}

// Read reads up to limit rows in chunk-key order, starting after the row whose key is from
// (nil: from the first row), and calls fn for each. It returns how many rows it read; fewer
// than limit means the table has no more. A table without a chunk key (neither a primary key
// nor a NOT NULL unique key) can only be read from its first row: from must be nil.
func (t *Table) Read(ctx context.Context, c Conn, from []any, limit int, fn func(change.Row) error) (int, error) {
	desc := t.Desc
	if limit <= 0 {
		return 0, nil
	}
	cols := make([]string, len(desc.Columns))
	for i, col := range desc.Columns {
		cols[i] = quote(col.Name)
	}
	q := "SELECT " + strings.Join(cols, ",") + " FROM " + quote(desc.Schema) + "." + quote(desc.Name)
	key := desc.ChunkKey
	var args []any
	if len(key) > 0 {
		order := make([]string, len(key))
		for i, k := range key {
			order[i] = quote(desc.Columns[k].Name)
		}
		if from != nil {
			if len(from) != len(key) {
				return 0, fmt.Errorf("read %s.%s: a %d-value key for a %d-column chunk key", desc.Schema, desc.Name, len(from), len(key))
			}
			q += " WHERE " + after(order)
			for i := range key {
				for j := 0; j <= i; j++ {
					args = append(args, from[j])
				}
			}
		}
		q += " ORDER BY " + strings.Join(order, ",")
	} else if from != nil {
		return 0, fmt.Errorf("read %s.%s: the table has no key to read on after a row", desc.Schema, desc.Name)
	}
	q += " LIMIT " + strconv.Itoa(limit)
	n := 0
	perRow := func(fields []mysql.FieldValue) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		row, err := convertRow(fields, desc, t.norms)
		if err != nil {
			return fmt.Errorf("read %s.%s: %w", desc.Schema, desc.Name, err)
		}
		n++
		return fn(row)
	}
	var res mysql.Result
	var err error
	if len(args) > 0 {
		var stmt *client.Stmt
		stmt, err = c.Prepare(q)
		if err != nil {
			return 0, fmt.Errorf("read %s.%s: prepare: %w", desc.Schema, desc.Name, err)
		}
		err = stmt.ExecuteSelectStreaming(&res, perRow, nil, args...)
		stmt.Close()
	} else {
		err = c.ExecuteSelectStreaming(q, &res, perRow, nil)
	}
	if err != nil {
		if ctx.Err() != nil {
			return n, ctx.Err()
		}
		var me *mysql.MyError
		if errors.As(err, &me) && me.Code == mysql.ER_NO_SUCH_TABLE {
			return n, fmt.Errorf("read %s.%s: %w", desc.Schema, desc.Name, schema.ErrNoTable)
		}
		return n, fmt.Errorf("read %s.%s: %w", desc.Schema, desc.Name, err)
	}
	return n, nil
}

// ParseKey reads primary-key values written as a JSON list in key order (numbers as numbers,
// text as strings, bytes as base64, as dts message keys write them), typed by the key's
// columns, for ReadKey.
func (t *Table) ParseKey(raw []byte) ([]any, error) {
	return decodeKey(raw, t.Desc, t.Desc.PK)
}

// ReadKey reads the row whose primary key is pk and calls fn with it; found is false when
// there is none.
func (t *Table) ReadKey(ctx context.Context, c Conn, pk []any, fn func(change.Row) error) (found bool, err error) {
	desc := t.Desc
	if len(desc.PK) == 0 || len(pk) != len(desc.PK) {
		return false, fmt.Errorf("read %s.%s: a %d-value key for a %d-column primary key", desc.Schema, desc.Name, len(pk), len(desc.PK))
	}
	cols := make([]string, len(desc.Columns))
	for i, col := range desc.Columns {
		cols[i] = quote(col.Name)
	}
	conds := make([]string, len(desc.PK))
	for i, k := range desc.PK {
		conds[i] = quote(desc.Columns[k].Name) + " = ?"
	}
	q := "SELECT " + strings.Join(cols, ",") + " FROM " + quote(desc.Schema) + "." + quote(desc.Name) + " WHERE " + strings.Join(conds, " AND ")
	stmt, err := c.Prepare(q)
	if err != nil {
		return false, fmt.Errorf("read %s.%s: prepare: %w", desc.Schema, desc.Name, err)
	}
	defer stmt.Close()
	var res mysql.Result
	err = stmt.ExecuteSelectStreaming(&res, func(fields []mysql.FieldValue) error {
		row, err := convertRow(fields, desc, t.norms)
		if err != nil {
			return fmt.Errorf("read %s.%s: %w", desc.Schema, desc.Name, err)
		}
		found = true
		return fn(row)
	}, nil, pk...)
	if err != nil {
		return false, fmt.Errorf("read %s.%s: %w", desc.Schema, desc.Name, err)
	}
	return found, nil
}
