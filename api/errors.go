package api

import (
	"errors"
	"fmt"
	"net/http"
)

// Error codes of the response envelope (the Kratos convention the seed API follows).
const (
	CodeOK           = 0
	CodeBadRequest   = -400
	CodeUnauthorized = -401
	CodeForbidden    = -403 // a cross-site request, refused whatever its credentials
	CodeNotFound     = -404
	CodeConflict     = -409
	CodeInternal     = -500
	CodeUnavailable  = -503
)

// Error is an API error: a code of the envelope and a message for the operator.
type Error struct {
	Code    int
	Message string
}

func (e *Error) Error() string { return e.Message }

// HTTPStatus is the HTTP status that goes with the code.
func (e *Error) HTTPStatus() int { return HTTPStatus(e.Code) }

// HTTPStatus maps an envelope code to its HTTP status.
func HTTPStatus(code int) int {
	switch code {
	case CodeOK:
		return http.StatusOK
	case CodeBadRequest:
		return http.StatusBadRequest
	case CodeUnauthorized:
		return http.StatusUnauthorized
	case CodeForbidden:
		return http.StatusForbidden
	case CodeNotFound:
		return http.StatusNotFound
	case CodeConflict:
		return http.StatusConflict
	case CodeUnavailable:
		return http.StatusServiceUnavailable
	default:
		return http.StatusInternalServerError
	}
}

// Errorf makes an Error with a formatted message.
func Errorf(code int, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// FieldError is a -400 error naming the offending field, as "task.kafka.addr: is required".
func FieldError(field, format string, args ...any) *Error {
	return &Error{Code: CodeBadRequest, Message: field + ": " + fmt.Sprintf(format, args...)}
}

// CodeOf returns the envelope code of err: its own if it is an *Error, else -500.
func CodeOf(err error) int {
	if err == nil {
		return CodeOK
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return CodeInternal
}

// Envelope is every response body: {"code":0,"message":"0","ttl":1,"data":{...}}.
type Envelope[T any] struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
	TTL     int    `json:"ttl"`
	Data    T      `json:"data"`
}

// StatusHeader is the header carrying the envelope code, as Kratos services send it.
const StatusHeader = "Kratos-Status-Code"

// TraceHeader carries the id of the request, as Kratos services send it; the dispatcher logs
// the same id with the request, so an operator can find a response's log lines.
const TraceHeader = "Kratos-Trace-Id"
