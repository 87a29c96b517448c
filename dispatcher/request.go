package dispatcher

import (
	"bytes"
	"strconv"
	"unicode"

	"github.com/gofiber/fiber/v2"

	"github.com/dtsrepl/dts/api"
)

// Reading a request: its body (after the front door's checks on the headers, see frontdoor.go),
// its path parameters, query and headers. Each reader answers -400 naming what was wrong.

// decodeSubmit reads a submit or alter body with api.DecodeSubmit, after the size check the
// screen already made on the declared length (a chunked body has none).
func decodeSubmit(body []byte) (*api.TaskSpec, error) {
	if len(body) > MaxBody {
		return nil, api.FieldError("body", "larger than %d bytes", MaxBody)
	}
	return api.DecodeSubmit(bytes.NewReader(body))
}

// taskID reads the :id parameter.
func taskID(c *fiber.Ctx) (int64, error) {
	id, err := api.ParseTaskID(c.Params("id"))
	if err != nil {
		return 0, api.FieldError("id", "%v", err)
	}
	return id, nil
}

// queryInt reads an integer query parameter between lo and hi, def when absent.
func queryInt(c *fiber.Ctx, name string, def, lo, hi int) (int, error) {
	v := c.Query(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		return 0, api.FieldError(name, "must be between %d and %d, got %q", lo, hi, v)
	}
	return n, nil
}

// idempotencyKey reads the submit's Idempotency-Key header: "" when absent; printable and at
// most api.MaxIdempotencyKey bytes.
func idempotencyKey(c *fiber.Ctx) (string, error) {
	k := c.Get(api.IdempotencyKeyHeader)
	if k == "" {
		return "", nil
	}
	if len(k) > api.MaxIdempotencyKey {
		return "", api.FieldError(api.IdempotencyKeyHeader, "must be at most %d bytes, got %d", api.MaxIdempotencyKey, len(k))
	}
	for _, r := range k {
		if !unicode.IsPrint(r) {
			return "", api.FieldError(api.IdempotencyKeyHeader, "must be printable text")
		}
	}
	return k, nil
}
