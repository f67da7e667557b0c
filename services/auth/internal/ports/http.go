// Package ports is the auth service's HTTP API: the spec's contract, errors as RFC 9457
// problem details. Handlers decode, call the application, and map its errors in one place.
package ports

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/caasdemo/orderdemo/services/auth/internal/app"
	"github.com/caasdemo/orderdemo/services/auth/internal/domain"
	"github.com/caasdemo/orderdemo/services/platform/authtoken"
	"github.com/caasdemo/orderdemo/services/platform/clientip"
	"github.com/caasdemo/orderdemo/services/platform/httpserver"
	"github.com/caasdemo/orderdemo/services/platform/problem"
	"github.com/caasdemo/orderdemo/services/platform/requestid"
)

// maxBody bounds request bodies: a username and a password fit with room to spare.
const maxBody = 16 << 10

// HTTP serves the auth API.
type HTTP struct {
	app     *app.App
	log     *slog.Logger
	proxies clientip.Proxies
	limit   func(http.Handler) http.Handler
}

// NewHTTP returns the handlers; X-Forwarded-For is believed only from proxies. limit counts
// each request to the anonymous endpoints against its client address's rate limit (see
// ratelimit).
func NewHTTP(a *app.App, log *slog.Logger, proxies clientip.Proxies, limit func(http.Handler) http.Handler) *HTTP {
	return &HTTP{app: a, log: log, proxies: proxies, limit: limit}
}

// Routes mounts the whole surface of the service. The anonymous endpoints count against
// the client address's rate limit, both grants of the token endpoint alike.
func (h *HTTP) Routes(r chi.Router) {
	r.With(h.limit).Post("/auth/register", h.register)
	r.With(h.limit).Post("/auth/token", h.token)
	r.Get("/auth/verify", h.verify)
	r.Post("/auth/logout", h.logout)
}

type registerRequest struct {
	Username string `json:"username"`
	Password string `json:"password"`
}

type registerResponse struct {
	UserID   string `json:"user_id"`
	Username string `json:"username"`
}

func (h *HTTP) register(w http.ResponseWriter, r *http.Request) {
	var req registerRequest
	if err := httpserver.DecodeJSON(w, r, &req, maxBody); err != nil {
		h.fail(w, r, err)
		return
	}
	u, err := h.app.Register(r.Context(), req.Username, req.Password, h.clientAddr(r), requestid.FromContext(r.Context()))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	problem.WriteJSON(w, http.StatusCreated, registerResponse{UserID: u.ID, Username: string(u.Username)})
}

// tokenResponse is the OAuth2 token response (RFC 6749 §5.1).
type tokenResponse struct {
	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int    `json:"expires_in"`
	RefreshToken string `json:"refresh_token"`
	Scope        string `json:"scope"`
}

// token is the OAuth2 token endpoint: grant_type password (the default) or refresh_token.
func (h *HTTP) token(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxBody)
	if err := r.ParseForm(); err != nil {
		h.fail(w, r, problem.New(http.StatusBadRequest, "the body must be form-encoded (application/x-www-form-urlencoded)"))
		return
	}
	var tokens app.Tokens
	var err error
	switch grant := r.PostForm.Get("grant_type"); grant {
	case "", "password":
		var missing []problem.FieldError
		for _, f := range []string{"username", "password"} {
			if r.PostForm.Get(f) == "" {
				missing = append(missing, problem.FieldError{Field: f, Rule: "is required"})
			}
		}
		if len(missing) > 0 {
			h.fail(w, r, problem.Validation(missing...))
			return
		}
		tokens, err = h.app.Login(r.Context(), r.PostForm.Get("username"), r.PostForm.Get("password"),
			h.clientAddr(r), requestid.FromContext(r.Context()))
	case "refresh_token":
		tokens, err = h.app.Refresh(r.Context(), r.PostForm.Get("refresh_token"))
	default:
		err = problem.Validation(problem.FieldError{Field: "grant_type", Rule: `must be "password" or "refresh_token"`})
	}
	if err != nil {
		h.fail(w, r, err)
		return
	}
	problem.WriteJSON(w, http.StatusOK, tokenResponse{
		AccessToken: tokens.AccessToken, TokenType: "bearer", ExpiresIn: int(tokens.ExpiresIn.Seconds()),
		RefreshToken: tokens.RefreshToken, Scope: strings.Join(tokens.Claims.Scopes, " "),
	})
}

func (h *HTTP) verify(w http.ResponseWriter, r *http.Request) {
	claims, ok := h.bearer(w, r)
	if !ok {
		return
	}
	problem.WriteJSON(w, http.StatusOK, claims)
}

func (h *HTTP) logout(w http.ResponseWriter, r *http.Request) {
	claims, ok := h.bearer(w, r)
	if !ok {
		return
	}
	if err := h.app.Logout(r.Context(), claims, requestid.FromContext(r.Context())); err != nil {
		h.fail(w, r, err)
		return
	}
	problem.WriteJSON(w, http.StatusOK, map[string]string{"message": "Logged out successfully"})
}

// bearer verifies the request's token, answering 401 itself when it is refused.
func (h *HTTP) bearer(w http.ResponseWriter, r *http.Request) (authtoken.Claims, bool) {
	raw, ok := authtoken.BearerToken(r)
	if !ok {
		h.fail(w, r, errUnauthorized("an Authorization: Bearer token is required"))
		return authtoken.Claims{}, false
	}
	claims, err := h.app.Verify(r.Context(), raw)
	if errors.Is(err, authtoken.ErrInvalid) || errors.Is(err, authtoken.ErrRevoked) {
		h.log.InfoContext(r.Context(), "token refused", "reason", err.Error())
		h.fail(w, r, errUnauthorized("the token is invalid, expired or revoked"))
		return authtoken.Claims{}, false
	}
	if err != nil {
		h.fail(w, r, err)
		return authtoken.Claims{}, false
	}
	return claims, true
}

func errUnauthorized(detail string) *problem.Error {
	return problem.New(http.StatusUnauthorized, detail)
}

// fail maps the application's errors to problems: the one place that knows both.
func (h *HTTP) fail(w http.ResponseWriter, r *http.Request, err error) {
	var limited *app.RateLimitedError
	switch {
	case errors.Is(err, domain.ErrUsernameTaken):
		err = &problem.Error{Status: http.StatusBadRequest, Detail: "username already exists",
			Fields: []problem.FieldError{{Field: "username", Rule: "already exists"}}}
	case errors.Is(err, domain.ErrInvalidCredentials):
		err = errUnauthorized("invalid username or password")
	case errors.As(err, &limited):
		secs := int(math.Ceil(limited.RetryAfter.Seconds()))
		err = &problem.Error{Status: http.StatusTooManyRequests, RetryAfter: limited.RetryAfter,
			Detail: fmt.Sprintf("too many %s; try again in %d seconds", limited.Attempts, secs)}
	case errors.Is(err, app.ErrBusy):
		err = &problem.Error{Status: http.StatusServiceUnavailable, RetryAfter: time.Second,
			Detail: "the service is busy checking passwords; try again in a second"}
	case errors.Is(err, app.ErrInvalidRefresh):
		err = errUnauthorized("the refresh token is invalid, expired or already used; log in again")
	}
	var pe *problem.Error
	if errors.As(err, &pe) && pe.Status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="caas-order-demo"`)
	}
	problem.Write(w, r, h.log, err)
}

// clientAddr is the address failed logins and registrations are counted against: the peer,
// or, when the peer is a trusted proxy (the gateway), the rightmost X-Forwarded-For address
// that is not one (see clientip).
func (h *HTTP) clientAddr(r *http.Request) string { return h.proxies.Client(r) }
