package worker

import (
	"errors"

	"github.com/dtsrepl/dts/api"
	"github.com/dtsrepl/dts/worker/binlog"
	"github.com/dtsrepl/dts/worker/produce"
)

// permanentError marks a failure retrying cannot fix: the task is marked Failed with the
// message, and the worker waits for the operator to change the task.
type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

func permanent(err error) error {
	if err == nil {
		return nil
	}
	return &permanentError{err}
}

func isPermanent(err error) bool {
	var p *permanentError
	var apiErr *api.Error
	return errors.As(err, &p) || errors.As(err, &apiErr) ||
		errors.Is(err, binlog.ErrPurged) || errors.Is(err, binlog.ErrAccessDenied) || errors.Is(err, binlog.ErrUnsupported) ||
		errors.Is(err, binlog.ErrBadPosition) || errors.Is(err, binlog.ErrInsecureAuth) || errors.Is(err, binlog.ErrNotMySQL) ||
		errors.Is(err, binlog.ErrPacketTooLarge) || errors.Is(err, binlog.ErrServerIDInUse) || errors.Is(err, produce.ErrRejected) ||
		errors.Is(err, binlog.ErrNoTLS) || errors.Is(err, binlog.ErrTLSVerify)
}
