package service_test

import (
	"fmt"
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/caasdemo/orderdemo/services/platform/testenv"
)

// Each user has a quota of requests to the API, whatever the route and whichever token of
// theirs they use; past it they get 429 with Retry-After and the RateLimit fields, and
// nothing is done. Other users, and the health endpoints, are not affected.
func TestEachUserIsLimitedAtTheOrderAPI(t *testing.T) {
	t.Parallel()
	// Three requests an hour: one every 20 minutes, so the test cannot outrun a refill.
	h := start(t, "RATE_LIMIT_PER_USER", "3", "RATE_LIMIT_WINDOW", "1h")
	alice, bob, admin := h.user("alice", false), h.user("bob", false), h.user("root", true)
	const policy = `"per-user";q=3;w=3600`

	id := h.order(alice, "Lamp", 1)
	for i, req := range []struct {
		method, path, body string
		want               string
	}{
		{http.MethodGet, "/orders/me", "", `"per-user";r=1;t=2400`},
		{http.MethodGet, "/orders/" + id, "", `"per-user";r=0;t=3600`},
	} {
		r := h.call(&alice, req.method, req.path, req.body)
		require.Equal(t, http.StatusOK, r.Status, "request %d: %s", i+2, r.Raw)
		assert.Equal(t, policy, r.Header.Get("RateLimit-Policy"))
		testenv.CheckRateLimit(t, r.Header.Get("RateLimit"), req.want, fmt.Sprintf("request %d", i+2))
	}

	r := h.call(&alice, http.MethodPost, "/orders", `{"item_name":"Tea","quantity":1}`)
	testenv.CheckRateLimited(t, r, policy, 1200, "too many requests: the per-user limit is 3 every 3600 seconds; try again in ")
	assert.NotEmpty(t, r.Body["request_id"])

	other := h.sameUser(alice)
	assert.Equal(t, http.StatusTooManyRequests, h.call(&other, http.MethodGet, "/orders/me", "").Status,
		"a new login of the same user shares the quota")

	r = h.call(&bob, http.MethodGet, "/orders/me", "")
	assert.Equal(t, http.StatusOK, r.Status, "another user is not affected")
	testenv.CheckRateLimit(t, r.Header.Get("RateLimit"), `"per-user";r=2;t=1200`, "another user")
	r = h.call(&admin, http.MethodGet, "/orders", "")
	assert.Equal(t, http.StatusOK, r.Status, "nor is an admin")
	mine := h.call(&admin, http.MethodGet, "/orders?user_id="+alice.id, "")
	require.Equal(t, http.StatusOK, mine.Status, mine.Raw)
	assert.EqualValues(t, 1, mine.Body["total"], "the refused order was not taken")

	unauthenticated := h.call(nil, http.MethodGet, "/orders/me", "")
	assert.Equal(t, http.StatusUnauthorized, unauthenticated.Status)
	assert.Empty(t, unauthenticated.Header.Get("RateLimit"), "a request without a user is refused before it is counted")
	for range 5 {
		for _, path := range []string{"/health", "/ready"} {
			r := h.call(nil, http.MethodGet, path, "")
			assert.Equal(t, http.StatusOK, r.Status, path)
			assert.Empty(t, r.Header.Get("RateLimit-Policy"), "%s is never limited", path)
		}
	}
}
