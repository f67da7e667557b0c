// Package requestid gives every request an id that follows it through every service: the
// middleware accepts a well-formed X-Request-ID or makes one, echoes it in the response and
// keeps it in the context; the Transport copies it onto outgoing HTTP calls; the logging
// package adds it to every line logged with that context; producers copy it into events as
// their correlation id.
package requestid

import (
	"context"
	"net/http"
	"regexp"

	"github.com/google/uuid"
)

// Header is the HTTP header that carries the id.
const Header = "X-Request-ID"

// wellFormed accepts the usual shapes (UUIDs, hex, trace ids) and nothing that could smuggle
// control characters or markup into logs: 1–128 characters of letters, digits and ._:-
var wellFormed = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$`)

type ctxKey struct{}

// New returns a fresh id.
func New() string { return uuid.NewString() }

// Valid reports whether id is a well-formed request id.
func Valid(id string) bool { return wellFormed.MatchString(id) }

// With returns a context carrying id.
func With(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, ctxKey{}, id)
}

// FromContext returns the id carried by ctx, or "" when there is none.
func FromContext(ctx context.Context) string {
	id, _ := ctx.Value(ctxKey{}).(string)
	return id
}

// Middleware takes the caller's X-Request-ID when it is well formed and makes a new one
// otherwise, sets it on the response, and stores it in the request's context.
func Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get(Header)
		if !Valid(id) {
			id = New()
		}
		w.Header().Set(Header, id)
		next.ServeHTTP(w, r.WithContext(With(r.Context(), id)))
	})
}

// Transport is an http.RoundTripper that sets X-Request-ID on outgoing requests from the
// request's context, unless the caller set one already.
type Transport struct {
	Base http.RoundTripper // nil means http.DefaultTransport
}

// RoundTrip implements http.RoundTripper.
func (t Transport) RoundTrip(r *http.Request) (*http.Response, error) {
	base := t.Base
	if base == nil {
		base = http.DefaultTransport
	}
	if id := FromContext(r.Context()); id != "" && r.Header.Get(Header) == "" {
		r = r.Clone(r.Context())
		r.Header.Set(Header, id)
	}
	return base.RoundTrip(r)
}
