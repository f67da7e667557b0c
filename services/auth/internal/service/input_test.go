package service_test

import (
	"fmt"
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Control characters in user text: PostgreSQL refuses NUL in text, and CR or LF would end a
// line in every line-based protocol the text reaches; they are refused before any look-up.

func TestRegistrationRefusesControlCharactersNamingTheField(t *testing.T) {
	t.Parallel()
	h := start(t, baseEnv(t))
	for _, tc := range []struct {
		name, username, password, detail string
	}{
		{"NUL in the username", "ali\x00ce", "long enough", "username: must be 4–20 characters"},
		{"CR in the username", "alice\rid: 1", "long enough", "username: must be 4–20 characters"},
		{"NUL in the password", "alice", "long\x00enough", "password: must not contain control characters"},
		{"line feed in the password", "alice", "long\nenough", "password: must not contain control characters"},
		{"tab in the password", "alice", "long\tenough", "password: must not contain control characters"},
		{"DEL in the password", "alice", "long enough\x7f", "password: must not contain control characters"},
		{"C1 control in the password", "alice", "long\u0085enough", "password: must not contain control characters"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := h.register(tc.username, tc.password)
			assert.Equal(t, http.StatusBadRequest, r.Status, r.Raw)
			assert.Contains(t, r.Body["detail"], tc.detail)
		})
	}
	require.Equal(t, http.StatusUnauthorized, h.login("alice", "long\x00enough").Status, "no account was created")

	// Anything printable is a password.
	r := h.register("alice", "spaces, symbols & ünïcode ✓ <>\"'")
	require.Equal(t, http.StatusCreated, r.Status, r.Raw)
	require.Equal(t, http.StatusOK, h.login("alice", "spaces, symbols & ünïcode ✓ <>\"'").Status)
}

func TestALoginWithAnImpossibleUsernameIsJustWrongCredentials(t *testing.T) {
	t.Parallel()
	env := baseEnv(t)
	env["LOGIN_MAX_FAILURES_PER_USERNAME"] = "2"
	env["LOGIN_MAX_FAILURES_PER_CLIENT"] = "2"
	h := start(t, env)
	require.Equal(t, http.StatusCreated, h.register("erin", "erin password").Status)
	wrong := h.login("erin", "not the password")
	require.Equal(t, http.StatusUnauthorized, wrong.Status, wrong.Raw)

	for i, name := range []string{"er\x00in", "\x00", "erin\x00", "erin\rid: 999999999", "er\nin", "er\u0085in", "er\xffin"} {
		r := h.login(name, "erin password")
		assert.Equal(t, http.StatusUnauthorized, r.Status, "%q: %s", name, r.Raw)
		assert.Equal(t, wrong.Body["detail"], r.Body["detail"], "%q answers as any wrong credentials", name)
		assert.NotEmpty(t, r.Header.Get("WWW-Authenticate"), fmt.Sprint(i))
	}

	// Nothing was looked up or recorded: only the one real failure is an event, and the
	// per-client window (2) still lets the right password in.
	var failures int
	require.NoError(t, dbRow(t, env["DATABASE_URL"], `SELECT count(*) FROM auth.outbox WHERE event_type = 'UserLoginFailed'`, &failures))
	assert.Equal(t, 1, failures)
	ok := h.login("erin", "erin password")
	assert.Equal(t, http.StatusOK, ok.Status, ok.Raw)
}
