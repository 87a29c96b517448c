package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/dtsrepl/dts/api"
)

// checkFlags are the flags of dts task precheck, preview and verify.
type checkFlags struct {
	file   string
	asJSON bool
	rows   int
	tables string
	rate   float64
	wait   bool
	status bool
}

// runCheck runs dts task precheck, preview or verify.
func runCheck(ctx context.Context, cmd string, c *api.Client, f checkFlags, id func() (int64, error), out io.Writer) error {
	switch cmd {
	case "precheck":
		spec, err := readTaskFile(f.file)
		if err != nil {
			return err
		}
		l, err := c.Precheck(ctx, spec)
		if err != nil {
			return err
		}
		if f.asJSON {
			return printJSON(out, l)
		}
		printChecklist(out, l)
		if b := l.Blocking(); len(b) > 0 {
			return fmt.Errorf("%d blocking failures: submit would refuse the task", len(b))
		}
		return nil
	case "preview":
		spec, err := readTaskFile(f.file)
		if err != nil {
			return err
		}
		p, err := c.Preview(ctx, spec, f.rows)
		if err != nil {
			return err
		}
		if f.asJSON {
			return printJSON(out, p)
		}
		printPreview(out, p)
		return nil
	case "verify":
		n, err := id()
		if err != nil {
			return err
		}
		var v *api.Verify
		if f.status {
			v, err = c.Verify(ctx, n)
		} else {
			req := api.VerifyRequest{Rate: f.rate}
			for _, t := range strings.Split(f.tables, ",") {
				if t = strings.TrimSpace(t); t != "" {
					req.Tables = append(req.Tables, t)
				}
			}
			v, err = c.StartVerify(ctx, n, req)
		}
		if err != nil {
			return err
		}
		for f.wait && v.State == api.VerifyRunning {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(2 * time.Second):
			}
			if v, err = c.Verify(ctx, n); err != nil {
				return err
			}
			if !f.asJSON {
				fmt.Fprintf(os.Stderr, "verify %s: %d/%d tables, %s rows\n", v.Run, v.TablesDone, len(v.Tables), progress(v.RowsChecked, v.RowsEstimated))
			}
		}
		if f.asJSON {
			if err := printJSON(out, v); err != nil {
				return err
			}
		} else {
			printVerify(out, v)
		}
		if v.State == api.VerifyDone && !v.Consistent {
			return errors.New("the topics differ from the source")
		}
		if v.State == api.VerifyFailed || v.State == api.VerifyAbandoned {
			return fmt.Errorf("verify %s: %s", v.State, v.Message)
		}
		return nil
	}
	return usageError{fmt.Errorf("unknown task command %q", cmd)}
}

// printChecklist writes a precheck as a table: one line per item, then the matched tables.
func printChecklist(w io.Writer, l *api.Checklist) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "STATUS\tCHECK\tFOUND\tTO DO")
	for _, it := range l.Items {
		st := strings.ToUpper(string(it.Status))
		if it.Status == api.CheckFail && !it.Blocking {
			st += " (not blocking)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", st, it.ID, clip(it.Detail, 160), dash(clip(it.Fix, 120)))
	}
	tw.Flush()
	if len(l.Tables) > 0 {
		fmt.Fprintln(w)
		tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "TABLE\tROWS (EST.)\tPRIMARY KEY\tTOPIC\tPARTITIONS\tWIDEST MESSAGE")
		for _, t := range l.Tables {
			parts := "-"
			if t.Partitions > 0 {
				parts = fmt.Sprint(t.Partitions)
			}
			fmt.Fprintf(tw, "%s.%s\t%d\t%s\t%s\t%s\t%s\n", t.DB, t.Table, t.RowsEstimate, dash(strings.Join(t.PrimaryKey, ",")), t.Topic, parts, bytesHuman(t.WidestMessageBytes))
		}
		tw.Flush()
	}
	fmt.Fprintf(w, "result: %s (%d blocking)\n", l.Result, len(l.Blocking()))
}

// printPreview writes the records of each table, then the rows the filter drops.
func printPreview(w io.Writer, p *api.Preview) {
	for _, wrn := range p.Warnings {
		fmt.Fprintf(w, "warning: %s\n", wrn)
	}
	for _, t := range p.Tables {
		fmt.Fprintf(w, "%s.%s: %d rows read, %d records, %d dropped by the row filter\n", t.DB, t.Table, t.RowsRead, len(t.Records), len(t.Dropped))
		if t.Error != "" {
			fmt.Fprintf(w, "  error: %s\n", t.Error)
		}
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		if len(t.Records)+len(t.Dropped) > 0 {
			fmt.Fprintln(tw, "  \tTOPIC\tPARTITION\tKEY\tVALUE")
		}
		row := func(mark string, r api.PreviewRecord) {
			part := fmt.Sprintf("hash %d", r.Hash)
			if r.Partition != nil {
				part = fmt.Sprint(*r.Partition)
			}
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\n", mark, r.Topic, part, clip(string(r.Key), 80), clip(string(r.Value), 200))
		}
		for _, r := range t.Records {
			row("send", r)
		}
		for _, r := range t.Dropped {
			row("drop", r)
		}
		tw.Flush()
	}
}

// printVerify writes a consistency check: its state, then one line per table and its samples.
func printVerify(w io.Writer, v *api.Verify) {
	fmt.Fprintf(w, "verify %s: %s, %d/%d tables, %s rows checked, started %s", v.Run, v.State, v.TablesDone, len(v.Tables),
		progress(v.RowsChecked, v.RowsEstimated), v.StartedAt.Local().Format(api.TimeLayout))
	if v.State == api.VerifyDone {
		fmt.Fprintf(w, ", consistent: %v", v.Consistent)
	}
	fmt.Fprintln(w)
	if v.Message != "" {
		fmt.Fprintf(w, "note: %s\n", v.Message)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TABLE\tTOPIC\tSTATE\tSOURCE ROWS\tKAFKA KEYS\tMATCHING\tMISSING\tEXTRA\tDIFFERING\tFILTERED\tCHUNKS OK\tMESSAGE")
	for _, t := range v.Tables {
		fmt.Fprintf(tw, "%s.%s\t%s\t%s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d/%d\t%s\n", t.DB, t.Table, t.Topic, t.State, t.SourceRows, t.KafkaKeys,
			t.Matching, t.Missing, t.Extra, t.Differing, t.Filtered, t.ChunksMatching, t.Chunks, dash(oneLine(t.Message)))
	}
	tw.Flush()
	for _, t := range v.Tables {
		if len(t.Samples) == 0 {
			continue
		}
		fmt.Fprintf(w, "%s.%s samples:\n", t.DB, t.Table)
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "  KIND\tKEY\tSOURCE\tKAFKA\tAT")
		for _, s := range t.Samples {
			at := "-"
			if s.Offset >= 0 {
				at = fmt.Sprintf("%d@%d", s.Partition, s.Offset)
			}
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\n", s.Kind, clip(string(s.Key), 80), dash(clip(string(s.Source), 100)), dash(clip(string(s.Kafka), 100)), at)
		}
		tw.Flush()
	}
}

// printHistory writes a task's versions, for dts task get.
func printHistory(w io.Writer, h []api.RevisionView) {
	if len(h) == 0 {
		return
	}
	fmt.Fprintln(w, "history:")
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "  VERSION\tAT\tACTION\tCHANGED\tTOOK EFFECT AT")
	for _, r := range h {
		action := r.Action
		if r.Forced {
			action += " (forced)"
		}
		fmt.Fprintf(tw, "  %d\t%s\t%s\t%s\t%s\n", r.Version, r.At, action, dash(clip(strings.Join(r.Changed, ", "), 100)), dash(r.Pos))
	}
	tw.Flush()
}

// printRefusal shows the checklist of a submit or alter its precheck refused.
func printRefusal(err error) {
	if l := api.AsRefused(err); l != nil {
		printChecklist(os.Stderr, l)
	}
}

func clip(s string, n int) string {
	s = strings.ReplaceAll(s, "\n", " ")
	if len(s) > n {
		return s[:n-3] + "..."
	}
	return s
}

func bytesHuman(n int64) string {
	switch {
	case n <= 0:
		return "-"
	case n < 10<<10:
		return fmt.Sprintf("%d B", n)
	case n < 10<<20:
		return fmt.Sprintf("%d KiB", n>>10)
	case n < 10<<30:
		return fmt.Sprintf("%d MiB", n>>20)
	}
	return fmt.Sprintf("%d GiB", n>>30)
}
