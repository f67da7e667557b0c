// Package problem writes RFC 9457 problem details (application/problem+json), the error body
// of every service API, and keeps the small vocabulary of errors the services share.
//
// A service's handlers return errors; one function, Write, turns them into a status and a
// body. Validation errors name each bad field and the rule it broke; a 500 is logged with its
// detail and shown as a plain sentence with the request id, never the internals.
package problem

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/caasdemo/orderdemo/services/platform/requestid"
	"github.com/caasdemo/orderdemo/services/platform/validation"
)

// ContentType is the media type of a problem body.
const ContentType = "application/problem+json"

// FieldError is one input field that broke a rule.
type FieldError = validation.FieldError

// Details is the RFC 9457 body, with the request id and, for validation failures, the bad
// fields as extension members.
type Details struct {
	Type      string       `json:"type"`
	Title     string       `json:"title"`
	Status    int          `json:"status"`
	Detail    string       `json:"detail"`
	Instance  string       `json:"instance,omitempty"`
	RequestID string       `json:"request_id,omitempty"`
	Errors    []FieldError `json:"errors,omitempty"`
}

// Error is an error with an HTTP status and a message safe to show the caller.
type Error struct {
	Status     int
	Detail     string
	Fields     []FieldError
	RetryAfter time.Duration // sets Retry-After (rounded up to whole seconds) when positive
	Err        error         // the cause, for errors.Is and logs; never shown
}

func (e *Error) Error() string {
	if e.Err != nil {
		return e.Detail + ": " + e.Err.Error()
	}
	return e.Detail
}

func (e *Error) Unwrap() error { return e.Err }

// Validation returns a 400 naming every bad field; its detail lists them.
func Validation(fields ...FieldError) *Error {
	return &Error{Status: http.StatusBadRequest, Detail: validation.Errors(fields).Error(), Fields: fields}
}

// New returns an error with status and detail.
func New(status int, detail string) *Error { return &Error{Status: status, Detail: detail} }

// Newf returns an error with status and a formatted detail.
func Newf(status int, format string, args ...any) *Error {
	return &Error{Status: status, Detail: fmt.Sprintf(format, args...)}
}

// Write answers with the problem for err: a *Error as it says, validation.Errors as a 400
// naming every field. Other errors are 500s: logged with their text, answered with a
// sentence and the request id.
func Write(w http.ResponseWriter, r *http.Request, log *slog.Logger, err error) {
	var pe *Error
	var fields validation.Errors
	if errors.As(err, &fields) {
		pe = Validation(fields...)
	}
	if pe == nil && !errors.As(err, &pe) {
		log.ErrorContext(r.Context(), "internal error", "method", r.Method, "path", r.URL.Path, "error", err.Error())
		pe = &Error{Status: http.StatusInternalServerError, Detail: "Something went wrong on our side. Please try again; if it persists, quote the request id."}
	}
	if pe.RetryAfter > 0 {
		secs := int((pe.RetryAfter + time.Second - 1) / time.Second)
		w.Header().Set("Retry-After", strconv.Itoa(secs))
	}
	body := Details{
		Type:      "about:blank",
		Title:     http.StatusText(pe.Status),
		Status:    pe.Status,
		Detail:    pe.Detail,
		Instance:  r.URL.Path,
		RequestID: requestid.FromContext(r.Context()),
		Errors:    pe.Fields,
	}
	w.Header().Set("Content-Type", ContentType)
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(pe.Status)
	_ = json.NewEncoder(w).Encode(body)
}

// WriteJSON answers with status and body as JSON.
func WriteJSON(w http.ResponseWriter, status int, body any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body)
}
