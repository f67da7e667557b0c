// Package adapters implements the auth application's ports: users in PostgreSQL (with their
// events through the outbox), login limits and sessions in Valkey, and bcrypt hashing in a
// bounded pool.
package adapters

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/caasdemo/orderdemo/events"
	"github.com/caasdemo/orderdemo/services/auth/internal/domain"
	"github.com/caasdemo/orderdemo/services/platform/outbox"
)

// Users is the PostgreSQL user store of the auth schema.
type Users struct{ pool *pgxpool.Pool }

// NewUsers returns the store; the pool's search_path is the auth schema.
func NewUsers(pool *pgxpool.Pool) *Users { return &Users{pool: pool} }

// userRow is the users table's row.
type userRow struct {
	ID           string
	Username     string
	PasswordHash string
	IsAdmin      bool
	CreatedAt    time.Time
	LastLogin    *time.Time
	Version      int64
}

const userColumns = `id::text, username, password_hash, is_admin, created_at, last_login, version`

func toDomain(r userRow) domain.User {
	return domain.User{ID: r.ID, Username: domain.Username(r.Username), PasswordHash: []byte(r.PasswordHash),
		IsAdmin: r.IsAdmin, CreatedAt: r.CreatedAt, LastLogin: r.LastLogin, Version: r.Version}
}

// ByUsername implements app.Users.
func (s *Users) ByUsername(ctx context.Context, username string) (domain.User, error) {
	rows, _ := s.pool.Query(ctx, `SELECT `+userColumns+` FROM users WHERE username = $1`, username)
	r, err := pgx.CollectExactlyOneRow(rows, pgx.RowToStructByPos[userRow])
	if errors.Is(err, pgx.ErrNoRows) {
		return domain.User{}, domain.ErrUnknownUser
	}
	if err != nil {
		return domain.User{}, fmt.Errorf("user by name: %w", err)
	}
	return toDomain(r), nil
}

// Create implements app.Users. A taken name (SQLSTATE 23505, also from a concurrent
// registration) is domain.ErrUsernameTaken.
func (s *Users) Create(ctx context.Context, u domain.User, evs ...events.Envelope) error {
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO users (id, username, password_hash, is_admin, created_at, version)
			VALUES ($1, $2, $3, $4, $5, $6)`, u.ID, string(u.Username), string(u.PasswordHash), u.IsAdmin, u.CreatedAt, u.Version)
		if err != nil {
			return err
		}
		return outbox.Record(ctx, tx, evs...)
	})
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "23505" && pgErr.ConstraintName == "users_username_key" {
		return domain.ErrUsernameTaken
	}
	return err
}

// Update implements app.Users: the row is locked for the change, written back, and the
// change's events recorded, all in one transaction.
func (s *Users) Update(ctx context.Context, userID string, change func(*domain.User) ([]events.Envelope, error)) error {
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		rows, _ := tx.Query(ctx, `SELECT `+userColumns+` FROM users WHERE id = $1 FOR UPDATE`, userID)
		r, err := pgx.CollectExactlyOneRow(rows, pgx.RowToStructByPos[userRow])
		if errors.Is(err, pgx.ErrNoRows) {
			return domain.ErrUnknownUser
		}
		if err != nil {
			return fmt.Errorf("lock user: %w", err)
		}
		u := toDomain(r)
		evs, err := change(&u)
		if err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `UPDATE users SET password_hash = $2, is_admin = $3, last_login = $4, version = $5 WHERE id = $1`,
			u.ID, string(u.PasswordHash), u.IsAdmin, u.LastLogin, u.Version)
		if err != nil {
			return fmt.Errorf("update user: %w", err)
		}
		return outbox.Record(ctx, tx, evs...)
	})
}

// Append implements app.Users.
func (s *Users) Append(ctx context.Context, evs ...events.Envelope) error {
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error { return outbox.Record(ctx, tx, evs...) })
}
