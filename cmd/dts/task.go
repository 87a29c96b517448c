package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/dtsrepl/dts/api"
)

const taskUsage = `Usage: dts task <command> [flags]

Commands:
  submit -f FILE       submit the task in FILE (the submit body {"task":{...}}, or the task object; - is stdin);
                       --force stores it although its precheck fails
  list                 list tasks, with their retention headroom (--page, --per-page, --json)
  get ID               show one task: status, retention headroom, per-table statistics, history
                       (--json: the dispatcher's answer as it is)
  alter ID -f FILE     replace a task's spec (source and incr may be left out; --force as for submit)
  precheck -f FILE     check the task in FILE against its source and Kafka, without submitting it (--json)
  preview -f FILE      show the records the task would send for the first rows of each table (--rows N, --json)
  verify ID            compare a task's topics with its source, in the background (--tables db.t,...,
                       --rate ROWS/S, --wait to wait for the result, --status to show the last check, --json)
  stop ID              stop a task's worker; its position is kept
  start ID             start a stopped task from its position
  delete ID            stop a task and forget it

Every command takes --addr [DTS_ADDR], --auth-user [DTS_AUTH_USER] and --auth-password
[DTS_AUTH_PASSWORD].
`

func runTask(ctx context.Context, args []string) error { return taskCommand(ctx, args, os.Stdout) }

// taskCommand runs dts task, writing what it prints to out.
func taskCommand(ctx context.Context, args []string, out io.Writer) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" {
		fmt.Fprint(os.Stderr, taskUsage)
		if len(args) == 0 {
			return usageError{errors.New("no command")}
		}
		return nil
	}
	cmd, rest := args[0], args[1:]
	fs := newFlagSet("task "+cmd, "task "+cmd+" [flags]")
	addr := fs.string("addr", "DTS_ADDR", "http://127.0.0.1:8080", "dispatcher address")
	user := fs.string("auth-user", "DTS_AUTH_USER", "", "Basic auth user")
	pass := fs.string("auth-password", "DTS_AUTH_PASSWORD", "", "Basic auth password")
	file := fs.String("f", "", "task file (submit, alter, precheck, preview)")
	asJSON := fs.Bool("json", false, "print JSON (list, get, precheck, preview, verify)")
	page := fs.Int("page", 1, "page (list)")
	perPage := fs.Int("per-page", 50, "tasks per page (list)")
	var cf checkFlags
	force := fs.Bool("force", false, "store the task although its precheck fails (submit, alter)")
	fs.IntVar(&cf.rows, "rows", 0, "rows of each table (preview; default 10)")
	fs.StringVar(&cf.tables, "tables", "", "comma-separated db.table list (verify; default every table)")
	fs.Float64Var(&cf.rate, "rate", 0, "source rows read per second at most (verify; default unlimited)")
	fs.BoolVar(&cf.wait, "wait", false, "wait until the check ends (verify)")
	fs.BoolVar(&cf.status, "status", false, "show the last check instead of starting one (verify)")
	// Flags may come before or after the task id.
	var positional []string
	for len(rest) > 0 {
		if err := fs.Parse(rest); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return err
			}
			return usageError{err}
		}
		rest = fs.Args()
		if len(rest) > 0 {
			positional = append(positional, rest[0])
			rest = rest[1:]
		}
	}
	c, err := api.NewClient(&api.ClientConfig{Address: *addr, User: *user, Password: *pass})
	if err != nil {
		return err
	}
	id := func() (int64, error) {
		if len(positional) != 1 {
			return 0, usageError{fmt.Errorf("%s needs one task id", cmd)}
		}
		n, err := api.ParseTaskID(positional[0])
		if err != nil {
			return 0, usageError{err}
		}
		return n, nil
	}
	switch cmd {
	case "submit":
		spec, err := readTaskFile(*file)
		if err != nil {
			return err
		}
		res, err := c.SubmitWith(ctx, spec, api.WriteOptions{Force: *force})
		if err != nil {
			printRefusal(err)
			return err
		}
		fmt.Fprintf(out, "submitted task %d", res.ID)
		if res.Addr != "" {
			fmt.Fprintf(out, ", worker at %s", res.Addr)
		}
		fmt.Fprintln(out)
		return nil
	case "alter":
		n, err := id()
		if err != nil {
			return err
		}
		spec, err := readTaskFile(*file)
		if err != nil {
			return err
		}
		if err := c.AlterWith(ctx, n, spec, api.WriteOptions{Force: *force}); err != nil {
			printRefusal(err)
			return err
		}
		fmt.Fprintf(out, "altered task %d\n", n)
		return nil
	case "list":
		l, err := c.List(ctx, *page, *perPage)
		if err != nil {
			return err
		}
		if *asJSON {
			return printJSON(out, l)
		}
		printTasks(out, l)
		return nil
	case "get":
		n, err := id()
		if err != nil {
			return err
		}
		if *asJSON {
			raw, err := c.GetJSON(ctx, n)
			if err != nil {
				return err
			}
			return printRaw(out, raw)
		}
		d, err := c.Get(ctx, n)
		if err != nil {
			return err
		}
		printTask(out, d)
		return nil
	case "stop", "start":
		n, err := id()
		if err != nil {
			return err
		}
		do := map[string]func(context.Context, int64) error{"stop": c.Stop, "start": c.Start}[cmd]
		if err := do(ctx, n); err != nil {
			return err
		}
		fmt.Fprintf(out, "%s: task %d\n", map[string]string{"stop": "stopped", "start": "started"}[cmd], n)
		return nil
	case "delete":
		n, err := id()
		if err != nil {
			return err
		}
		res, err := c.Delete(ctx, n)
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "deleted: task %d\n", n)
		if res.LeftRunning != "" {
			fmt.Fprintf(os.Stderr, "warning: %s\n", res.LeftRunning)
		}
		return nil
	case "precheck", "preview", "verify":
		cf.file, cf.asJSON = *file, *asJSON
		return runCheck(ctx, cmd, c, cf, id, out)
	}
	fmt.Fprint(os.Stderr, taskUsage)
	return usageError{fmt.Errorf("unknown task command %q", cmd)}
}

// readTaskFile reads a submit body or a bare task object from a file or stdin, with the decoder
// the dispatcher uses: the client re-encodes the spec, so a field it dropped (a misspelt
// partition_mode, say) would vanish without the dispatcher seeing it.
func readTaskFile(path string) (*api.TaskSpec, error) {
	if path == "" {
		return nil, usageError{errors.New("give the task file with -f FILE (- for stdin)")}
	}
	var b []byte
	var err error
	if path == "-" {
		b, err = io.ReadAll(os.Stdin)
	} else {
		b, err = os.ReadFile(path)
	}
	if err != nil {
		return nil, fmt.Errorf("read task file: %w", err)
	}
	spec, err := api.DecodeTaskFile(bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("task file %s: %w", path, err)
	}
	return spec, nil
}

func printJSON(w io.Writer, v any) error {
	e := json.NewEncoder(w)
	e.SetIndent("", "  ")
	return e.Encode(v)
}

// printRaw writes the JSON the dispatcher answered, indented, and nothing else: no field is
// lost or renamed on the way.
func printRaw(w io.Writer, raw json.RawMessage) error {
	var b bytes.Buffer
	if err := json.Indent(&b, raw, "", "  "); err != nil {
		return fmt.Errorf("answer is not JSON: %w", err)
	}
	b.WriteByte('\n')
	_, err := b.WriteTo(w)
	return err
}

func printTasks(w io.Writer, l *api.TaskList) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tSTATE\tSOURCE\tKAFKA\tPOS\tTRANSACTION TIME\tLAG\tHEADROOM\tROWS\tUPDATED\tWORKER\tMESSAGE")
	for _, t := range l.Tasks {
		state := string(t.State)
		if p := t.Snapshot; p != nil && !p.Done {
			state += fmt.Sprintf(" %d/%d tables, %s rows", p.TablesDone, len(p.Tables), progress(p.RowsCopied, p.RowsEstimated))
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%.1fs\t%s\t%d\t%s\t%s\t%s\n", t.ID, state, t.SourceAddr, t.DestAddr,
			dash(t.Pos), dash(t.TransactionTime), t.LagSeconds, headroom(t.RetentionHeadroomSeconds), t.RowsSent, dash(t.UpdatedAt), dash(t.ServiceAddr), oneLine(t.Message))
	}
	tw.Flush()
	fmt.Fprintf(w, "%d of %d tasks\n", len(l.Tasks), l.Total)
}

func printTask(w io.Writer, d *api.TaskDetail) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	row := func(k, v string) { fmt.Fprintf(tw, "%s\t%s\n", k, v) }
	row("id", strconv.FormatInt(d.ID, 10))
	row("state", string(d.State))
	row("desired", string(d.Desired))
	row("message", dash(oneLine(d.Message)))
	row("source", d.SourceAddr)
	row("kafka", d.DestAddr)
	row("position", dash(d.Pos))
	row("transaction time", dash(d.TransactionTime))
	row("lag", fmt.Sprintf("%.1fs", d.LagSeconds))
	row("retention headroom", headroomDetail(d.RetentionHeadroomSeconds))
	row("rows sent", strconv.FormatUint(d.RowsSent, 10))
	row("worker", dash(d.ServiceAddr))
	row("updated", dash(d.UpdatedAt))
	row("created", dash(d.CreatedAt))
	row("spec version", strconv.FormatInt(d.SpecVersion, 10))
	if p := d.Snapshot; p != nil {
		row("initial copy", fmt.Sprintf("%d/%d tables, %s rows, done=%v", p.TablesDone, len(p.Tables), progress(p.RowsCopied, p.RowsEstimated), p.Done))
	}
	if j := d.Job; j != nil {
		row("job", fmt.Sprintf("%s %s %s %s", j.ID, j.Status, j.AllocStatus, j.Message))
	}
	tw.Flush()
	if d.Status != nil {
		printTableStats(w, d.Status.Tables)
	}
	fmt.Fprintln(w, "spec:")
	e := json.NewEncoder(w)
	e.SetIndent("  ", "  ")
	_ = e.Encode(d.Spec)
	printHistory(w, d.History)
}

// printTableStats writes what the task counted per table, for dts task get.
func printTableStats(w io.Writer, tables []api.TableStats) {
	if len(tables) == 0 {
		return
	}
	fmt.Fprintln(w, "tables:")
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "  TABLE\tINSERTS\tUPDATES\tDELETES\tDDL\tCOPIED\tFILTERED\tBYTES")
	for _, t := range tables {
		name := api.TableRef{DB: t.DB, Table: t.Table}.String()
		if t.DB == "" && t.Table == "*" {
			name = "* (other tables)"
		}
		fmt.Fprintf(tw, "  %s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\n", name, t.Inserts, t.Updates, t.Deletes, t.DDL, t.Copied, t.Filtered, t.Bytes)
	}
	tw.Flush()
}

// headroom writes a retention headroom for a column: "-" when unknown, else its size in the
// two largest units that matter ("6d23h", "5h12m", "42m", "30s"), negative when the binlog the
// task resumes from may be gone.
func headroom(secs *float64) string {
	if secs == nil {
		return "-"
	}
	d := time.Duration(*secs) * time.Second
	sign := ""
	if d < 0 {
		sign, d = "-", -d
	}
	switch {
	case d >= 48*time.Hour:
		return fmt.Sprintf("%s%dd%02dh", sign, d/(24*time.Hour), d%(24*time.Hour)/time.Hour)
	case d >= time.Hour:
		return fmt.Sprintf("%s%dh%02dm", sign, d/time.Hour, d%time.Hour/time.Minute)
	case d >= time.Minute:
		return fmt.Sprintf("%s%dm", sign, d/time.Minute)
	}
	return fmt.Sprintf("%s%ds", sign, d/time.Second)
}

// headroomDetail is headroom with what it means, for dts task get.
func headroomDetail(secs *float64) string {
	switch {
	case secs == nil:
		return "- (the source purges its binlog by no age, or no worker has read it yet)"
	case *secs < 0:
		return headroom(secs) + " (the binlog the task resumes from may be purged already)"
	}
	return headroom(secs) + " before the source may purge the binlog the task resumes from"
}

func progress(done, estimate uint64) string {
	if estimate == 0 {
		return strconv.FormatUint(done, 10)
	}
	return fmt.Sprintf("%d/~%d (%d%%)", done, estimate, min(100, done*100/estimate))
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func oneLine(s string) string {
	s = strings.ReplaceAll(s, "\n", " ")
	if len(s) > 120 {
		s = s[:117] + "..."
	}
	return s
}
