// Package ui is the gateway's web interface: one handler per page or action, rendering the
// embedded templates, keeping the user's session, and calling the auth and order services.
package ui

import (
	"context"
	"crypto/subtle"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/caasdemo/orderdemo/services/gateway/internal/live"
	"github.com/caasdemo/orderdemo/services/gateway/internal/session"
	"github.com/caasdemo/orderdemo/services/gateway/internal/upstream"
	"github.com/caasdemo/orderdemo/services/gateway/internal/web"
	"github.com/caasdemo/orderdemo/services/platform/requestid"
)

// Cookie names.
const (
	sessionCookie = "session"
	csrfCookie    = "csrf"
)

// UI serves the pages.
type UI struct {
	pages    *web.Pages
	sessions *session.Store
	auth     upstream.Auth
	orders   upstream.Orders
	audit    upstream.Audit
	hub      *live.Hub
	feed     *live.Feed // its position is where a rendered page opens its event stream
	js       jetstream.JetStream
	secure   bool // Secure cookies (off only for plain-http local use)
	now      func() time.Time
	log      *slog.Logger
}

// New returns the UI.
func New(pages *web.Pages, sessions *session.Store, auth upstream.Auth, orders upstream.Orders, audit upstream.Audit,
	hub *live.Hub, feed *live.Feed, js jetstream.JetStream, secureCookies bool, now func() time.Time, log *slog.Logger) *UI {
	return &UI{pages: pages, sessions: sessions, auth: auth, orders: orders, audit: audit, hub: hub, feed: feed, js: js,
		secure: secureCookies, now: now, log: log}
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

// upstreamFailed shows a sentence instead of a broken page when a service is down.
func (u *UI) upstreamFailed(w http.ResponseWriter, r *http.Request, err error) {
	if errors.Is(err, upstream.ErrUnavailable) {
		u.log.WarnContext(r.Context(), "service unavailable", "error", err)
		u.fail(w, r, http.StatusServiceUnavailable, "This part of the system is not answering right now. Please try again in a moment.")
		return
	}
	u.log.ErrorContext(r.Context(), "upstream error", "error", err)
	u.fail(w, r, http.StatusInternalServerError, "Something went wrong on our side. Please try again; if it persists, quote the request id.")
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
				u.upstreamFailed(w, r, errors.Join(upstream.ErrUnavailable, err))
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

// token returns a valid access token for the session, renewing it through the auth service
// when it is about to expire. ok is false when the session has ended (the page then sends
// the user to the login).
func (u *UI) token(ctx context.Context, s *session.Session) (string, bool, error) {
	if u.now().Add(time.Minute).Before(s.AccessExpiry) {
		return s.AccessToken, true, nil
	}
	t, err := u.auth.Refresh(ctx, s.RefreshToken)
	var p *upstream.Problem
	if errors.As(err, &p) && p.Status == http.StatusUnauthorized {
		_ = u.sessions.Delete(ctx, s.ID)
		return "", false, nil
	}
	if err != nil {
		return "", false, err
	}
	s.AccessToken, s.RefreshToken = t.AccessToken, t.RefreshToken
	s.AccessExpiry = u.now().Add(time.Duration(t.ExpiresIn) * time.Second)
	return s.AccessToken, true, u.sessions.Save(ctx, *s)
}

// clientAddr is the browser's address, for the per-client login limit.
func clientAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}
