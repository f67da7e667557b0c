package service_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/caasdemo/orderdemo/events"
)

func TestEveryActionEmitsItsEvent(t *testing.T) {
	t.Parallel()
	h := start(t, baseEnv(t)) // the admin's UserRegistered is event 1

	body, _ := json.Marshal(map[string]string{"username": "Leo_1", "password": "leo secret pw"})
	req, _ := http.NewRequest(http.MethodPost, h.srv.URL+"/auth/register", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Request-ID", "req-register-1")
	reg := h.do(req)
	require.Equal(t, http.StatusCreated, reg.Status)
	userID := reg.Body["user_id"].(string)

	require.Equal(t, http.StatusUnauthorized, h.login("leo_1", "wrong password").Status)
	require.Equal(t, http.StatusUnauthorized, h.login("ghost", "wrong password").Status)
	ok := h.login("leo_1", "leo secret pw", "X-Request-ID", "req-login-1")
	require.Equal(t, http.StatusOK, ok.Status)
	require.Equal(t, http.StatusOK, h.withBearer(http.MethodPost, "/auth/logout", ok.Body["access_token"].(string)).Status)

	got := h.streamEvents(6)
	require.Len(t, got, 6)
	assert.Equal(t, events.UserRegistered{UserID: got[0].env.Subject, Username: "admin", IsAdmin: true}, *got[0].payload.(*events.UserRegistered))

	reg1 := got[1]
	assert.Equal(t, "auth.registered."+userID, reg1.subject)
	assert.Equal(t, events.UserRegistered{UserID: userID, Username: "leo_1"}, *reg1.payload.(*events.UserRegistered))
	assert.Equal(t, "req-register-1", reg1.env.CorrelationID)
	assert.Equal(t, "req-register-1", reg1.header.Get("Correlation-Id"))
	assert.EqualValues(t, 1, reg1.env.AggregateVersion)

	assert.Equal(t, "auth.login_failed."+userID, got[2].subject)
	assert.Equal(t, events.UserLoginFailed{UserID: userID, Username: "leo_1", Reason: events.ReasonBadPassword}, *got[2].payload.(*events.UserLoginFailed))
	assert.EqualValues(t, 2, got[2].env.AggregateVersion)

	assert.Equal(t, "auth.login_failed.unknown", got[3].subject)
	assert.Equal(t, events.UserLoginFailed{Username: "ghost", Reason: events.ReasonUnknownUser}, *got[3].payload.(*events.UserLoginFailed))

	assert.Equal(t, "auth.logged_in."+userID, got[4].subject)
	assert.Equal(t, "req-login-1", got[4].env.CorrelationID)
	assert.EqualValues(t, 3, got[4].env.AggregateVersion)
	assert.Equal(t, "auth.logged_out."+userID, got[5].subject)
	assert.EqualValues(t, 4, got[5].env.AggregateVersion)

	for _, e := range got {
		assert.Equal(t, "auth", e.env.Source)
		for _, secret := range []string{"leo secret pw", "wrong password", adminPassword, "$2a$",
			ok.Body["access_token"].(string), ok.Body["refresh_token"].(string)} {
			assert.False(t, strings.Contains(e.raw, secret), "event %s contains a secret", e.env.Type)
		}
	}
}

func TestARateLimitedLoginIsAnEvent(t *testing.T) {
	t.Parallel()
	env := baseEnv(t)
	env["LOGIN_MAX_FAILURES_PER_USERNAME"] = "1"
	h := start(t, env)
	require.Equal(t, http.StatusUnauthorized, h.login("mallory", "guess one").Status)
	require.Equal(t, http.StatusTooManyRequests, h.login("mallory", "guess two").Status)
	got := h.streamEvents(3)
	last := got[len(got)-1].payload.(*events.UserLoginFailed)
	assert.Equal(t, events.ReasonRateLimited, last.Reason)
}
