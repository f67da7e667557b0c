package authtoken

import (
	"context"
	"time"

	"github.com/valkey-io/valkey-go"
)

// Revocations is the revocation list in Valkey: one key per revoked token id, expiring with
// the token, and one per revoked login session, expiring when the last token the session
// could have been given has. Every service that verifies tokens reads the same keys, so a
// logout is refused everywhere from the moment the auth service has written it.
//
// The client should come from valkeyconn.Connect, which bounds every command by
// VALKEY_CALL_TIMEOUT: the list is read on every request.
type Revocations struct {
	client  valkey.Client
	prefix  string
	session string
}

// NewRevocations returns the list stored under prefix + "revoked:" in client.
func NewRevocations(client valkey.Client, prefix string) *Revocations {
	return &Revocations{client: client, prefix: prefix + "revoked:", session: prefix + "revoked:session:"}
}

// Revoke refuses the token c from now on, until it expires, and with it every token of its
// login session (c.SessionID), for AccessTokenTTL from now: no token of the session can live
// longer, since a token issued a moment ago by a refresh expires then. An expired token
// without a session needs no entry. Both are written in one round trip.
func (r *Revocations) Revoke(ctx context.Context, c Claims) error {
	var cmds valkey.Commands
	if ttl := time.Until(c.ExpiresAt); ttl > 0 {
		cmds = append(cmds, r.client.B().Set().Key(r.prefix+c.TokenID).Value("1").Px(ttl+time.Second).Build())
	}
	if c.SessionID != "" {
		cmds = append(cmds, r.client.B().Set().Key(r.session+c.SessionID).Value("1").Px(AccessTokenTTL+time.Second).Build())
	}
	for _, res := range r.client.DoMulti(ctx, cmds...) {
		if err := res.Error(); err != nil {
			return err
		}
	}
	return nil
}

// IsRevoked reports whether the token c, or its login session, was revoked: one EXISTS over
// both keys.
func (r *Revocations) IsRevoked(ctx context.Context, c Claims) (bool, error) {
	keys := []string{r.prefix + c.TokenID}
	if c.SessionID != "" {
		keys = append(keys, r.session+c.SessionID)
	}
	n, err := r.client.Do(ctx, r.client.B().Exists().Key(keys...).Build()).AsInt64()
	return n > 0, err
}
