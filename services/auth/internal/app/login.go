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
// Failed attempts are limited per username and per client address in sliding windows; while
// a window is full every attempt is refused with a *RateLimitedError, even with the right
// password. An unknown user and a wrong password give the same domain.ErrInvalidCredentials
// after the same bcrypt work. Every outcome is an event: UserLoggedIn or UserLoginFailed.
func (a *App) Login(ctx context.Context, rawUsername, password, clientAddr, correlationID string) (Tokens, error) {
	if err := a.WaitForAdmin(ctx); err != nil {
		return Tokens{}, err
	}
	username := domain.NormalizeLogin(rawUsername)
	now := a.now()
	limits := []Limit{
		{Key: "user:" + username, Max: a.policy.PerUsername, Window: a.policy.Window},
		{Key: "client:" + clientAddr, Max: a.policy.PerClient, Window: a.policy.Window},
	}
	attempt, wait, err := a.limiter.Acquire(ctx, now, limits...)
	if err != nil {
		return Tokens{}, fmt.Errorf("login limiter: %w", err)
	}
	user, lookupErr := a.users.ByUsername(ctx, username)
	if lookupErr != nil && !errors.Is(lookupErr, domain.ErrUnknownUser) {
		return Tokens{}, a.abandon(ctx, attempt, limits, lookupErr)
	}
	known := lookupErr == nil

	if wait > 0 {
		a.failed(ctx, user, known, username, events.ReasonRateLimited, correlationID)
		return Tokens{}, &RateLimitedError{RetryAfter: wait}
	}

	hash := user.PasswordHash
	if !known {
		hash = a.dummy()
	}
	match, err := a.hasher.Compare(ctx, hash, password)
	if err != nil { // busy or cancelled: not a failed attempt
		return Tokens{}, a.abandon(ctx, attempt, limits, err)
	}
	if !known || !match {
		reason := events.ReasonBadPassword
		if !known {
			reason = events.ReasonUnknownUser
		}
		a.failed(ctx, user, known, username, reason, correlationID)
		return Tokens{}, domain.ErrInvalidCredentials
	}
	if err := a.limiter.Release(ctx, attempt, limits...); err != nil {
		a.log.WarnContext(ctx, "could not uncount a successful login", "error", err)
	}
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
}

// abandon uncounts the attempt and returns err.
func (a *App) abandon(ctx context.Context, attempt string, limits []Limit, err error) error {
	if rerr := a.limiter.Release(context.WithoutCancel(ctx), attempt, limits...); rerr != nil {
		a.log.WarnContext(ctx, "could not uncount an abandoned login", "error", rerr)
	}
	return err
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}
