package adapters

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/valkey-io/valkey-go"

	"github.com/caasdemo/orderdemo/services/auth/internal/app"
)

// rotateScript swaps the session's refresh secret if the presented one is current, and
// remembers the one it replaced for the grace period: presenting that one again meanwhile (a
// concurrent renewal that lost the race) is answered with the same successor, sealed so that
// only the holder of the replaced secret can open it. Any other secret (an older token
// replayed, the replaced one after the grace, a forgery) ends the session. The session lives
// IdleTimeout after its last rotation, and never past its absolute lifetime. Being one script,
// the check and the swap are atomic across every replica sharing the server.
//
// KEYS[1]: the session. ARGV: presented hash, new hash, idle (ms), now (ms), lifetime (ms),
// grace (ms), the new secret sealed with the presented one. Returns user_id, username,
// is_admin, started_at and the sealed successor ("" when this call rotated), or nil.
var rotateScript = valkey.NewLuaScript(`
local s = redis.call('HMGET', KEYS[1], 'secret_hash', 'started_at', 'prev_hash', 'prev_until', 'next_sealed')
if not s[1] then return false end
local now = tonumber(ARGV[4])
local left = tonumber(s[2]) + tonumber(ARGV[5]) - now
if left <= 0 then
  redis.call('DEL', KEYS[1])
  return false
end
local sealed = ''
if s[1] == ARGV[1] then
  redis.call('HSET', KEYS[1], 'secret_hash', ARGV[2], 'prev_hash', ARGV[1],
    'prev_until', now + tonumber(ARGV[6]), 'next_sealed', ARGV[7])
  local ttl = tonumber(ARGV[3])
  if left < ttl then ttl = left end
  redis.call('PEXPIRE', KEYS[1], ttl)
elseif s[3] and s[3] == ARGV[1] and now < tonumber(s[4]) then
  sealed = s[5]
else
  redis.call('DEL', KEYS[1])
  return false
end
local v = redis.call('HMGET', KEYS[1], 'user_id', 'username', 'is_admin', 'started_at')
v[5] = sealed
return v
`)

// SessionLimits bound the login sessions.
type SessionLimits struct {
	Idle     time.Duration // a session ends this long after its last rotation
	Lifetime time.Duration // and this long after the login in any case
	// Grace is how long the refresh token a rotation replaced still gets that rotation's
	// successor instead of ending the session: long enough for the concurrent renewals of
	// one browser, short enough that a stolen copy used later is caught. Zero disables it.
	Grace time.Duration
}

// Sessions is app.Sessions in Valkey: one hash per login session under prefix +
// "auth:session:<id>", holding the SHA-256 of the current refresh secret (never the secret),
// and during the grace period the hash of the replaced secret with the successor sealed by
// it. A refresh token is "<session id>.<secret>".
type Sessions struct {
	client valkey.Client
	prefix string
	limits SessionLimits
	now    func() time.Time
}

// NewSessions returns the store.
func NewSessions(client valkey.Client, prefix string, limits SessionLimits, now func() time.Time) *Sessions {
	return &Sessions{client: client, prefix: prefix + "auth:session:", limits: limits, now: now}
}

// Start implements app.Sessions.
func (s *Sessions) Start(ctx context.Context, sess app.Session) (string, error) {
	secret := encodeSecret(newSecret())
	key := s.prefix + sess.ID
	cmds := valkey.Commands{
		s.client.B().Hset().Key(key).FieldValue().
			FieldValue("user_id", sess.UserID).FieldValue("username", sess.Username).
			FieldValue("is_admin", strconv.FormatBool(sess.IsAdmin)).
			FieldValue("started_at", strconv.FormatInt(sess.StartedAt.UnixMilli(), 10)).
			FieldValue("secret_hash", hashSecret(secret)).Build(),
		s.client.B().Pexpire().Key(key).Milliseconds(s.limits.Idle.Milliseconds()).Build(),
	}
	for _, res := range s.client.DoMulti(ctx, cmds...) {
		if err := res.Error(); err != nil {
			return "", err
		}
	}
	return sess.ID + "." + secret, nil
}

// Rotate implements app.Sessions. Within the grace period after a rotation, the token it
// replaced gets the same successor as the first caller did.
func (s *Sessions) Rotate(ctx context.Context, token string) (app.Session, string, error) {
	id, secret, ok := strings.Cut(token, ".")
	if !ok || id == "" || secret == "" {
		return app.Session{}, "", app.ErrInvalidRefresh
	}
	next := newSecret()
	vals, err := rotateScript.Exec(ctx, s.client, []string{s.prefix + id}, []string{
		hashSecret(secret), hashSecret(encodeSecret(next)), strconv.FormatInt(s.limits.Idle.Milliseconds(), 10),
		strconv.FormatInt(s.now().UnixMilli(), 10), strconv.FormatInt(s.limits.Lifetime.Milliseconds(), 10),
		strconv.FormatInt(s.limits.Grace.Milliseconds(), 10), seal(secret, next),
	}).AsStrSlice()
	if valkey.IsValkeyNil(err) {
		return app.Session{}, "", app.ErrInvalidRefresh
	}
	if err != nil {
		return app.Session{}, "", err
	}
	if len(vals) != 5 {
		return app.Session{}, "", fmt.Errorf("rotate session: unexpected answer of %d values", len(vals))
	}
	if vals[4] != "" { // a renewal that lost the race: the winner's successor
		if next, err = unseal(secret, vals[4]); err != nil {
			return app.Session{}, "", fmt.Errorf("rotate session: %w", err)
		}
	}
	started, _ := strconv.ParseInt(vals[3], 10, 64)
	isAdmin, _ := strconv.ParseBool(vals[2])
	return app.Session{ID: id, UserID: vals[0], Username: vals[1], IsAdmin: isAdmin, StartedAt: time.UnixMilli(started)},
		id + "." + encodeSecret(next), nil
}

// End implements app.Sessions.
func (s *Sessions) End(ctx context.Context, sessionID string) error {
	return s.client.Do(ctx, s.client.B().Del().Key(s.prefix+sessionID).Build()).Error()
}

// secretSize is the length of a refresh secret, in random bytes.
const secretSize = 32

func newSecret() []byte {
	b := make([]byte, secretSize)
	_, _ = rand.Read(b)
	return b
}

func encodeSecret(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func hashSecret(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}

// sealPad is the one-time pad that seals a successor: an HMAC keyed by the replaced secret,
// so the stored value opens only for whoever presents that secret, and reveals nothing to a
// reader of Valkey (which holds only the secret's SHA-256).
func sealPad(prev string) []byte {
	m := hmac.New(sha256.New, []byte(prev))
	m.Write([]byte("refresh token successor"))
	return m.Sum(nil)
}

// seal encrypts next with a pad only the holder of prev can make.
func seal(prev string, next []byte) string {
	pad := sealPad(prev)
	out := make([]byte, len(next))
	for i := range next {
		out[i] = next[i] ^ pad[i]
	}
	return hex.EncodeToString(out)
}

// unseal opens what seal made with the same prev.
func unseal(prev, sealed string) ([]byte, error) {
	b, err := hex.DecodeString(sealed)
	if err != nil || len(b) != secretSize {
		return nil, errors.New("malformed sealed successor")
	}
	pad := sealPad(prev)
	for i := range b {
		b[i] ^= pad[i]
	}
	return b, nil
}
