package service_test

import (
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/caasdemo/orderdemo/services/auth/internal/service"
	"github.com/caasdemo/orderdemo/services/platform/testenv"
)

func TestServiceStartsMigratedAndReady(t *testing.T) {
	t.Parallel()
	env := baseEnv(t)
	h := start(t, env)
	r := h.withBearer(http.MethodGet, "/ready", "")
	require.Equal(t, http.StatusOK, r.Status, r.Raw)
	assert.Equal(t, map[string]any{"postgres": "ok", "nats": "ok", "outbox": "ok", "valkey": "ok"}, r.Body["checks"])
	assert.Equal(t, []string{"auth.outbox", "auth.users"}, testenv.Tables(t, env["DATABASE_URL"], service.Schema))
	testenv.RequireStream(t, env["NATS_URL"], "AUTH")
}

func TestRegister(t *testing.T) {
	t.Parallel()
	h := start(t, baseEnv(t))

	r := h.register("Alice_01", "correct horse")
	require.Equal(t, http.StatusCreated, r.Status, r.Raw)
	assert.Equal(t, "alice_01", r.Body["username"], "stored lower-case")
	assert.Regexp(t, `^[0-9a-f-]{36}$`, r.Body["user_id"])

	dup := h.register("ALICE_01", "another password")
	assert.Equal(t, http.StatusBadRequest, dup.Status)
	assert.Equal(t, "username already exists", dup.Body["detail"], "unique regardless of case")
	assert.Equal(t, "application/problem+json", dup.Header.Get("Content-Type"))
}

func TestRegisterRefusesBadInputNamingTheField(t *testing.T) {
	t.Parallel()
	h := start(t, baseEnv(t))
	for _, tc := range []struct {
		name, body string
		status     int
		detail     string
	}{
		{"short username", `{"username":"abc","password":"long enough"}`, 400, "username: must be 4–20 characters"},
		{"long username", `{"username":"` + strings.Repeat("a", 21) + `","password":"long enough"}`, 400, "username: must be 4–20"},
		{"bad characters", `{"username":"bob smith","password":"long enough"}`, 400, "letters, digits or underscore"},
		{"short password", `{"username":"bobby","password":"1234567"}`, 400, "password: must be at least 8 bytes"},
		{"password over bcrypt's limit", `{"username":"bobby","password":"` + strings.Repeat("p", 73) + `"}`, 400, "at most 72 bytes (bcrypt's limit"},
		{"both fields bad", `{"username":"b","password":"x"}`, 400, "username: must be 4–20 characters: letters, digits or underscore; password: must be at least 8 bytes"},
		{"missing fields", `{}`, 400, "username: must be 4–20"},
		{"unknown field", `{"username":"bobby","password":"long enough","admin":true}`, 400, "admin: is not a known field"},
		{"wrong type", `{"username":42,"password":"long enough"}`, 400, "username: must be a string"},
		{"malformed JSON", `{"username":`, 400, "not valid JSON"},
		{"oversized body", `{"username":"bobby","password":"` + strings.Repeat("p", 17<<10) + `"}`, 413, "larger than 16384 bytes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := h.postJSON("/auth/register", tc.body)
			assert.Equal(t, tc.status, r.Status, r.Raw)
			assert.Contains(t, r.Body["detail"], tc.detail)
		})
	}
}

func TestSimultaneousRegistrationsOfOneNameGiveExactlyOneAccount(t *testing.T) {
	t.Parallel()
	h := start(t, baseEnv(t))
	const n = 10
	statuses := make(chan int, n)
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() { statuses <- h.register("racer", "same password").Status })
	}
	wg.Wait()
	close(statuses)
	count := map[int]int{}
	for s := range statuses {
		count[s]++
	}
	assert.Equal(t, map[int]int{http.StatusCreated: 1, http.StatusBadRequest: n - 1}, count)
}

func TestLoginIssuesTokensAndVerifyReadsThem(t *testing.T) {
	t.Parallel()
	env := baseEnv(t)
	h := start(t, env)
	require.Equal(t, http.StatusCreated, h.register("carol", "carol password").Status)

	r := h.token(url.Values{"grant_type": {"password"}, "username": {"Carol"}, "password": {"carol password"}, "scope": {"user:orders"}})
	require.Equal(t, http.StatusOK, r.Status, r.Raw)
	assert.Equal(t, "bearer", r.Body["token_type"])
	assert.EqualValues(t, 900, r.Body["expires_in"])
	assert.NotEmpty(t, r.Body["refresh_token"])
	assert.Equal(t, "no-store", r.Header.Get("Cache-Control"))

	v := h.withBearer(http.MethodGet, "/auth/verify", r.Body["access_token"].(string))
	require.Equal(t, http.StatusOK, v.Status, v.Raw)
	assert.Equal(t, "carol", v.Body["username"])
	assert.Equal(t, false, v.Body["is_admin"])
	assert.Equal(t, []any{"user:orders"}, v.Body["scopes"])
	assert.NotEmpty(t, v.Body["user_id"])

	var lastLogin *time.Time
	require.NoError(t, dbRow(t, env["DATABASE_URL"], `SELECT last_login FROM auth.users WHERE username = 'carol'`, &lastLogin))
	require.NotNil(t, lastLogin, "last_login is updated")
	assert.WithinDuration(t, time.Now(), *lastLogin, time.Minute)
}

func TestUnknownUserAndWrongPasswordLookTheSame(t *testing.T) {
	t.Parallel()
	h := start(t, baseEnv(t))
	require.Equal(t, http.StatusCreated, h.register("dave", "dave password").Status)
	wrong := h.login("dave", "not the password")
	unknown := h.login("nobody", "not the password")
	assert.Equal(t, http.StatusUnauthorized, wrong.Status)
	assert.Equal(t, wrong.Status, unknown.Status)
	assert.Equal(t, wrong.Body["detail"], unknown.Body["detail"])
	assert.Equal(t, "invalid username or password", wrong.Body["detail"])
	assert.NotEmpty(t, wrong.Header.Get("WWW-Authenticate"))
}

func TestTokenEndpointRefusesBadRequests(t *testing.T) {
	t.Parallel()
	h := start(t, baseEnv(t))
	for _, tc := range []struct {
		form   url.Values
		detail string
	}{
		{url.Values{"password": {"x"}}, "username: is required"},
		{url.Values{"username": {"x"}}, "password: is required"},
		{url.Values{"grant_type": {"client_credentials"}, "username": {"x"}, "password": {"y"}}, "grant_type: must be"},
	} {
		r := h.token(tc.form)
		assert.Equal(t, http.StatusBadRequest, r.Status, r.Raw)
		assert.Contains(t, r.Body["detail"], tc.detail)
	}
	r := h.token(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"made.up"}})
	assert.Equal(t, http.StatusUnauthorized, r.Status)
}
