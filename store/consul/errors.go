package consul

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"

	consulapi "github.com/hashicorp/consul/api"

	"github.com/dtsrepl/dts/store"
)

// classify marks errors that mean "Consul could not be reached or could not answer" with
// store.ErrUnavailable, so that callers can retry or answer 503 without parsing messages.
// A cancelled ctx is the caller giving up, not an outage, so it is returned as it is.
func classify(ctx context.Context, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(ctx.Err(), context.Canceled) {
		return err
	}
	if unavailable(err) {
		return fmt.Errorf("%w: %w", store.ErrUnavailable, err)
	}
	return err
}

// unavailable reports whether err is a transport failure or a server-side failure of Consul.
func unavailable(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	var uerr *url.Error
	if errors.As(err, &uerr) {
		return true
	}
	var nerr net.Error
	if errors.As(err, &nerr) {
		return true
	}
	var serr consulapi.StatusError
	if errors.As(err, &serr) {
		return serr.Code >= 500 || serr.Code == 429
	}
	// Some client calls (the transaction endpoint, session renewal) flatten the HTTP status
	// into a plain message, so the server's well-known failures are recognised by their text.
	msg := err.Error()
	for _, s := range []string{"No cluster leader", "response code: 5", "rpc error", "leadership lost"} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}

// txnError describes why Consul rolled a transaction back.
func txnError(resp *consulapi.TxnResponse) error {
	if resp == nil || len(resp.Errors) == 0 {
		return errors.New("transaction rolled back")
	}
	msgs := make([]string, 0, len(resp.Errors))
	for _, e := range resp.Errors {
		msgs = append(msgs, fmt.Sprintf("op %d: %s", e.OpIndex, e.What))
	}
	return fmt.Errorf("transaction rolled back: %s", strings.Join(msgs, "; "))
}

// failedOp reports whether operation i of a rolled-back transaction failed.
func failedOp(resp *consulapi.TxnResponse, i int) bool {
	if resp == nil {
		return false
	}
	for _, e := range resp.Errors {
		if e.OpIndex == i {
			return true
		}
	}
	return false
}

// nextIndex is the wait index of the next blocking query. Consul's index may go backwards (after
// a snapshot restore, or on a different server); starting over from 0 then avoids waiting for
// the full wait time on every query.
func nextIndex(prev, last uint64) uint64 {
	if last < prev || last == 0 {
		return 0
	}
	return last
}
