package app

import (
	"context"
	"errors"
	"fmt"

	"github.com/caasdemo/orderdemo/events"
	"github.com/caasdemo/orderdemo/services/auth/internal/domain"
)

// Login checks a password and hands out an access token and a refresh token.
//
// Failed attempts are limited per username and per client address in sliding windows. While
// a username's window is full every attempt for it is refused with a *RateLimitedError, even
// with the right password (the spec's rule: it stops guessing one account). While a client's
// window is full its attempts are still checked: the right password logs in, a wrong one is
// refused with a *RateLimitedError instead of a 401. So a client address shared by many
// people (behind a proxy, or a gateway without TRUSTED_PROXIES) never locks out someone who
// knows their password. An unknown user and a wrong password give the same domain.ErrInvalidCredentials
// after the same bcrypt work. Every outcome is an event: UserLoggedIn or UserLoginFailed,
// except for a name no account can have (domain.LoginCanMatch): that is
// domain.ErrInvalidCredentials at once, with no look-up, no event and no count.
func (a *App) Login(ctx context.Context, rawUsername, password, clientAddr, correlationID string) (Tokens, error) {
	if !domain.LoginCanMatch(rawUsername) {
		a.metrics.loginFailed(ctx, events.ReasonUnknownUser)
		return Tokens{}, domain.ErrInvalidCredentials
	}
	if err := a.WaitForAdmin(ctx); err != nil {
		return Tokens{}, err
	}
	username := domain.NormalizeLogin(rawUsername)
	now := a.now()
	perUser := Limit{Key: "login:user:" + username, Max: a.policy.PerUsername, Window: a.policy.Window}
	perClient := Limit{Key: "login:client:" + clientAddr, Max: a.policy.PerClient, Window: a.policy.Window}
	attempt, wait, err := a.limiter.Acquire(ctx, now, perUser)
	if err != nil {
		return Tokens{}, fmt.Errorf("login limiter: %w", err)
	}
	clientAttempt, clientWait, err := a.limiter.Acquire(ctx, now, perClient)
	if err != nil {
		return Tokens{}, a.abandon(ctx, attempt, perUser, fmt.Errorf("login limiter: %w", err))
	}
	// abandon uncounts both: the attempt did not fail (a dependency did, or it succeeded).
	abandon := func(err error) error {
		return a.abandon(ctx, clientAttempt, perClient, a.abandon(ctx, attempt, perUser, err))
	}
	user, lookupErr := a.users.ByUsername(ctx, username)
	if lookupErr != nil && !errors.Is(lookupErr, domain.ErrUnknownUser) {
		return Tokens{}, abandon(lookupErr)
	}
	known := lookupErr == nil

	if wait > 0 {
		a.failed(ctx, user, known, username, events.ReasonRateLimited, correlationID)
		return Tokens{}, &RateLimitedError{Attempts: "failed login attempts", RetryAfter: wait}
	}

	hash := user.PasswordHash
	if !known {
		hash = a.dummy()
	}
	match, err := a.hasher.Compare(ctx, hash, password)
	if err != nil { // busy or cancelled: not a failed attempt
		return Tokens{}, abandon(err)
	}
	if !known || !match {
		if clientWait > 0 {
			a.failed(ctx, user, known, username, events.ReasonRateLimited, correlationID)
			return Tokens{}, &RateLimitedError{Attempts: "failed login attempts from this address", RetryAfter: clientWait}
		}
		reason := events.ReasonBadPassword
		if !known {
			reason = events.ReasonUnknownUser
		}
		a.failed(ctx, user, known, username, reason, correlationID)
		return Tokens{}, domain.ErrInvalidCredentials
	}
	_ = abandon(nil) // a successful login is not a failure
	return a.loggedIn(ctx, user, correlationID)
}

// loggedIn opens the session, signs the token and records last_login with UserLoggedIn.
func (a *App) loggedIn(ctx context.Context, user domain.User, correlationID string) (Tokens, error) {
	now := a.now()
	sess := Session{ID: events.NewID(), UserID: user.ID, Username: string(user.Username), IsAdmin: user.IsAdmin, StartedAt: now}
	refresh, err := a.sessions.Start(ctx, sess)
	if err != nil {
		return Tokens{}, fmt.Errorf("start session: %w", err)
	}
	tokens, err := a.issue(sess, refresh)
	if err != nil {
		return Tokens{}, err
	}
	err = a.users.Update(ctx, user.ID, func(u *domain.User) ([]events.Envelope, error) {
		u.LastLogin = &now
		u.Version++
		ev, err := newEvent(events.UserLoggedIn{UserID: u.ID, Username: string(u.Username)}, correlationID, u.Version, now)
		return []events.Envelope{ev}, err
	})
	if err != nil {
		_ = a.sessions.End(context.WithoutCancel(ctx), sess.ID)
		return Tokens{}, fmt.Errorf("record login of %s: %w", user.ID, err)
	}
	a.log.InfoContext(ctx, "user logged in", "user_id", user.ID, "username", user.Username)
	return tokens, nil
}

// failed records UserLoginFailed; a failure to record it is logged, not returned, so the
// caller still gets the refusal it is owed.
func (a *App) failed(ctx context.Context, user domain.User, known bool, username, reason, correlationID string) {
	now := a.now()
	var err error
	if known {
		err = a.users.Update(ctx, user.ID, func(u *domain.User) ([]events.Envelope, error) {
			u.Version++
			ev, err := newEvent(events.UserLoginFailed{UserID: u.ID, Username: string(u.Username), Reason: reason}, correlationID, u.Version, now)
			return []events.Envelope{ev}, err
		})
	} else {
		var ev events.Envelope
		ev, err = newEvent(events.UserLoginFailed{Username: truncate(username, 72), Reason: reason}, correlationID, 1, now)
		if err == nil {
			err = a.users.Append(ctx, ev)
		}
	}
	if err != nil {
		a.log.ErrorContext(ctx, "could not record a failed login", "reason", reason, "error", err)
	}
	a.log.InfoContext(ctx, "login refused", "reason", reason)
	a.metrics.loginFailed(ctx, reason)
}

// abandon uncounts the attempt and returns err.
func (a *App) abandon(ctx context.Context, attempt string, limit Limit, err error) error {
	if rerr := a.limiter.Release(context.WithoutCancel(ctx), attempt, limit); rerr != nil {
		a.log.WarnContext(ctx, "could not uncount an abandoned attempt", "error", rerr)
	}
	return err
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}
