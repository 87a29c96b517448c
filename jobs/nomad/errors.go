package nomad

import (
	"errors"
	"fmt"
	"net/http"

	nomadapi "github.com/hashicorp/nomad/api"

	"github.com/dtsrepl/dts/jobs"
)

// wrap adds what was being done to err. Failures to reach Nomad, timeouts and server-side
// errors also wrap jobs.ErrUnavailable so the dispatcher answers -503, as do 429 (too many
// connections from one address) and 408; a request Nomad otherwise refused (4xx) is a bug or a
// misconfiguration (a token without a permission) and wraps jobs.ErrRefused, whose reason the
// dispatcher shows.
func wrap(op string, err error) error {
	if err == nil {
		return nil
	}
	if code, ok := statusCode(err); ok && code < http.StatusInternalServerError && code != http.StatusTooManyRequests && code != http.StatusRequestTimeout {
		return fmt.Errorf("%s: %w: %w", op, jobs.ErrRefused, err)
	}
	return fmt.Errorf("%s: %w: %w", op, jobs.ErrUnavailable, err)
}

// statusCode returns the HTTP status of an error response from Nomad.
func statusCode(err error) (int, bool) {
	var ure nomadapi.UnexpectedResponseError
	if errors.As(err, &ure) && ure.HasStatusCode() {
		return ure.StatusCode(), true
	}
	var urp *nomadapi.UnexpectedResponseError
	if errors.As(err, &urp) && urp != nil && urp.HasStatusCode() {
		return urp.StatusCode(), true
	}
	return 0, false
}

// isNotFound reports a 404 from Nomad.
func isNotFound(err error) bool {
	code, ok := statusCode(err)
	return ok && code == http.StatusNotFound
}
