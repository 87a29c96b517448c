package main

import (
	"encoding/base64"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"time"
)

// flagSet is a flag.FlagSet whose flags default to an environment variable.
type flagSet struct {
	*flag.FlagSet
}

func newFlagSet(name, synopsis string) *flagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: dts %s\n\nFlags:\n", synopsis)
		fs.PrintDefaults()
	}
	return &flagSet{fs}
}

func envDoc(env, usage string) string {
	if env == "" {
		return usage
	}
	return usage + " [" + env + "]"
}

func (f *flagSet) string(name, env, def, usage string) *string {
	if v, ok := os.LookupEnv(env); ok && env != "" {
		def = v
	}
	return f.String(name, def, envDoc(env, usage))
}

// secret is a string flag whose environment variable may also be given base64-encoded as
// ENV_B64, which survives any character in a Nomad template's env file.
func (f *flagSet) secret(name, env, def, usage string) *string {
	if v, ok := os.LookupEnv(env + "_B64"); ok {
		if b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(v)); err == nil {
			def = string(b)
		}
	} else if v, ok := os.LookupEnv(env); ok {
		def = v
	}
	return f.String(name, def, usage+" ["+env+", or "+env+"_B64]")
}

func (f *flagSet) int64(name, env string, def int64, usage string) *int64 {
	if v, ok := os.LookupEnv(env); ok && env != "" {
		if n, err := strconv.ParseInt(v, 10, 64); err == nil {
			def = n
		}
	}
	return f.Int64(name, def, envDoc(env, usage))
}

func (f *flagSet) bool(name, env string, def bool, usage string) *bool {
	if v, ok := os.LookupEnv(env); ok && env != "" {
		if b, err := strconv.ParseBool(v); err == nil {
			def = b
		}
	}
	return f.Bool(name, def, envDoc(env, usage))
}

func (f *flagSet) duration(name, env string, def time.Duration, usage string) *time.Duration {
	if v, ok := os.LookupEnv(env); ok && env != "" {
		if d, err := time.ParseDuration(v); err == nil {
			def = d
		}
	}
	return f.Duration(name, def, envDoc(env, usage))
}

// logFlags are the logging flags every long-running command has.
type logFlags struct {
	level  *string
	format *string
}

func (f *flagSet) logFlags(defFormat string) logFlags {
	return logFlags{
		level:  f.string("log-level", "DTS_LOG_LEVEL", "info", "log level: debug, info, warn, error"),
		format: f.string("log-format", "DTS_LOG_FORMAT", defFormat, "log format: json or text"),
	}
}

// logger builds the process logger: JSON (or text) on stdout.
func (l logFlags) logger(w io.Writer) (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(*l.level)); err != nil {
		return nil, usageError{fmt.Errorf("--log-level: %w", err)}
	}
	opts := &slog.HandlerOptions{Level: level}
	switch strings.ToLower(*l.format) {
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	}
	return nil, usageError{fmt.Errorf("--log-format: %q is neither json nor text", *l.format)}
}

// parse parses args and refuses positional arguments.
func (f *flagSet) parse(args []string) error {
	if err := f.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return err
		}
		return usageError{err}
	}
	if f.NArg() > 0 {
		return usageError{fmt.Errorf("unexpected argument %q", f.Arg(0))}
	}
	return nil
}
