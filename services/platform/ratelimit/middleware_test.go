package ratelimit_test

import (
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/caasdemo/orderdemo/services/platform/authtoken"
	"github.com/caasdemo/orderdemo/services/platform/problem"
	"github.com/caasdemo/orderdemo/services/platform/ratelimit"
	"github.com/caasdemo/orderdemo/services/platform/requestid"
	"github.com/caasdemo/orderdemo/services/platform/testenv"
)

// byHeader partitions by the X-Caller header, as a test's stand-in for a user or address.
func byHeader(r *http.Request) string { return r.Header.Get("X-Caller") }

// serve runs handler behind l's middleware for p on a test server and returns its URL.
func serve(t *testing.T, l *ratelimit.Limiter, p ratelimit.Policy, partition ratelimit.Partition) string {
	t.Helper()
	ok := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) })
	srv := httptest.NewServer(requestid.Middleware(l.Middleware(p, partition, quiet)(ok)))
	t.Cleanup(srv.Close)
	return srv.URL
}

// Every answer of a limited route carries the policy and what is left of it, in the draft's
// structured-field form; the one past the quota is a 429 problem with Retry-After equal to
// the RateLimit's t.
func TestTheMiddlewareAnswersWithTheRateLimitFields(t *testing.T) {
	t.Parallel()
	c := newClock()
	url := serve(t, newLimiter(t, c), ratelimit.Policy{Name: "per-user", Quota: 3, Window: time.Minute}, byHeader)
	for i, want := range []string{`"per-user";r=2;t=20`, `"per-user";r=1;t=40`, `"per-user";r=0;t=60`} {
		r := testenv.Call(t, http.MethodGet, url, "", "X-Caller", "alice")
		require.Equal(t, http.StatusOK, r.Status, "request %d", i+1)
		assert.Equal(t, `"per-user";q=3;w=60`, r.Header.Get("RateLimit-Policy"))
		assert.Equal(t, want, r.Header.Get("RateLimit"), "request %d", i+1)
		assert.Empty(t, r.Header.Get("Retry-After"))
	}
	r := testenv.Call(t, http.MethodGet, url, "", "X-Caller", "alice")
	require.Equal(t, http.StatusTooManyRequests, r.Status)
	assert.Equal(t, `"per-user";q=3;w=60`, r.Header.Get("RateLimit-Policy"))
	assert.Equal(t, `"per-user";r=0;t=20`, r.Header.Get("RateLimit"))
	assert.Equal(t, "20", r.Header.Get("Retry-After"), "the same moment as the field's t")
	assert.Equal(t, problem.ContentType, r.Header.Get("Content-Type"))
	assert.EqualValues(t, http.StatusTooManyRequests, r.Body["status"])
	assert.Equal(t, "too many requests: the per-user limit is 3 every 60 seconds; try again in 20 seconds", r.Body["detail"])
	assert.NotEmpty(t, r.Body["request_id"])

	other := testenv.Call(t, http.MethodGet, url, "", "X-Caller", "bob")
	assert.Equal(t, http.StatusOK, other.Status, "another caller is not affected")
	assert.Equal(t, `"per-user";r=2;t=20`, other.Header.Get("RateLimit"))

	c.Advance(20 * time.Second)
	assert.Equal(t, http.StatusOK, testenv.Call(t, http.MethodGet, url, "", "X-Caller", "alice").Status, "Retry-After later")
}

// A request the partition cannot attribute, and every request under a policy turned off, go
// through untouched and uncounted.
func TestUnattributedRequestsAndPoliciesTurnedOffAreNotLimited(t *testing.T) {
	t.Parallel()
	l := newLimiter(t, newClock())
	one := ratelimit.Policy{Name: "one", Quota: 1, Window: time.Minute}
	url := serve(t, l, one, byHeader)
	for range 3 {
		r := testenv.Call(t, http.MethodGet, url, "")
		assert.Equal(t, http.StatusOK, r.Status)
		assert.Empty(t, r.Header.Get("RateLimit"))
	}
	off := serve(t, l, ratelimit.Policy{Name: "off", Quota: 0, Window: time.Minute}, byHeader)
	for range 3 {
		r := testenv.Call(t, http.MethodGet, off, "", "X-Caller", "alice")
		assert.Equal(t, http.StatusOK, r.Status)
		assert.Empty(t, r.Header.Get("RateLimit-Policy"))
		assert.Empty(t, r.Header.Get("RateLimit"))
	}
}

// The per-user partition is the verified token's subject.
func TestUserIsTheTokensSubject(t *testing.T) {
	t.Parallel()
	req := httptest.NewRequest(http.MethodGet, "/orders/me", nil)
	assert.Empty(t, ratelimit.User(req), "no verified token, no user")
	req = req.WithContext(authtoken.WithClaims(req.Context(), authtoken.Claims{UserID: "7c0e5d3a-8f1b-4c2d-9e6a-1b2c3d4e5f60"}))
	assert.Equal(t, "7c0e5d3a-8f1b-4c2d-9e6a-1b2c3d4e5f60", ratelimit.User(req))
}

// With Valkey stalled or killed the request cannot be counted: it is answered 503 naming
// valkey within the Valkey client's deadline — never a hang, never a 500, never let through
// uncounted — and counted again once Valkey is back.
func TestValkeyDownIsAnswered503NamingIt(t *testing.T) {
	t.Parallel()
	proxy := testenv.StartProxy(t, testenv.ValkeyURL(t))
	l := ratelimit.New(connect(t, proxy.URL()), testenv.Prefix(), "test", time.Now)
	var reached atomic.Int32
	srv := httptest.NewServer(requestid.Middleware(l.Middleware(five, byHeader, quiet)(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
		reached.Add(1)
	}))))
	t.Cleanup(srv.Close)
	t.Cleanup(proxy.Restore) // before the server closes, should the test fail mid-outage

	for name, fault := range map[string]func(){"stalled": proxy.Stall, "killed": proxy.Cut} {
		fault()
		r, elapsed := testenv.OutageCall(t, http.MethodGet, srv.URL, "", "X-Caller", "alice")
		testenv.CheckUnavailable(t, r, elapsed, "valkey", "valkey "+name)
		assert.Equal(t, `"per-user";q=5;w=60`, r.Header.Get("RateLimit-Policy"), "the policy is still described")
		assert.Zero(t, reached.Load(), "%s: nothing passes uncounted", name)
		proxy.Restore()
		require.Eventually(t, func() bool {
			r, _ := testenv.OutageCall(t, http.MethodGet, srv.URL, "", "X-Caller", name)
			return r.Status == http.StatusOK
		}, 15*time.Second, 50*time.Millisecond, "%s: counted again once Valkey is back", name)
		reached.Store(0)
	}
}
