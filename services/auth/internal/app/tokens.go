package app

import (
	"context"
	"errors"
	"fmt"

	"github.com/caasdemo/orderdemo/events"
	"github.com/caasdemo/orderdemo/services/auth/internal/domain"
	"github.com/caasdemo/orderdemo/services/platform/authtoken"
)

// issue signs an access token for the session and pairs it with refresh.
func (a *App) issue(sess Session, refresh string) (Tokens, error) {
	token, claims, err := a.issuer.Issue(sess.UserID, sess.Username, sess.IsAdmin, sess.ID)
	if err != nil {
		return Tokens{}, err
	}
	return Tokens{AccessToken: token, ExpiresIn: authtoken.AccessTokenTTL, RefreshToken: refresh, Claims: claims}, nil
}

// Refresh exchanges a refresh token for a new access token and the next refresh token, while
// the login session lives. The old refresh token stops working; presenting it again ends the
// session (it was stolen, or replayed).
func (a *App) Refresh(ctx context.Context, refreshToken string) (Tokens, error) {
	sess, next, err := a.sessions.Rotate(ctx, refreshToken)
	if err != nil {
		return Tokens{}, err
	}
	return a.issue(sess, next)
}

// Verify returns the claims of a valid, unrevoked access token.
func (a *App) Verify(ctx context.Context, token string) (authtoken.Claims, error) {
	return a.verifier.Verify(ctx, token)
}

// Logout revokes the access token and every other access token of its login (the session
// is revoked, so tokens renewed from it are refused as well), ends the login session (so its
// refresh token stops working) and records UserLoggedOut.
func (a *App) Logout(ctx context.Context, claims authtoken.Claims, correlationID string) error {
	if err := a.revoked.Revoke(ctx, claims); err != nil {
		return fmt.Errorf("revoke token and session: %w", err)
	}
	if claims.SessionID != "" {
		if err := a.sessions.End(ctx, claims.SessionID); err != nil {
			return fmt.Errorf("end session: %w", err)
		}
	}
	now := a.now()
	err := a.users.Update(ctx, claims.UserID, func(u *domain.User) ([]events.Envelope, error) {
		u.Version++
		ev, err := newEvent(events.UserLoggedOut{UserID: u.ID, Username: string(u.Username)}, correlationID, u.Version, now)
		return []events.Envelope{ev}, err
	})
	if errors.Is(err, domain.ErrUnknownUser) {
		err = nil // the account is gone; the token is revoked all the same
	}
	if err != nil {
		return fmt.Errorf("record logout: %w", err)
	}
	a.log.InfoContext(ctx, "user logged out", "user_id", claims.UserID)
	return nil
}
