// Package problem writes RFC 9457 problem details (application/problem+json), the error body
// of every service API, and keeps the small vocabulary of errors the services share.
//
// A service's handlers return errors; one function, Write, turns them into a status and a
// body. Validation errors name each bad field and the rule it broke; a dependency that is
// down or too slow (an *UnavailableError, or an error a driver's package taught Write to
// recognise) is a 503 with Retry-After naming the dependency; any other error is a 500,
// logged with its detail and shown as a plain sentence with the request id, never the
// internals.
package problem

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
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

// UnavailableRetryAfter is the Retry-After of an answer about a dependency that is down: long
// enough not to hammer it while it restarts, short enough that a client retrying by the
// header sees it back soon.
const UnavailableRetryAfter = time.Second

// UnavailableError is a call to a dependency (PostgreSQL, Valkey, NATS, another service) that
// failed for a reason of the dependency, not of the request: it is down, unreachable or did
// not answer within its deadline. Write answers it with 503, Retry-After and a detail naming
// Dependency; the cause is logged, never shown.
type UnavailableError struct {
	Dependency string // as operators know it: "postgres", "valkey", "nats"
	Err        error
}

func (e *UnavailableError) Error() string { return e.Dependency + " is unavailable: " + e.Err.Error() }

func (e *UnavailableError) Unwrap() error { return e.Err }

// Unavailable wraps err, a failed call to dependency, as an *UnavailableError.
func Unavailable(dependency string, err error) error {
	return &UnavailableError{Dependency: dependency, Err: err}
}

// recognisers are the drivers' tests for errors that mean their dependency is unavailable.
var recognisers struct {
	sync.RWMutex
	list []recogniser
}

type recogniser struct {
	dependency string
	is         func(error) bool
}

// RecogniseUnavailable teaches Write that errors for which is returns true mean dependency
// is unavailable. It is for a driver whose errors cannot be wrapped where they arise, such
// as a connection pool the services' adapters call directly in many places; the driver's
// package registers it once, at initialisation. Errors wrapped as *UnavailableError take
// precedence.
func RecogniseUnavailable(dependency string, is func(error) bool) {
	recognisers.Lock()
	defer recognisers.Unlock()
	recognisers.list = append(recognisers.list, recogniser{dependency: dependency, is: is})
}

// AsUnavailable returns the *UnavailableError err is or wraps, or the one a registered
// recogniser makes of it, or nil when err says nothing about a dependency being unavailable.
func AsUnavailable(err error) *UnavailableError {
	var ue *UnavailableError
	if errors.As(err, &ue) {
		return ue
	}
	recognisers.RLock()
	defer recognisers.RUnlock()
	for _, rec := range recognisers.list {
		if rec.is(err) {
			return &UnavailableError{Dependency: rec.dependency, Err: err}
		}
	}
	return nil
}

// Write answers with the problem for err: a *Error as it says, validation.Errors as a 400
// naming every field, a dependency unavailable (see AsUnavailable) as a 503 with
// Retry-After naming it. Other errors are 500s. Both of the last are logged with their
// cause; the answer is a sentence and the request id.
func Write(w http.ResponseWriter, r *http.Request, log *slog.Logger, err error) {
	var pe *Error
	var fields validation.Errors
	if errors.As(err, &fields) {
		pe = Validation(fields...)
	}
	if pe == nil && !errors.As(err, &pe) {
		if ue := AsUnavailable(err); ue != nil {
			log.ErrorContext(r.Context(), "dependency unavailable", "dependency", ue.Dependency,
				"method", r.Method, "path", r.URL.Path, "error", err.Error())
			pe = &Error{Status: http.StatusServiceUnavailable, RetryAfter: UnavailableRetryAfter,
				Detail: ue.Dependency + " is unavailable; please try again shortly"}
		} else {
			log.ErrorContext(r.Context(), "internal error", "method", r.Method, "path", r.URL.Path, "error", err.Error())
			pe = &Error{Status: http.StatusInternalServerError, Detail: "Something went wrong on our side. Please try again; if it persists, quote the request id."}
		}
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
