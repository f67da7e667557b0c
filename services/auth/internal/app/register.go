package app

import (
	"context"
	"fmt"

	"github.com/caasdemo/orderdemo/events"
	"github.com/caasdemo/orderdemo/services/auth/internal/domain"
)

// Register creates an account and its UserRegistered event. It returns a
// domain.ValidationError naming every bad field, domain.ErrUsernameTaken, or ErrBusy.
func (a *App) Register(ctx context.Context, username, password, correlationID string) (domain.User, error) {
	name, err := domain.ValidateRegistration(username, password)
	if err != nil {
		return domain.User{}, err
	}
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
