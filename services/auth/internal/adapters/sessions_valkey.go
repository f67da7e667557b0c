package adapters

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"strconv"
	"strings"
	"time"

	"github.com/valkey-io/valkey-go"

	"github.com/caasdemo/orderdemo/services/auth/internal/app"
)

// rotateScript swaps the session's refresh secret if the presented one is current. A
// presented secret that is not current (an old token replayed, or a forgery) ends the
// session. The session lives IdleTimeout after its last rotation, and never past its
// absolute lifetime.
//
// KEYS[1]: the session. ARGV: presented hash, new hash, idle (ms), now (ms), lifetime (ms).
var rotateScript = valkey.NewLuaScript(`
local h = redis.call('HGET', KEYS[1], 'secret_hash')
if not h then return false end
if h ~= ARGV[1] then
  redis.call('DEL', KEYS[1])
  return false
end
local left = tonumber(redis.call('HGET', KEYS[1], 'started_at')) + tonumber(ARGV[5]) - tonumber(ARGV[4])
if left <= 0 then
  redis.call('DEL', KEYS[1])
  return false
end
redis.call('HSET', KEYS[1], 'secret_hash', ARGV[2])
local ttl = tonumber(ARGV[3])
if left < ttl then ttl = left end
redis.call('PEXPIRE', KEYS[1], ttl)
return redis.call('HMGET', KEYS[1], 'user_id', 'username', 'is_admin', 'started_at')
`)

// Sessions is app.Sessions in Valkey: one hash per login session under prefix +
// "auth:session:<id>", holding the SHA-256 of the current refresh secret (never the secret).
// A refresh token is "<session id>.<secret>".
type Sessions struct {
	client   valkey.Client
	prefix   string
	idle     time.Duration
	lifetime time.Duration
	now      func() time.Time
}

// NewSessions returns the store: sessions end after idle without a refresh, and at lifetime
// after the login in any case.
func NewSessions(client valkey.Client, prefix string, idle, lifetime time.Duration, now func() time.Time) *Sessions {
	return &Sessions{client: client, prefix: prefix + "auth:session:", idle: idle, lifetime: lifetime, now: now}
}

// Start implements app.Sessions.
func (s *Sessions) Start(ctx context.Context, sess app.Session) (string, error) {
	secret := newSecret()
	key := s.prefix + sess.ID
	cmds := valkey.Commands{
		s.client.B().Hset().Key(key).FieldValue().
			FieldValue("user_id", sess.UserID).FieldValue("username", sess.Username).
			FieldValue("is_admin", strconv.FormatBool(sess.IsAdmin)).
			FieldValue("started_at", strconv.FormatInt(sess.StartedAt.UnixMilli(), 10)).
			FieldValue("secret_hash", hashSecret(secret)).Build(),
		s.client.B().Pexpire().Key(key).Milliseconds(s.idle.Milliseconds()).Build(),
	}
	for _, res := range s.client.DoMulti(ctx, cmds...) {
		if err := res.Error(); err != nil {
			return "", err
		}
	}
	return sess.ID + "." + secret, nil
}

// Rotate implements app.Sessions.
func (s *Sessions) Rotate(ctx context.Context, token string) (app.Session, string, error) {
	id, secret, ok := strings.Cut(token, ".")
	if !ok || id == "" || secret == "" {
		return app.Session{}, "", app.ErrInvalidRefresh
	}
	next := newSecret()
	vals, err := rotateScript.Exec(ctx, s.client, []string{s.prefix + id}, []string{
		hashSecret(secret), hashSecret(next), strconv.FormatInt(s.idle.Milliseconds(), 10),
		strconv.FormatInt(s.now().UnixMilli(), 10), strconv.FormatInt(s.lifetime.Milliseconds(), 10),
	}).AsStrSlice()
	if valkey.IsValkeyNil(err) {
		return app.Session{}, "", app.ErrInvalidRefresh
	}
	if err != nil {
		return app.Session{}, "", err
	}
	started, _ := strconv.ParseInt(vals[3], 10, 64)
	isAdmin, _ := strconv.ParseBool(vals[2])
	return app.Session{ID: id, UserID: vals[0], Username: vals[1], IsAdmin: isAdmin, StartedAt: time.UnixMilli(started)},
		id + "." + next, nil
}

// End implements app.Sessions.
func (s *Sessions) End(ctx context.Context, sessionID string) error {
	return s.client.Do(ctx, s.client.B().Del().Key(s.prefix+sessionID).Build()).Error()
}

func newSecret() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

func hashSecret(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}
