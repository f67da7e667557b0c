package service_test

import (
	"context"
	"encoding/base64"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/caasdemo/orderdemo/services/platform/authtoken"
	pconfig "github.com/caasdemo/orderdemo/services/platform/config"
	"github.com/caasdemo/orderdemo/services/platform/testenv"
	"github.com/caasdemo/orderdemo/services/platform/valkeyconn"
)

// forge signs claims with method and key, for tokens the service never issued.
func forge(t *testing.T, method jwt.SigningMethod, key any, claims jwt.MapClaims) string {
	t.Helper()
	s, err := jwt.NewWithClaims(method, claims).SignedString(key)
	require.NoError(t, err)
	return s
}

func validClaims(userID string) jwt.MapClaims {
	now := time.Now()
	return jwt.MapClaims{
		"sub": userID, "username": "erin", "is_admin": false, "scopes": []string{"user:orders"},
		"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(10 * time.Minute).Unix(),
		"jti": "7a1d6b8e-0c2f-4a3b-9d4e-5f6a7b8c9d0e", "iss": "caas-order-demo/auth", "aud": "caas-order-demo",
	}
}

func with(c jwt.MapClaims, k string, v any) jwt.MapClaims {
	out := jwt.MapClaims{}
	for key, val := range c {
		out[key] = val
	}
	if v == nil {
		delete(out, k)
	} else {
		out[k] = v
	}
	return out
}

func TestVerifyRefusesEveryMutatedToken(t *testing.T) {
	t.Parallel()
	h := start(t, baseEnv(t))
	good := h.mustLogin("erin", "erin password")["access_token"].(string)
	require.Equal(t, http.StatusOK, h.withBearer(http.MethodGet, "/auth/verify", good).Status)

	secret := []byte(testenv.JWTSecret)
	claims := validClaims("0b6e1f0a-1c2d-4e3f-8a9b-0c1d2e3f4a5b")
	parts := strings.Split(good, ".")
	b64 := base64.RawURLEncoding.EncodeToString
	payload, _ := base64.RawURLEncoding.DecodeString(parts[1])
	tampered := strings.Replace(string(payload), `"is_admin":false`, `"is_admin":true`, 1)
	require.NotEqual(t, string(payload), tampered)
	now := time.Now()

	// The forged baseline is accepted, so each refusal below is due to its one mutation.
	require.Equal(t, http.StatusOK, h.withBearer(http.MethodGet, "/auth/verify", forge(t, jwt.SigningMethodHS256, secret, claims)).Status)

	for name, token := range map[string]string{
		"missing":              "",
		"garbage":              "not-a-token",
		"two segments":         parts[0] + "." + parts[1],
		"four segments":        good + ".extra",
		"signature stripped":   parts[0] + "." + parts[1] + ".",
		"payload tampered":     parts[0] + "." + b64([]byte(tampered)) + "." + parts[2],
		"signature of another": parts[0] + "." + parts[1] + "." + strings.Split(forge(t, jwt.SigningMethodHS256, secret, claims), ".")[2],
		"wrong secret":         forge(t, jwt.SigningMethodHS256, []byte("another-secret-of-enough-length-0123456789"), claims),
		"alg none":             forge(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, claims),
		"alg HS384":            forge(t, jwt.SigningMethodHS384, secret, claims),
		"alg HS512":            forge(t, jwt.SigningMethodHS512, secret, claims),
		"alg RS256 header":     b64([]byte(`{"alg":"RS256","typ":"JWT"}`)) + "." + parts[1] + "." + parts[2],
		"expired":              forge(t, jwt.SigningMethodHS256, secret, with(claims, "exp", now.Add(-time.Second).Unix())),
		"no expiry":            forge(t, jwt.SigningMethodHS256, secret, with(claims, "exp", nil)),
		"not yet valid":        forge(t, jwt.SigningMethodHS256, secret, with(claims, "nbf", now.Add(time.Hour).Unix())),
		"issued in the future": forge(t, jwt.SigningMethodHS256, secret, with(claims, "iat", now.Add(time.Hour).Unix())),
		"wrong issuer":         forge(t, jwt.SigningMethodHS256, secret, with(claims, "iss", "someone-else")),
		"no issuer":            forge(t, jwt.SigningMethodHS256, secret, with(claims, "iss", nil)),
		"wrong audience":       forge(t, jwt.SigningMethodHS256, secret, with(claims, "aud", "another-app")),
		"no audience":          forge(t, jwt.SigningMethodHS256, secret, with(claims, "aud", nil)),
		"no subject":           forge(t, jwt.SigningMethodHS256, secret, with(claims, "sub", nil)),
		"no token id":          forge(t, jwt.SigningMethodHS256, secret, with(claims, "jti", nil)),
		"no scopes":            forge(t, jwt.SigningMethodHS256, secret, with(claims, "scopes", nil)),
		"expiry as a string":   forge(t, jwt.SigningMethodHS256, secret, with(claims, "exp", "tomorrow")),
	} {
		t.Run(name, func(t *testing.T) {
			r := h.withBearer(http.MethodGet, "/auth/verify", token)
			assert.Equal(t, http.StatusUnauthorized, r.Status, r.Raw)
			if len(token) > 20 {
				assert.NotContains(t, r.Raw, token[len(token)-16:], "the token is not echoed")
			}
		})
	}

	req, _ := http.NewRequest(http.MethodGet, h.srv.URL+"/auth/verify", nil)
	req.Header.Set("Authorization", "Basic "+good)
	assert.Equal(t, http.StatusUnauthorized, h.do(req).Status, "another scheme")
}

func TestLogoutRevokesTheTokenInEveryService(t *testing.T) {
	t.Parallel()
	h := start(t, baseEnv(t))
	tokens := h.mustLogin("frank", "frank password")
	access := tokens["access_token"].(string)

	// Another service verifies with its own connection to the shared revocation list.
	other := otherServiceVerifier(t, h)
	_, err := other.Verify(t.Context(), access)
	require.NoError(t, err)

	r := h.withBearer(http.MethodPost, "/auth/logout", access)
	require.Equal(t, http.StatusOK, r.Status, r.Raw)
	assert.Equal(t, map[string]any{"message": "Logged out successfully"}, r.Body)
	loggedOut := time.Now()

	assert.Equal(t, http.StatusUnauthorized, h.withBearer(http.MethodGet, "/auth/verify", access).Status)
	_, err = other.Verify(t.Context(), access)
	assert.ErrorIs(t, err, authtoken.ErrRevoked)
	assert.Less(t, time.Since(loggedOut), time.Second, "rejected everywhere within a second")

	assert.Equal(t, http.StatusUnauthorized, h.withBearer(http.MethodPost, "/auth/logout", access).Status, "a revoked token cannot log out again")
	refreshed := h.token(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tokens["refresh_token"].(string)}})
	assert.Equal(t, http.StatusUnauthorized, refreshed.Status, "the session's refresh token died with it")
	assert.Equal(t, http.StatusUnauthorized, h.withBearer(http.MethodPost, "/auth/logout", "").Status)
}

func otherServiceVerifier(t *testing.T, h *harness) *authtoken.Verifier {
	t.Helper()
	vk, err := valkeyconn.Connect(context.Background(), valkeyconn.Config{URL: pconfig.URL(h.env["VALKEY_URL"]), ConnectTimeout: time.Second}, quietLog())
	require.NoError(t, err)
	t.Cleanup(vk.Close)
	return authtoken.NewVerifier(h.cfg.Token, authtoken.NewRevocations(vk, h.env["VALKEY_KEY_PREFIX"]), time.Now)
}

func TestRefreshRotatesAndDetectsReuse(t *testing.T) {
	t.Parallel()
	h := start(t, baseEnv(t))
	first := h.mustLogin("grace", "grace password")

	r := h.token(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {first["refresh_token"].(string)}})
	require.Equal(t, http.StatusOK, r.Status, r.Raw)
	assert.NotEqual(t, first["access_token"], r.Body["access_token"])
	assert.NotEqual(t, first["refresh_token"], r.Body["refresh_token"])
	v := h.withBearer(http.MethodGet, "/auth/verify", r.Body["access_token"].(string))
	require.Equal(t, http.StatusOK, v.Status)
	assert.Equal(t, "grace", v.Body["username"])

	// Replaying the first refresh token once its grace period is over ends the session: the
	// newest one stops working too.
	h.clock.Advance(h.cfg.Session.RefreshGrace)
	replay := h.token(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {first["refresh_token"].(string)}})
	assert.Equal(t, http.StatusUnauthorized, replay.Status)
	next := h.token(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {r.Body["refresh_token"].(string)}})
	assert.Equal(t, http.StatusUnauthorized, next.Status)
}

// The gateway renews on the first request that finds the access token expired; twenty
// page loads of one browser at that moment all renew with the same refresh token. All of
// them get tokens, the same next refresh token, and the session lives on.
func TestConcurrentRenewalsOfOneSessionAllSucceed(t *testing.T) {
	t.Parallel()
	h := start(t, baseEnv(t))
	first := h.mustLogin("ruth", "ruth password")
	form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {first["refresh_token"].(string)}}

	const n = 20
	answers := make(chan response, n)
	gate := make(chan struct{})
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() { <-gate; answers <- h.token(form) })
	}
	close(gate)
	wg.Wait()
	close(answers)
	refresh := map[any]int{}
	for r := range answers {
		require.Equal(t, http.StatusOK, r.Status, r.Raw)
		refresh[r.Body["refresh_token"]]++
		v := h.withBearer(http.MethodGet, "/auth/verify", r.Body["access_token"].(string))
		assert.Equal(t, http.StatusOK, v.Status, "every access token handed out works")
	}
	require.Len(t, refresh, 1, "one successor for all")
	for next := range refresh {
		r := h.token(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {next.(string)}})
		assert.Equal(t, http.StatusOK, r.Status, "the session lives on: %s", r.Raw)
	}
}

func TestRefreshEndsAfterTheIdleTimeout(t *testing.T) {
	t.Parallel()
	env := baseEnv(t)
	env["SESSION_IDLE_TIMEOUT"] = "1s"
	env["SESSION_MAX_LIFETIME"] = "1s"
	h := start(t, env)
	tokens := h.mustLogin("heidi", "heidi password")
	time.Sleep(1100 * time.Millisecond)
	r := h.token(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tokens["refresh_token"].(string)}})
	assert.Equal(t, http.StatusUnauthorized, r.Status)
}
