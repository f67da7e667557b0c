// Package session keeps the gateway's server-side sessions in Valkey: the browser holds only
// a random id in an HttpOnly cookie; the user, the access and refresh tokens and the CSRF
// token stay on the server under session:<id>, with a sliding idle timeout and an absolute
// lifetime. Sessions survive restarts of the gateway (they are in Valkey) and of auth (the
// refresh token renews the access token). Every call to Valkey has its own deadline
// (valkeyconn's VALKEY_CALL_TIMEOUT): a Valkey that is down or stuck fails a call with a
// *problem.UnavailableError, told apart from a session that ended (ErrNotFound).
package session

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"strconv"
	"time"

	"github.com/valkey-io/valkey-go"
)

// Session is one signed-in browser.
type Session struct {
	ID           string
	UserID       string
	Username     string
	IsAdmin      bool
	AccessToken  string
	AccessExpiry time.Time
	RefreshToken string
	CSRF         string
	CreatedAt    time.Time
	LastSeen     time.Time
}

// ErrNotFound: no live session has that id.
var ErrNotFound = errors.New("no such session")

// Store is the session store.
type Store struct {
	client   valkey.Client
	prefix   string
	idle     time.Duration
	lifetime time.Duration
	now      func() time.Time
}

// NewStore returns a store under prefix + "session:".
func NewStore(client valkey.Client, prefix string, idle, lifetime time.Duration, now func() time.Time) *Store {
	return &Store{client: client, prefix: prefix + "session:", idle: idle, lifetime: lifetime, now: now}
}

// NewID returns a random, unguessable id (256 bits).
func NewID() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// Create stores a new session with a fresh id and CSRF token and returns it.
func (s *Store) Create(ctx context.Context, sess Session) (Session, error) {
	now := s.now()
	sess.ID, sess.CSRF, sess.CreatedAt, sess.LastSeen = NewID(), NewID(), now, now
	return sess, s.Save(ctx, sess)
}

// Save writes the session and restarts its idle timeout, never past its absolute lifetime.
func (s *Store) Save(ctx context.Context, sess Session) error {
	ttl := s.idle
	if left := sess.CreatedAt.Add(s.lifetime).Sub(s.now()); left < ttl {
		ttl = left
	}
	if ttl <= 0 {
		return s.Delete(ctx, sess.ID)
	}
	key := s.prefix + sess.ID
	cmds := valkey.Commands{
		s.client.B().Hset().Key(key).FieldValue().
			FieldValue("user_id", sess.UserID).FieldValue("username", sess.Username).
			FieldValue("is_admin", strconv.FormatBool(sess.IsAdmin)).
			FieldValue("access_token", sess.AccessToken).
			FieldValue("access_expiry", strconv.FormatInt(sess.AccessExpiry.UnixMilli(), 10)).
			FieldValue("refresh_token", sess.RefreshToken).
			FieldValue("csrf", sess.CSRF).
			FieldValue("created_at", strconv.FormatInt(sess.CreatedAt.UnixMilli(), 10)).
			FieldValue("last_seen", strconv.FormatInt(s.now().UnixMilli(), 10)).Build(),
		s.client.B().Pexpire().Key(key).Milliseconds(ttl.Milliseconds()).Build(),
	}
	for _, r := range s.client.DoMulti(ctx, cmds...) {
		if err := r.Error(); err != nil {
			return err
		}
	}
	return nil
}

// Get loads a session and slides its idle timeout. It returns ErrNotFound for an unknown,
// idle or expired id.
func (s *Store) Get(ctx context.Context, id string) (Session, error) {
	if id == "" {
		return Session{}, ErrNotFound
	}
	m, err := s.client.Do(ctx, s.client.B().Hgetall().Key(s.prefix+id).Build()).AsStrMap()
	if err != nil {
		return Session{}, err
	}
	if len(m) == 0 {
		return Session{}, ErrNotFound
	}
	sess := Session{ID: id, UserID: m["user_id"], Username: m["username"], AccessToken: m["access_token"],
		RefreshToken: m["refresh_token"], CSRF: m["csrf"]}
	sess.IsAdmin, _ = strconv.ParseBool(m["is_admin"])
	sess.AccessExpiry = millis(m["access_expiry"])
	sess.CreatedAt = millis(m["created_at"])
	sess.LastSeen = millis(m["last_seen"])
	if s.now().After(sess.CreatedAt.Add(s.lifetime)) {
		_ = s.Delete(ctx, id)
		return Session{}, ErrNotFound
	}
	return sess, s.Touch(ctx, sess)
}

// Touch slides the idle timeout.
func (s *Store) Touch(ctx context.Context, sess Session) error {
	ttl := s.idle
	if left := sess.CreatedAt.Add(s.lifetime).Sub(s.now()); left < ttl {
		ttl = left
	}
	return s.client.Do(ctx, s.client.B().Pexpire().Key(s.prefix+sess.ID).Milliseconds(max(ttl.Milliseconds(), 1)).Build()).Error()
}

// Delete ends a session.
func (s *Store) Delete(ctx context.Context, id string) error {
	return s.client.Do(ctx, s.client.B().Del().Key(s.prefix+id).Build()).Error()
}

func millis(v string) time.Time {
	n, _ := strconv.ParseInt(v, 10, 64)
	return time.UnixMilli(n)
}
