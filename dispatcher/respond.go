package dispatcher

import (
	"errors"
	"fmt"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/dtsrepl/dts/api"
	"github.com/dtsrepl/dts/jobs"
	"github.com/dtsrepl/dts/store"
)

// contentType is the seed API's Content-Type, charset included.
const contentType = fiber.MIMEApplicationJSONCharsetUTF8

// ok writes a success envelope.
func ok(c *fiber.Ctx, data any) error {
	if data == nil {
		data = struct{}{}
	}
	c.Set(api.StatusHeader, "0")
	return c.Status(fiber.StatusOK).JSON(api.Envelope[any]{Code: api.CodeOK, Message: "0", TTL: 1, Data: data}, contentType)
}

// errorHandler is the one place errors become responses: API errors keep their code, store and
// scheduler sentinels map to theirs, and anything else is a -500 whose details go to the log
// only.
func (s *Server) errorHandler(c *fiber.Ctx, err error) error {
	fctx := c.Context()
	// Without a trace id, fasthttp refused the request before any handler ran (headers too
	// large, a chunked body over the limit): observe never sees it, so it is recorded here.
	early := fctx.UserValue(traceKey) == nil
	start := time.Now()
	traceID(fctx)
	writeError(fctx, s.apiError(c, err))
	if early {
		s.record(fctx, "unmatched", start)
	}
	return nil
}

func (s *Server) apiError(c *fiber.Ctx, err error) *api.Error {
	var e *api.Error
	var fe *fiber.Error
	switch {
	case errors.As(err, &e):
		return e
	case errors.Is(err, store.ErrNotFound):
		return api.Errorf(api.CodeNotFound, "%v", err)
	case errors.Is(err, store.ErrConflict):
		return api.Errorf(api.CodeConflict, "the task changed while this request was handled; read it again and retry")
	case errors.Is(err, jobs.ErrNoCredentials), errors.Is(err, jobs.ErrConflict):
		return api.Errorf(api.CodeConflict, "%v", err)
	case errors.Is(err, jobs.ErrRefused):
		// The scheduler's reason (a permission, a job it does not accept) is for the operator;
		// it holds no secret, since jobs hold none.
		s.log.Error("scheduler refused", "method", c.Method(), "path", c.Path(), "trace_id", traceID(c.Context()), "err", err)
		return api.Errorf(api.CodeInternal, "%v", err)
	case errors.Is(err, store.ErrUnavailable), errors.Is(err, jobs.ErrUnavailable):
		s.log.Error("backend unavailable", "method", c.Method(), "path", c.Path(), "trace_id", traceID(c.Context()), "err", err)
		return api.Errorf(api.CodeUnavailable, "%v", err)
	case errors.As(err, &fe):
		switch fe.Code {
		case fiber.StatusRequestEntityTooLarge:
			return api.Errorf(api.CodeBadRequest, "body: larger than %d bytes", MaxBody)
		case fiber.StatusNotFound:
			return api.Errorf(api.CodeNotFound, "%s", fe.Message)
		case fiber.StatusMethodNotAllowed:
			return api.Errorf(api.CodeNotFound, "no route %s %s", c.Method(), c.Path())
		}
		if fe.Code >= 400 && fe.Code < 500 {
			return api.Errorf(api.CodeBadRequest, "%s", fe.Message)
		}
	}
	s.log.Error("request failed", "method", c.Method(), "path", c.Path(), "trace_id", traceID(c.Context()), "err", err)
	return api.Errorf(api.CodeInternal, "internal error")
}

func notFound(id int64) error {
	return api.Errorf(api.CodeNotFound, "task %d does not exist", id)
}

// describeErr keeps the id in not-found errors from the store; nil stays nil.
func describeErr(id int64, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, store.ErrNotFound) {
		return notFound(id)
	}
	return fmt.Errorf("task %d: %w", id, err)
}
