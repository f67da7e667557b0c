package app

import (
	"bytes"
	"context"
	"errors"
	"fmt"

	"golang.org/x/crypto/bcrypt"

	"github.com/caasdemo/orderdemo/events"
	"github.com/caasdemo/orderdemo/services/auth/internal/domain"
)

// AdminSpec is the admin account the environment asks for: a password or a bcrypt hash.
type AdminSpec struct {
	Username     string
	Password     string
	PasswordHash string
}

// BootstrapAdmin makes sure the admin account exists with the configured password and admin
// rights (story 3.1). It is idempotent. The environment is the source of truth: if the
// account exists with another password, or without admin rights, it is updated; an account
// of that name registered by someone else therefore becomes the admin with the configured
// password, and its owner loses access. Errors name the variable to fix.
func (a *App) BootstrapAdmin(ctx context.Context, spec AdminSpec) error {
	name, wantHash, err := checkAdminSpec(spec)
	if err != nil {
		return err
	}
	existing, err := a.users.ByUsername(ctx, string(name))
	switch {
	case errors.Is(err, domain.ErrUnknownUser):
		if wantHash == nil {
			if wantHash, err = a.hasher.Hash(ctx, spec.Password); err != nil {
				return err
			}
		}
		return a.createAdmin(ctx, name, wantHash)
	case err != nil:
		return fmt.Errorf("look up admin %s: %w", name, err)
	}
	same, err := a.samePassword(ctx, existing.PasswordHash, wantHash, spec)
	if err != nil {
		return err
	}
	if same && existing.IsAdmin {
		a.log.Info("admin account present", "username", name, "user_id", existing.ID)
		return nil
	}
	if wantHash == nil {
		if wantHash, err = a.hasher.Hash(ctx, spec.Password); err != nil {
			return err
		}
	}
	err = a.users.Update(ctx, existing.ID, func(u *domain.User) ([]events.Envelope, error) {
		u.PasswordHash, u.IsAdmin = wantHash, true
		return nil, nil
	})
	if err != nil {
		return fmt.Errorf("update admin %s: %w", name, err)
	}
	a.log.Warn("admin account updated from the environment", "username", name, "user_id", existing.ID,
		"password_changed", !same, "granted_admin", !existing.IsAdmin)
	return nil
}

// AdminBootstrap checks spec at once (a bad value stops the start-up, naming the variable)
// and returns a worker that runs BootstrapAdmin. From this call until the worker has
// finished, password logins wait for it, so that none is checked against a hash the
// environment is replacing. The service can be ready meanwhile: the one bcrypt comparison the
// bootstrap makes (a quarter of a second at cost 12) stays off the start-up path.
func (a *App) AdminBootstrap(spec AdminSpec) (func(context.Context) error, error) {
	if _, _, err := checkAdminSpec(spec); err != nil {
		return nil, err
	}
	done := make(chan struct{})
	a.adminSettled = done
	return func(ctx context.Context) error {
		defer close(done)
		return a.BootstrapAdmin(ctx, spec)
	}, nil
}

// WaitForAdmin returns once the admin bootstrap started by AdminBootstrap has finished (at
// once if none was started).
func (a *App) WaitForAdmin(ctx context.Context) error {
	if a.adminSettled == nil {
		return nil
	}
	select {
	case <-a.adminSettled:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// checkAdminSpec validates the configured account. It returns the configured hash, or nil
// when a plain password was given (hashed only if needed).
func checkAdminSpec(spec AdminSpec) (domain.Username, []byte, error) {
	name, err := domain.ParseUsername(spec.Username)
	if err != nil {
		return "", nil, fmt.Errorf("ADMIN_USERNAME=%q: %s", spec.Username, domain.UsernameRule)
	}
	h, err := adminHash(spec)
	return name, h, err
}

func adminHash(spec AdminSpec) ([]byte, error) {
	switch {
	case spec.PasswordHash != "":
		h := []byte(spec.PasswordHash)
		if _, err := bcrypt.Cost(h); err != nil || len(h) != 60 {
			return nil, errors.New("ADMIN_PASSWORD_HASH is not a bcrypt hash (want 60 characters starting with $2a$, $2b$ or $2y$)")
		}
		return h, nil
	case spec.Password != "":
		if err := domain.CheckPassword(spec.Password); err != nil {
			return nil, fmt.Errorf("ADMIN_PASSWORD %s", err.(domain.ValidationError)[0].Rule)
		}
		return nil, nil
	default:
		return nil, errors.New("ADMIN_PASSWORD or ADMIN_PASSWORD_HASH is required to create the admin account")
	}
}

func (a *App) samePassword(ctx context.Context, stored, wantHash []byte, spec AdminSpec) (bool, error) {
	if wantHash != nil {
		return bytes.Equal(stored, wantHash), nil
	}
	return a.hasher.Compare(ctx, stored, spec.Password)
}

func (a *App) createAdmin(ctx context.Context, name domain.Username, hash []byte) error {
	now := a.now()
	u, err := domain.NewUser(events.NewID(), name, hash, true, now)
	if err != nil {
		return err
	}
	ev, err := newEvent(events.UserRegistered{UserID: u.ID, Username: string(name), IsAdmin: true}, "", 1, now)
	if err != nil {
		return err
	}
	if err := a.users.Create(ctx, u, ev); err != nil {
		return fmt.Errorf("create admin %s: %w", name, err)
	}
	a.log.Info("admin account created", "username", name, "user_id", u.ID)
	return nil
}
