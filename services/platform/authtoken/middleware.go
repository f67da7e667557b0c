package authtoken

import (
	"context"
	"errors"
	"log/slog"
	"net/http"

	"github.com/caasdemo/orderdemo/services/platform/problem"
)

type claimsKey struct{}

// FromContext returns the claims of the request's verified token.
func FromContext(ctx context.Context) (Claims, bool) {
	c, ok := ctx.Value(claimsKey{}).(Claims)
	return c, ok
}

// WithClaims returns ctx carrying c (for tests of handlers behind Require).
func WithClaims(ctx context.Context, c Claims) context.Context {
	return context.WithValue(ctx, claimsKey{}, c)
}

// Require admits requests with a valid bearer token granting scope: a missing or refused
// token is 401 (with WWW-Authenticate), a token without the scope 403, an unreadable
// revocation list 503 with Retry-After (naming valkey when it is down or too slow).
func (v *Verifier) Require(scope string, log *slog.Logger) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			raw, ok := BearerToken(r)
			if !ok {
				unauthorized(w, r, log, "a bearer token is required")
				return
			}
			c, err := v.Verify(r.Context(), raw)
			switch {
			case errors.Is(err, ErrInvalid) || errors.Is(err, ErrRevoked):
				log.InfoContext(r.Context(), "token refused", "reason", err.Error())
				unauthorized(w, r, log, "the token is invalid, expired or revoked")
				return
			case err != nil:
				if problem.AsUnavailable(err) == nil { // the list answered, with an error of its own
					log.ErrorContext(r.Context(), "token check failed", "error", err.Error())
					err = &problem.Error{Status: http.StatusServiceUnavailable, Detail: "tokens cannot be checked right now; try again shortly",
						RetryAfter: problem.UnavailableRetryAfter, Err: err}
				}
				problem.Write(w, r, log, err)
				return
			case scope != "" && !c.HasScope(scope):
				problem.Write(w, r, log, problem.Newf(http.StatusForbidden, "this needs the %s scope", scope))
				return
			}
			next.ServeHTTP(w, r.WithContext(WithClaims(r.Context(), c)))
		})
	}
}

func unauthorized(w http.ResponseWriter, r *http.Request, log *slog.Logger, detail string) {
	w.Header().Set("WWW-Authenticate", `Bearer realm="caas-order-demo"`)
	problem.Write(w, r, log, problem.New(http.StatusUnauthorized, detail))
}
