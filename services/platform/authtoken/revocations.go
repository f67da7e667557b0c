package authtoken

import (
	"context"
	"time"

	"github.com/valkey-io/valkey-go"
)

// Revocations is the revocation list in Valkey: one key per revoked token id, expiring with
// the token. Every service that verifies tokens reads the same keys, so a logout is refused
// everywhere from the moment the auth service has written it.
type Revocations struct {
	client valkey.Client
	prefix string
}

// NewRevocations returns the list stored under prefix + "revoked:" in client.
func NewRevocations(client valkey.Client, prefix string) *Revocations {
	return &Revocations{client: client, prefix: prefix + "revoked:"}
}

// Revoke marks tokenID revoked until until (the token's expiry); a token already expired
// needs no entry.
func (r *Revocations) Revoke(ctx context.Context, tokenID string, until time.Time) error {
	ttl := time.Until(until)
	if ttl <= 0 {
		return nil
	}
	return r.client.Do(ctx, r.client.B().Set().Key(r.prefix+tokenID).Value("1").Px(ttl+time.Second).Build()).Error()
}

// IsRevoked reports whether tokenID was revoked.
func (r *Revocations) IsRevoked(ctx context.Context, tokenID string) (bool, error) {
	n, err := r.client.Do(ctx, r.client.B().Exists().Key(r.prefix+tokenID).Build()).AsInt64()
	return n > 0, err
}
