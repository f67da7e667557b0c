package service_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/caasdemo/orderdemo/services/platform/authtoken"
	pconfig "github.com/caasdemo/orderdemo/services/platform/config"
	"github.com/caasdemo/orderdemo/services/platform/valkeyconn"
)

// Every endpoint against every kind of caller.
func TestAuthorizationMatrix(t *testing.T) {
	t.Parallel()
	h := start(t)
	owner, other, admin := h.user("alice", false), h.user("mallory", false), h.user("root", true)
	id := h.order(owner, "Lamp", 1)

	type callers struct{ anonymous, owner, other, admin int }
	for _, tc := range []struct {
		method, path, body string
		want               callers
	}{
		{http.MethodPost, "/orders", `{"item_name":"x","quantity":1}`, callers{401, 201, 201, 201}},
		{http.MethodGet, "/orders/me", "", callers{401, 200, 200, 200}},
		{http.MethodGet, "/orders/" + id, "", callers{401, 200, 404, 200}},
		{http.MethodGet, "/orders", "", callers{401, 403, 403, 200}},
		{http.MethodGet, "/orders/export.csv", "", callers{401, 403, 403, 200}},
		{http.MethodPatch, "/orders/" + id, `{"status":"shipped"}`, callers{401, 403, 403, 400}},
	} {
		for name, c := range map[string]struct {
			u    *user
			want int
		}{"anonymous": {nil, tc.want.anonymous}, "owner": {&owner, tc.want.owner}, "other user": {&other, tc.want.other}, "admin": {&admin, tc.want.admin}} {
			r := h.call(c.u, tc.method, tc.path, tc.body)
			assert.Equal(t, c.want, r.Status, "%s %s as %s: %s", tc.method, tc.path, name, r.Raw)
			if c.want == http.StatusNotFound {
				assert.NotContains(t, r.Raw, "Lamp", "a foreign order reveals nothing")
			}
		}
	}
	mine := h.call(&other, http.MethodGet, "/orders/me", "")
	assert.EqualValues(t, 1, mine.Body["total"], "a user sees only their own orders")
}

func TestARevokedTokenIsRefused(t *testing.T) {
	t.Parallel()
	h := start(t)
	alice := h.user("alice", false)
	require.Equal(t, http.StatusOK, h.call(&alice, http.MethodGet, "/orders/me", "").Status)

	// The auth service's logout writes the revocation; this service reads the same list.
	vk, err := valkeyconn.Connect(context.Background(), valkeyconn.Config{URL: pconfig.URL(h.env["VALKEY_URL"]), ConnectTimeout: time.Second}, quiet())
	require.NoError(t, err)
	defer vk.Close()
	require.NoError(t, authtoken.NewRevocations(vk, h.env["VALKEY_KEY_PREFIX"]).Revoke(t.Context(), alice.claims))
	r := h.call(&alice, http.MethodGet, "/orders/me", "")
	assert.Equal(t, http.StatusUnauthorized, r.Status)
	assert.Equal(t, `Bearer realm="caas-order-demo"`, r.Header.Get("WWW-Authenticate"))
}

// A logout ends the whole login: the other access tokens of its session (such as the one a
// refresh handed out after it) are refused too, while the user's other logins are not.
func TestARevokedSessionRefusesEveryTokenOfIt(t *testing.T) {
	t.Parallel()
	h := start(t)
	first := h.user("alice", false)
	renewed := h.sameLogin(first)  // what a refresh of the same login hands out
	elsewhere := h.sameUser(first) // the same user logged in on another device
	for _, u := range []*user{&first, &renewed, &elsewhere} {
		require.Equal(t, http.StatusOK, h.call(u, http.MethodGet, "/orders/me", "").Status)
	}

	vk, err := valkeyconn.Connect(context.Background(), valkeyconn.Config{URL: pconfig.URL(h.env["VALKEY_URL"]), ConnectTimeout: time.Second}, quiet())
	require.NoError(t, err)
	defer vk.Close()
	require.NoError(t, authtoken.NewRevocations(vk, h.env["VALKEY_KEY_PREFIX"]).Revoke(t.Context(), first.claims), "what the auth service's logout writes")

	assert.Equal(t, http.StatusUnauthorized, h.call(&first, http.MethodGet, "/orders/me", "").Status)
	assert.Equal(t, http.StatusUnauthorized, h.call(&renewed, http.MethodGet, "/orders/me", "").Status, "another token of the logged-out login")
	assert.Equal(t, http.StatusOK, h.call(&elsewhere, http.MethodGet, "/orders/me", "").Status, "another login of the same user")
}
