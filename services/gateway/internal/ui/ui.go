// Package ui is the gateway's web interface: one handler per page or action, rendering the
// embedded templates, keeping the user's session, and calling the auth and order services.
package ui

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"golang.org/x/sync/singleflight"

	"github.com/caasdemo/orderdemo/services/gateway/internal/live"
	"github.com/caasdemo/orderdemo/services/gateway/internal/session"
	"github.com/caasdemo/orderdemo/services/gateway/internal/upstream"
	"github.com/caasdemo/orderdemo/services/gateway/internal/web"
	"github.com/caasdemo/orderdemo/services/platform/clientip"
	"github.com/caasdemo/orderdemo/services/platform/problem"
	"github.com/caasdemo/orderdemo/services/platform/requestid"
	"github.com/caasdemo/orderdemo/services/platform/valkeyconn"
)

// Cookie names.
const (
	sessionCookie = "session"
	csrfCookie    = "csrf"
)

// UI serves the pages.
type UI struct {
	pages         *web.Pages
	sessions      *session.Store
	auth          upstream.Auth
	orders        upstream.Orders
	audit         upstream.Audit
	hub           *live.Hub
	feed          *live.Feed // its position is where a rendered page opens its event stream
	js            jetstream.JetStream
	replayTimeout time.Duration
	proxies       clientip.Proxies
	secure        bool // Secure cookies (off only for plain-http local use)
	now           func() time.Time
	log           *slog.Logger
	renewals      singleflight.Group // token renewals in progress, by session id
}

// Deps are what the UI works with.
type Deps struct {
	Pages    *web.Pages
	Sessions *session.Store
	Auth     upstream.Auth
	Orders   upstream.Orders
	Audit    upstream.Audit
	Hub      *live.Hub
	Feed     *live.Feed
	JS       jetstream.JetStream
	// ReplayTimeout bounds the reads from NATS of what a resuming event stream missed.
	ReplayTimeout time.Duration
	// Proxies are the peers whose X-Forwarded-For names the browser.
	Proxies       clientip.Proxies
	SecureCookies bool
	Now           func() time.Time
	Log           *slog.Logger
}

// New returns the UI.
func New(d Deps) *UI {
	return &UI{pages: d.Pages, sessions: d.Sessions, auth: d.Auth, orders: d.Orders, audit: d.Audit, hub: d.Hub, feed: d.Feed,
		js: d.JS, replayTimeout: d.ReplayTimeout, proxies: d.Proxies, secure: d.SecureCookies, now: d.Now, log: d.Log}
}

// view is what every page template gets.
type view struct {
	Title     string
	User      *session.Session
	CSRF      string
	Flash     string
	Error     string
	Form      map[string]string
	Fields    map[string]string
	RequestID string
	Page      upstream.Page
	Status    string
	Prev      int
	Next      int
	Created   upstream.Created
	LiveNew   bool   // new orders appear at the top of this table as they are placed
	LastSeq   uint64 // the ORDERS stream's last sequence when the page was rendered
}

type ctxKey int

const (
	keySession ctxKey = iota
	keyCSRF
)

// currentSession is the request's session, or nil.
func currentSession(r *http.Request) *session.Session {
	s, _ := r.Context().Value(keySession).(*session.Session)
	return s
}

// csrfToken is the token the request's forms must send back: the session's when signed in,
// the csrf cookie's otherwise.
func csrfToken(r *http.Request) string {
	if s := currentSession(r); s != nil {
		return s.CSRF
	}
	t, _ := r.Context().Value(keyCSRF).(string)
	return t
}

func (u *UI) newView(r *http.Request, title string) view {
	return view{Title: title, User: currentSession(r), CSRF: csrfToken(r), RequestID: requestid.FromContext(r.Context()),
		Form: map[string]string{}, Fields: map[string]string{}}
}

// render writes a page (or one block of it, for htmx) with status.
func (u *UI) render(w http.ResponseWriter, r *http.Request, status int, page, block string, v any) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	if err := u.pages.Render(w, page, block, v); err != nil {
		u.log.ErrorContext(r.Context(), "render", "page", page, "error", err)
	}
}

// fail shows the friendly error page for status, with the request id.
func (u *UI) fail(w http.ResponseWriter, r *http.Request, status int, message string) {
	v := u.newView(r, http.StatusText(status))
	v.Error = message
	u.render(w, r, status, "error", "", v)
}

// upstreamFailed answers a request that a dependency failed. A dependency that is down or
// too slow (a service, the session store) gets 503 with Retry-After and a sentence naming
// it: the error page for a page, problem details for htmx and JSON requests. Anything else
// is a 500, logged. A request the browser gave up on is not answered.
func (u *UI) upstreamFailed(w http.ResponseWriter, r *http.Request, err error) {
	if r.Context().Err() != nil {
		u.log.DebugContext(r.Context(), "request abandoned by the browser", "error", err)
		return
	}
	var refused *upstream.Problem
	if errors.As(err, &refused) && refused.Status >= 400 && refused.Status < 500 {
		// The service refused the request (bad input, a conflict, a limit): the browser gets
		// its status and its words, not a 500.
		if wantsProblem(r) {
			problem.Write(w, r, u.log, &problem.Error{Status: refused.Status, Detail: refused.Detail, RetryAfter: refused.RetryAfter})
			return
		}
		setRetryAfter(w, refused.RetryAfter)
		u.fail(w, r, refused.Status, refused.Detail)
		return
	}
	ue := problem.AsUnavailable(err)
	if ue == nil {
		u.log.ErrorContext(r.Context(), "upstream error", "error", err)
		u.fail(w, r, http.StatusInternalServerError, "Something went wrong on our side. Please try again; if it persists, quote the request id.")
		return
	}
	u.log.WarnContext(r.Context(), "dependency unavailable", "dependency", ue.Dependency, "error", err)
	detail := upperFirst(dependencyName(ue.Dependency)) + " is not answering right now. Please try again in a moment."
	if wantsProblem(r) {
		problem.Write(w, r, u.log, &problem.Error{Status: http.StatusServiceUnavailable, Detail: detail,
			RetryAfter: problem.UnavailableRetryAfter, Err: err})
		return
	}
	setRetryAfter(w, problem.UnavailableRetryAfter)
	u.fail(w, r, http.StatusServiceUnavailable, detail)
}

// dependencyName is what a page calls a dependency of the gateway.
func dependencyName(dependency string) string {
	switch dependency {
	case valkeyconn.Dependency:
		return "the session store"
	case "auth", "order", "audit":
		return "the " + dependency + " service"
	}
	return dependency
}

// wantsProblem: htmx and JSON clients get errors as problem details rather than a page.
func wantsProblem(r *http.Request) bool {
	accept := r.Header.Get("Accept")
	return r.Header.Get("HX-Request") == "true" ||
		strings.Contains(accept, "application/json") || strings.Contains(accept, problem.ContentType)
}

// Middleware loads the session, makes sure an anonymous visitor has a CSRF cookie, checks
// the CSRF token of every state-changing request, and sets the security headers.
func (u *UI) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "+
			"connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "same-origin")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Cache-Control", "no-store")

		ctx := r.Context()
		if c, err := r.Cookie(sessionCookie); err == nil {
			s, err := u.sessions.Get(ctx, c.Value)
			switch {
			case err == nil:
				ctx = context.WithValue(ctx, keySession, &s)
			case errors.Is(err, session.ErrNotFound):
				u.clearCookie(w, sessionCookie)
			default:
				u.upstreamFailed(w, r, err)
				return
			}
		}
		token := ""
		if c, err := r.Cookie(csrfCookie); err == nil && len(c.Value) >= 32 {
			token = c.Value
		} else {
			token = session.NewID()
			u.setCookie(w, csrfCookie, token, 0)
		}
		ctx = context.WithValue(ctx, keyCSRF, token)
		r = r.WithContext(ctx)

		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			sent := r.Header.Get("X-CSRF-Token")
			if sent == "" {
				sent = r.PostFormValue("csrf_token")
			}
			want := csrfToken(r)
			if sent == "" || subtle.ConstantTimeCompare([]byte(sent), []byte(want)) != 1 {
				u.log.WarnContext(ctx, "csrf token missing or wrong", "path", r.URL.Path)
				u.fail(w, r, http.StatusForbidden, "This form has expired or did not come from this site. Please reload the page and try again.")
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

func (u *UI) setCookie(w http.ResponseWriter, name, value string, maxAge int) {
	http.SetCookie(w, &http.Cookie{Name: name, Value: value, Path: "/", HttpOnly: true, Secure: u.secure,
		SameSite: http.SameSiteLaxMode, MaxAge: maxAge})
}

func (u *UI) clearCookie(w http.ResponseWriter, name string) {
	http.SetCookie(w, &http.Cookie{Name: name, Value: "", Path: "/", HttpOnly: true, Secure: u.secure,
		SameSite: http.SameSiteLaxMode, MaxAge: -1})
}

// RequireUser sends anonymous visitors to the login page.
func (u *UI) RequireUser(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if currentSession(r) == nil {
			if r.Header.Get("HX-Request") == "true" {
				w.Header().Set("HX-Redirect", "/login")
				w.WriteHeader(http.StatusUnauthorized)
				return
			}
			http.Redirect(w, r, "/login", http.StatusSeeOther)
			return
		}
		next(w, r)
	}
}

// token returns a valid access token for the request's session, renewing it through the
// auth service when it is about to expire. ok is false when the session has ended (the page
// then sends the user to the login).
//
// A refresh token can be used once: two renewals with the same one look like a stolen token
// to auth, which then ends the whole login. So a session renews at most once at a time in
// this process — the requests that need it meanwhile (a page's many loads, several tabs)
// wait for that renewal and use its result — and the renewal first reads the session again,
// so a renewal another request or another gateway made meanwhile is used, not repeated.
func (u *UI) token(r *http.Request) (string, bool, error) {
	s := currentSession(r)
	if u.fresh(*s) {
		return s.AccessToken, true, nil
	}
	addr := u.clientAddr(r)
	// The renewal does not run on the request's context: the requests waiting for it must
	// not fail because the first one was cancelled. Each call in it has its own deadline.
	renewal := u.renewals.DoChan(s.ID, func() (any, error) {
		return u.renew(context.WithoutCancel(r.Context()), s.ID, addr)
	})
	select {
	case <-r.Context().Done():
		return "", false, fmt.Errorf("waiting for a token renewal: %w", r.Context().Err())
	case res := <-renewal:
		if res.Err != nil {
			return "", false, res.Err
		}
		renewed, _ := res.Val.(*session.Session)
		if renewed == nil {
			return "", false, nil
		}
		s.AccessToken, s.RefreshToken, s.AccessExpiry = renewed.AccessToken, renewed.RefreshToken, renewed.AccessExpiry
		return s.AccessToken, true, nil
	}
}

// renew reads session id again and, if its access token is still about to expire, renews
// it and saves the new tokens. It returns nil when the session has ended (auth refused the
// refresh token: the session is deleted).
func (u *UI) renew(ctx context.Context, id, clientAddr string) (*session.Session, error) {
	s, err := u.sessions.Get(ctx, id)
	if errors.Is(err, session.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if u.fresh(s) {
		return &s, nil // renewed meanwhile
	}
	t, err := u.auth.Refresh(ctx, s.RefreshToken, clientAddr)
	var p *upstream.Problem
	if errors.As(err, &p) && p.Status == http.StatusUnauthorized {
		if err := u.sessions.Delete(ctx, s.ID); err != nil {
			u.log.WarnContext(ctx, "ended session not deleted", "error", err)
		}
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	s.AccessToken, s.RefreshToken = t.AccessToken, t.RefreshToken
	s.AccessExpiry = u.now().Add(time.Duration(t.ExpiresIn) * time.Second)
	return &s, u.sessions.Save(ctx, s)
}

// fresh: the session's access token has more than a minute left.
func (u *UI) fresh(s session.Session) bool { return u.now().Add(time.Minute).Before(s.AccessExpiry) }

// clientAddr is the browser's address, for auth's per-client limits: the peer, or what a
// trusted proxy says in X-Forwarded-For.
func (u *UI) clientAddr(r *http.Request) string { return u.proxies.Client(r) }
