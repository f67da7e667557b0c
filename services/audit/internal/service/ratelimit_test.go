package service_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/caasdemo/orderdemo/events"
	"github.com/caasdemo/orderdemo/services/platform/authtoken"
	pconfig "github.com/caasdemo/orderdemo/services/platform/config"
	"github.com/caasdemo/orderdemo/services/platform/testenv"
)

// Each admin has a quota of requests to the audit API, whatever the route; past it they get
// 429 with Retry-After and the RateLimit fields. Another admin, and the health endpoints,
// are not affected.
func TestEachAdminIsLimitedAtTheAuditAPI(t *testing.T) {
	t.Parallel()
	// Three requests an hour: one every 20 minutes, so the test cannot outrun a refill.
	h := start(t, "RATE_LIMIT_PER_USER", "3", "RATE_LIMIT_WINDOW", "1h")
	const policy = `"per-user";q=3;w=3600`
	for _, req := range []struct{ path, want string }{
		{"/audit/events", `"per-user";r=2;t=1200`},
		{"/audit/stats", `"per-user";r=1;t=2400`},
		{"/audit/dead-letters", `"per-user";r=0;t=3600`},
	} {
		r := h.get(req.path, h.admin)
		require.Equal(t, http.StatusOK, r.Status, "%s: %s", req.path, r.Raw)
		assert.Equal(t, policy, r.Header.Get("RateLimit-Policy"))
		testenv.CheckRateLimit(t, r.Header.Get("RateLimit"), req.want, req.path)
	}

	r := h.post("/audit/replay", `{"projection":"audit-log"}`, h.admin)
	testenv.CheckRateLimited(t, r, policy, 1200, "too many requests: the per-user limit is 3 every 3600 seconds; try again in ")
	assert.Equal(t, http.StatusNotFound, h.get("/audit/replay", otherAdmin(t, h)).Status, "the refused replay was not started")

	r = h.get("/audit/events", otherAdmin(t, h))
	assert.Equal(t, http.StatusOK, r.Status, "another admin is not affected")
	testenv.CheckRateLimit(t, r.Header.Get("RateLimit"), `"per-user";r=2;t=1200`, "another user")

	for range 5 {
		for _, path := range []string{"/health", "/ready"} {
			r := h.get(path, "")
			assert.Equal(t, http.StatusOK, r.Status, path)
			assert.Empty(t, r.Header.Get("RateLimit-Policy"), "%s is never limited", path)
		}
	}
}

// otherAdmin is the token of an admin other than the harness's.
func otherAdmin(t *testing.T, h *harness) string {
	t.Helper()
	var cfg authtoken.Config
	require.NoError(t, pconfig.Load(testenv.Lookup(h.env), &cfg))
	token, _, err := authtoken.NewIssuer(cfg, time.Now).Issue(events.NewID(), "root2", true, "")
	require.NoError(t, err)
	return token
}
