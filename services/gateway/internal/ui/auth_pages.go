package ui

import (
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/caasdemo/orderdemo/services/gateway/internal/session"
	"github.com/caasdemo/orderdemo/services/gateway/internal/upstream"
	"github.com/caasdemo/orderdemo/services/platform/problem"
)

// Home sends signed-in users to their orders and others to the login page.
func (u *UI) Home(w http.ResponseWriter, r *http.Request) {
	if currentSession(r) != nil {
		http.Redirect(w, r, "/orders", http.StatusSeeOther)
		return
	}
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}

// LoginPage shows the login form, with a message after registration or logout.
func (u *UI) LoginPage(w http.ResponseWriter, r *http.Request) {
	v := u.newView(r, "Log in")
	switch r.URL.Query().Get("m") {
	case "registered":
		v.Flash = "Your account is ready. Log in to place your first order."
	case "loggedout":
		v.Flash = "You are logged out."
	case "expired":
		v.Flash = "Your session has ended. Please log in again."
	}
	u.render(w, r, http.StatusOK, "login", "", v)
}

// Login checks the password with the auth service and opens a session.
func (u *UI) Login(w http.ResponseWriter, r *http.Request) {
	username, password := r.PostFormValue("username"), r.PostFormValue("password")
	v := u.newView(r, "Log in")
	v.Form["username"] = username
	tokens, err := u.auth.Login(r.Context(), username, password, u.clientAddr(r))
	if err != nil {
		var p *upstream.Problem
		ue := problem.AsUnavailable(err)
		switch {
		case errors.As(err, &p) && p.Status == http.StatusTooManyRequests:
			v.Error = fmt.Sprintf("Too many attempts — try again in %d seconds.", int(math.Ceil(p.RetryAfter.Seconds())))
			setRetryAfter(w, p.RetryAfter)
			u.render(w, r, http.StatusTooManyRequests, "login", "", v)
		case errors.As(err, &p) && (p.Status == http.StatusUnauthorized || p.Status == http.StatusBadRequest):
			v.Error = "Invalid username or password."
			for f, rule := range p.Fields {
				v.Fields[f] = rule
			}
			u.render(w, r, http.StatusUnauthorized, "login", "", v)
		case ue != nil && r.Context().Err() == nil:
			// The form stays, with a sentence: auth is busy checking passwords, or down.
			u.log.WarnContext(r.Context(), "dependency unavailable", "dependency", ue.Dependency, "error", err)
			v.Error = "Signing in is not possible right now: " + dependencyName(ue.Dependency) +
				" is busy or not answering. Please try again in a moment."
			setRetryAfter(w, problem.UnavailableRetryAfter)
			u.render(w, r, http.StatusServiceUnavailable, "login", "", v)
		default:
			u.upstreamFailed(w, r, err)
		}
		return
	}
	id, err := u.auth.Verify(r.Context(), tokens.AccessToken)
	if err != nil {
		u.upstreamFailed(w, r, err)
		return
	}
	// A new session id at every login: an id planted before login is worthless.
	if old := currentSession(r); old != nil {
		_ = u.sessions.Delete(r.Context(), old.ID)
	}
	s, err := u.sessions.Create(r.Context(), session.Session{UserID: id.UserID, Username: id.Username, IsAdmin: id.IsAdmin,
		AccessToken: tokens.AccessToken, RefreshToken: tokens.RefreshToken,
		AccessExpiry: u.now().Add(time.Duration(tokens.ExpiresIn) * time.Second)})
	if err != nil {
		u.upstreamFailed(w, r, err)
		return
	}
	u.setCookie(w, sessionCookie, s.ID, 0)
	http.Redirect(w, r, "/orders", http.StatusSeeOther)
}

// RegisterPage shows the registration form.
func (u *UI) RegisterPage(w http.ResponseWriter, r *http.Request) {
	u.render(w, r, http.StatusOK, "register", "", u.newView(r, "Register"))
}

// Register creates the account and sends the user to the login page.
func (u *UI) Register(w http.ResponseWriter, r *http.Request) {
	username, password := r.PostFormValue("username"), r.PostFormValue("password")
	err := u.auth.Register(r.Context(), username, password, u.clientAddr(r))
	if err == nil {
		http.Redirect(w, r, "/login?m=registered", http.StatusSeeOther)
		return
	}
	v := u.newView(r, "Register")
	v.Form["username"] = username
	var p *upstream.Problem
	if errors.As(err, &p) && p.Status == http.StatusTooManyRequests {
		v.Error = fmt.Sprintf("Too many registrations from your address — try again in %d seconds.", int(math.Ceil(p.RetryAfter.Seconds())))
		setRetryAfter(w, p.RetryAfter)
		u.render(w, r, http.StatusTooManyRequests, "register", "", v)
		return
	}
	if !errors.As(err, &p) || p.Status != http.StatusBadRequest {
		u.upstreamFailed(w, r, err)
		return
	}
	for f, rule := range p.Fields {
		v.Fields[f] = upperFirst(f) + " " + rule + "."
	}
	if len(p.Fields) == 0 {
		v.Error = p.Detail
	}
	u.render(w, r, http.StatusBadRequest, "register", "", v)
}

// Logout revokes the token, ends the session and says so.
func (u *UI) Logout(w http.ResponseWriter, r *http.Request) {
	if s := currentSession(r); s != nil {
		if err := u.auth.Logout(r.Context(), s.AccessToken); err != nil {
			u.log.WarnContext(r.Context(), "token not revoked at logout", "error", err)
		}
		if err := u.sessions.Delete(r.Context(), s.ID); err != nil {
			u.log.WarnContext(r.Context(), "session not deleted at logout", "error", err)
		}
	}
	u.clearCookie(w, sessionCookie)
	u.setCookie(w, csrfCookie, session.NewID(), 0)
	http.Redirect(w, r, "/login?m=loggedout", http.StatusSeeOther)
}

// setRetryAfter tells the browser how long to wait, in whole seconds, when it is known.
func setRetryAfter(w http.ResponseWriter, d time.Duration) {
	if d > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(d.Seconds()))))
	}
}

func upperFirst(s string) string {
	if s == "" {
		return s
	}
	if s[0] >= 'a' && s[0] <= 'z' {
		return string(s[0]-32) + s[1:]
	}
	return s
}
