package app

import (
	"context"
	"errors"
	"fmt"

	"github.com/caasdemo/orderdemo/events"
	"github.com/caasdemo/orderdemo/services/auth/internal/domain"
)

// Register creates an account and its UserRegistered event. It returns a
// domain.ValidationError naming every bad field, domain.ErrUsernameTaken, ErrBusy, or a
// *RateLimitedError once the client address has registered RegisterPerClient times within
// RegisterWindow. Every well-formed attempt counts, an account created or a name found
// taken alike (so the limit also bounds probing for names); one the service could not
// complete (busy, or a store error) does not.
func (a *App) Register(ctx context.Context, username, password, clientAddr, correlationID string) (domain.User, error) {
	name, err := domain.ValidateRegistration(username, password)
	if err != nil {
		return domain.User{}, err
	}
	limit := Limit{Key: "register:client:" + clientAddr, Max: a.policy.RegisterPerClient, Window: a.policy.RegisterWindow}
	attempt, wait, err := a.limiter.Acquire(ctx, a.now(), limit)
	if err != nil {
		return domain.User{}, fmt.Errorf("registration limiter: %w", err)
	}
	if wait > 0 {
		a.log.InfoContext(ctx, "registration refused", "reason", "rate_limited")
		return domain.User{}, &RateLimitedError{Attempts: "registrations from this address", RetryAfter: wait}
	}
	u, err := a.register(ctx, name, password, correlationID)
	if err != nil && !errors.Is(err, domain.ErrUsernameTaken) {
		return domain.User{}, a.abandon(ctx, attempt, limit, err)
	}
	return u, err
}

// register hashes the password and stores the account with its event.
func (a *App) register(ctx context.Context, name domain.Username, password, correlationID string) (domain.User, error) {
	hash, err := a.hasher.Hash(ctx, password)
	if err != nil {
		return domain.User{}, err
	}
	now := a.now()
	u, err := domain.NewUser(events.NewID(), name, hash, false, now)
	if err != nil {
		return domain.User{}, err
	}
	ev, err := newEvent(events.UserRegistered{UserID: u.ID, Username: string(u.Username)}, correlationID, u.Version, now)
	if err != nil {
		return domain.User{}, err
	}
	if err := a.users.Create(ctx, u, ev); err != nil {
		return domain.User{}, fmt.Errorf("register %s: %w", name, err)
	}
	a.log.InfoContext(ctx, "user registered", "user_id", u.ID, "username", u.Username)
	return u, nil
}
