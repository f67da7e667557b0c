package authtoken_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/caasdemo/orderdemo/services/platform/authtoken"
	"github.com/caasdemo/orderdemo/services/platform/config"
	"github.com/caasdemo/orderdemo/services/platform/problem"
	"github.com/caasdemo/orderdemo/services/platform/testenv"
	"github.com/caasdemo/orderdemo/services/platform/valkeyconn"
)

var (
	quiet    = slog.New(slog.NewTextHandler(io.Discard, nil))
	tokenCfg = authtoken.Config{Secret: config.Secret(testenv.JWTSecret), Issuer: "test", Audience: "test"}
)

func connect(t *testing.T, url string) *authtoken.Revocations {
	t.Helper()
	client, err := valkeyconn.Connect(t.Context(), valkeyconn.Config{URL: config.URL(url), ConnectTimeout: time.Second}, quiet)
	require.NoError(t, err)
	t.Cleanup(client.Close)
	return authtoken.NewRevocations(client, testenv.Prefix())
}

// Revoking a token at logout refuses every token of its login session, those renewed from it
// included, and nothing of the user's other sessions.
func TestRevokingATokenRevokesItsLoginSession(t *testing.T) {
	t.Parallel()
	list := connect(t, testenv.ValkeyURL(t))
	v := authtoken.NewVerifier(tokenCfg, list, time.Now)
	issuer := authtoken.NewIssuer(tokenCfg, time.Now)
	first, firstClaims, err := issuer.Issue("u1", "alice", false, "session-1")
	require.NoError(t, err)
	renewed, _, err := issuer.Issue("u1", "alice", false, "session-1")
	require.NoError(t, err)
	elsewhere, _, err := issuer.Issue("u1", "alice", false, "session-2")
	require.NoError(t, err)

	require.NoError(t, list.Revoke(t.Context(), firstClaims))
	_, err = v.Verify(t.Context(), first)
	assert.ErrorIs(t, err, authtoken.ErrRevoked)
	_, err = v.Verify(t.Context(), renewed)
	assert.ErrorIs(t, err, authtoken.ErrRevoked, "another token of the same login")
	_, err = v.Verify(t.Context(), elsewhere)
	assert.NoError(t, err, "another login of the same user")
}

// With Valkey stalled or killed, a request behind Require is answered within its deadline
// with 503, Retry-After and a problem naming valkey; it is never let through unchecked.
func TestRequireAnswers503WhenValkeyIsDown(t *testing.T) {
	t.Parallel()
	proxy := testenv.StartProxy(t, testenv.ValkeyURL(t))
	v := authtoken.NewVerifier(tokenCfg, connect(t, proxy.URL()), time.Now)
	raw, _, err := authtoken.NewIssuer(tokenCfg, time.Now).Issue("u1", "alice", false, "s1")
	require.NoError(t, err)
	h := v.Require(authtoken.ScopeUserOrders, quiet)(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusNoContent)
	}))
	call := func() (*httptest.ResponseRecorder, time.Duration) {
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second) // a request waits as long as its client
		defer cancel()
		req := httptest.NewRequestWithContext(ctx, http.MethodGet, "/orders/me", nil)
		req.Header.Set("Authorization", "Bearer "+raw)
		rec := httptest.NewRecorder()
		start := time.Now()
		h.ServeHTTP(rec, req)
		return rec, time.Since(start)
	}
	rec, _ := call()
	require.Equal(t, http.StatusNoContent, rec.Code)

	for name, fault := range map[string]func(){"stalled": proxy.Stall, "killed": proxy.Cut} {
		fault()
		rec, elapsed := call()
		assert.Equal(t, http.StatusServiceUnavailable, rec.Code, name)
		assert.Equal(t, "1", rec.Header().Get("Retry-After"), name)
		var d problem.Details
		require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &d))
		assert.Equal(t, "valkey is unavailable; please try again shortly", d.Detail, name)
		assert.Less(t, elapsed, 2500*time.Millisecond, name)
		proxy.Restore()
		require.Eventually(t, func() bool { rec, _ := call(); return rec.Code == http.StatusNoContent }, 10*time.Second, 50*time.Millisecond, name)
	}
}
