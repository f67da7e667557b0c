package authtoken

import (
	"context"
	"crypto/sha256"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/caasdemo/orderdemo/services/platform/config"
)

// memoryRevocations is a revocation list in memory, for these unit tests only (the Valkey
// one is tested through the services).
type memoryRevocations struct {
	mu  sync.Mutex
	ids map[string]bool
}

func (m *memoryRevocations) Revoke(_ context.Context, c Claims) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.ids[c.TokenID] = true
	return nil
}

func (m *memoryRevocations) IsRevoked(_ context.Context, c Claims) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.ids[c.TokenID], nil
}

func TestARememberedTokenIsStillRefusedWhenExpiredRevokedOrAltered(t *testing.T) {
	cfg := Config{Secret: config.Secret("k7Jd0qWm3ZbLx9VtR2yHc5NpF8sGa4Ue1"), Issuer: "test", Audience: "test"}
	now := time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	revoked := &memoryRevocations{ids: map[string]bool{}}
	v := NewVerifier(cfg, revoked, clock)
	raw, issued, err := NewIssuer(cfg, clock).Issue("u1", "alice", false, "s1")
	require.NoError(t, err)

	for range 2 { // parsed once, then from memory: the same claims
		c, err := v.Verify(t.Context(), raw)
		require.NoError(t, err)
		assert.Equal(t, issued.TokenID, c.TokenID)
		assert.Equal(t, "alice", c.Username)
	}

	// Another signature over the same claims finds nothing remembered and fails the check.
	dot := strings.LastIndex(raw, ".")
	forged := raw[:dot+1] + strings.Repeat("A", len(raw)-dot-1)
	_, err = v.Verify(t.Context(), forged)
	assert.ErrorIs(t, err, ErrInvalid)

	require.NoError(t, revoked.Revoke(t.Context(), issued))
	_, err = v.Verify(t.Context(), raw)
	assert.ErrorIs(t, err, ErrRevoked, "revocation is checked on every use")

	other, _, err := NewIssuer(cfg, clock).Issue("u2", "bob", false, "s2")
	require.NoError(t, err)
	_, err = v.Verify(t.Context(), other)
	require.NoError(t, err)
	now = issued.ExpiresAt
	_, err = v.Verify(t.Context(), other)
	assert.ErrorIs(t, err, ErrInvalid, "expired: the remembered entry is not used")
}

func TestTheRememberedTokensStayBounded(t *testing.T) {
	now := time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
	tokens := checkedTokens{max: 100}
	for i := range 1000 {
		expiry := now.Add(time.Hour)
		if i%2 == 0 {
			expiry = now.Add(time.Minute)
		}
		tokens.put(sha256.Sum256(fmt.Appendf(nil, "token %d", i)), Claims{ExpiresAt: expiry}, now)
		assert.LessOrEqual(t, len(tokens.claims), 100)
		if i == 500 {
			now = now.Add(2 * time.Minute) // the short-lived half has expired
		}
	}
	_, ok := tokens.get(sha256.Sum256([]byte("token 999")), now)
	assert.True(t, ok, "the newest is there")
	_, ok = tokens.get(sha256.Sum256([]byte("token 998")), now.Add(time.Minute))
	assert.False(t, ok, "an expired entry is not returned")
}
