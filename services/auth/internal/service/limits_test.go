package service_test

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/caasdemo/orderdemo/services/platform/problem"
	"github.com/caasdemo/orderdemo/services/platform/testenv"
)

func TestFiveFailedLoginsThenRefusedUntilTheWindowFrees(t *testing.T) {
	t.Parallel()
	h := start(t, baseEnv(t))
	require.Equal(t, http.StatusCreated, h.register("ivan", "ivan password").Status)

	for i := range 5 {
		r := h.login("ivan", fmt.Sprintf("wrong %d", i))
		require.Equal(t, http.StatusUnauthorized, r.Status, "attempt %d", i+1)
	}
	r := h.login("ivan", "ivan password")
	require.Equal(t, http.StatusTooManyRequests, r.Status, "the 6th is refused even with the right password")
	retry, err := strconv.Atoi(r.Header.Get("Retry-After"))
	require.NoError(t, err)
	assert.InDelta(t, 60, retry, 2)
	assert.Contains(t, r.Body["detail"], "too many failed login attempts; try again in")

	h.clock.Advance(59 * time.Second)
	assert.Equal(t, http.StatusTooManyRequests, h.login("ivan", "ivan password").Status, "still inside the window")
	h.clock.Advance(2 * time.Second)
	assert.Equal(t, http.StatusOK, h.login("ivan", "ivan password").Status, "the window has freed")
}

func TestSixAttemptsWithinOneSecondCountAsSix(t *testing.T) {
	t.Parallel()
	h := start(t, baseEnv(t))
	require.Equal(t, http.StatusCreated, h.register("judy", "judy password").Status)
	const attempts = 12
	statuses := make(chan int, attempts)
	var wg sync.WaitGroup
	for i := range attempts {
		wg.Go(func() { statuses <- h.login("judy", fmt.Sprintf("wrong %d", i)).Status })
	}
	wg.Wait()
	close(statuses)
	count := map[int]int{}
	for s := range statuses {
		count[s]++
	}
	assert.Equal(t, map[int]int{http.StatusUnauthorized: 5, http.StatusTooManyRequests: attempts - 5}, count)
}

func TestOneClientSprayingUsernamesIsLimited(t *testing.T) {
	t.Parallel()
	env := baseEnv(t)
	env["LOGIN_MAX_FAILURES_PER_CLIENT"] = "8"
	h := start(t, env)
	for i := range 8 {
		r := h.login(fmt.Sprintf("user%02d", i), "whatever pw", "X-Forwarded-For", "203.0.113.7")
		require.Equal(t, http.StatusUnauthorized, r.Status)
	}
	assert.Equal(t, http.StatusTooManyRequests, h.login("user99", "whatever pw", "X-Forwarded-For", "203.0.113.7").Status)
	assert.Equal(t, http.StatusUnauthorized, h.login("user99", "whatever pw", "X-Forwarded-For", "198.51.100.9").Status,
		"another client behind the gateway is not affected")
}

func TestASuccessfulLoginIsNotCountedAsAFailure(t *testing.T) {
	t.Parallel()
	h := start(t, baseEnv(t))
	require.Equal(t, http.StatusCreated, h.register("kate", "kate password").Status)
	for range 8 {
		require.Equal(t, http.StatusOK, h.login("kate", "kate password").Status)
	}
}

// A script registering accounts from one address is stopped; another address is not, and
// behind the gateway the address is the one X-Forwarded-For names.
func TestRegistrationsAreLimitedPerClient(t *testing.T) {
	t.Parallel()
	env := baseEnv(t)
	env["REGISTER_MAX_PER_CLIENT"] = "3"
	h := start(t, env)
	register := func(name, client string) response {
		body := fmt.Sprintf(`{"username":%q,"password":"a good password"}`, name)
		return testenv.Call(t, http.MethodPost, h.srv.URL+"/auth/register", body, "X-Forwarded-For", client)
	}
	for i := range 3 {
		require.Equal(t, http.StatusCreated, register(fmt.Sprintf("script%d", i), "203.0.113.7").Status)
	}
	r := register("script3", "203.0.113.7")
	require.Equal(t, http.StatusTooManyRequests, r.Status, r.Raw)
	retry, err := strconv.Atoi(r.Header.Get("Retry-After"))
	require.NoError(t, err)
	assert.InDelta(t, 3600, retry, 2, "the default window is an hour")
	assert.Contains(t, r.Body["detail"], "too many registrations from this address; try again in")
	assert.Equal(t, http.StatusUnauthorized, h.login("script3", "a good password").Status, "no account was made")

	assert.Equal(t, http.StatusCreated, register("person", "198.51.100.9").Status, "another client is not affected")
	h.clock.Advance(time.Hour)
	assert.Equal(t, http.StatusCreated, register("script3", "203.0.113.7").Status, "the window has freed")
}

// A client address shared by many people (a proxy, or a gateway that does not pass the
// browser's address on) must never lock out someone who knows their password: past the
// per-client window a wrong password is refused with 429, the right one logs in.
func TestAFullClientWindowNeverRefusesTheRightPassword(t *testing.T) {
	t.Parallel()
	env := baseEnv(t)
	env["LOGIN_MAX_FAILURES_PER_CLIENT"] = "4"
	h := start(t, env)
	require.Equal(t, http.StatusCreated, h.register("lena", "lena password").Status)
	for i := range 4 {
		require.Equal(t, http.StatusUnauthorized, h.login(fmt.Sprintf("made_up%d", i), "whatever pw", "X-Forwarded-For", "203.0.113.8").Status)
	}
	wrong := h.login("lena", "not her password", "X-Forwarded-For", "203.0.113.8")
	assert.Equal(t, http.StatusTooManyRequests, wrong.Status, "a wrong password past the client's window")
	assert.NotEmpty(t, wrong.Header.Get("Retry-After"))
	assert.Equal(t, http.StatusOK, h.login("lena", "lena password", "X-Forwarded-For", "203.0.113.8").Status,
		"the right password from the same full window logs in")
}

// Every request to the anonymous endpoints counts against its client address, registrations
// and both grants of the token endpoint alike, whatever their outcome: past the quota the
// client gets 429 with Retry-After and the RateLimit fields until the quota refills. Another
// client behind the same proxy is not affected; the authenticated endpoints and the health
// endpoints are not limited.
func TestAnonymousEndpointsAreLimitedPerClient(t *testing.T) {
	t.Parallel()
	env := baseEnv(t)
	env["RATE_LIMIT_PER_CLIENT"] = "4" // a minute's window: one request every 15 s
	h := start(t, env)
	const policy = `"per-client";q=4;w=60`
	script := []string{"X-Forwarded-For", "203.0.113.7"}
	check := func(r response, status int, limit string, what string) {
		t.Helper()
		require.Equal(t, status, r.Status, "%s: %s", what, r.Raw)
		assert.Equal(t, policy, r.Header.Get("RateLimit-Policy"), what)
		assert.Equal(t, limit, r.Header.Get("RateLimit"), what)
	}

	check(testenv.Call(t, http.MethodPost, h.srv.URL+"/auth/register", `{"username":"ivan","password":"ivan password"}`, script...),
		http.StatusCreated, `"per-client";r=3;t=15`, "registration")
	login := h.login("ivan", "ivan password", script...)
	check(login, http.StatusOK, `"per-client";r=2;t=30`, "password grant")
	refresh := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {login.Body["refresh_token"].(string)}}
	check(h.token(refresh, script...), http.StatusOK, `"per-client";r=1;t=45`, "refresh grant")
	check(h.login("ivan", "", script...), http.StatusBadRequest, `"per-client";r=0;t=60`, "a bad request counts too")

	for what, r := range map[string]response{
		"password grant": h.login("ivan", "ivan password", script...),
		"refresh grant":  h.token(refresh, script...),
		"registration":   testenv.Call(t, http.MethodPost, h.srv.URL+"/auth/register", `{"username":"judy","password":"judy password"}`, script...),
	} {
		check(r, http.StatusTooManyRequests, `"per-client";r=0;t=15`, what+" past the quota")
		assert.Equal(t, "15", r.Header.Get("Retry-After"), what)
		assert.Equal(t, problem.ContentType, r.Header.Get("Content-Type"), what)
		assert.Equal(t, "too many requests: the per-client limit is 4 every 60 seconds; try again in 15 seconds", r.Body["detail"], what)
	}
	assert.Equal(t, http.StatusUnauthorized, h.login("judy", "judy password", "X-Forwarded-For", "198.51.100.9").Status,
		"the refused registration made no account")
	check(h.login("ivan", "ivan password", "X-Forwarded-For", "198.51.100.9"), http.StatusOK, `"per-client";r=2;t=30`,
		"another client behind the proxy")

	verify := h.withBearer(http.MethodGet, "/auth/verify", login.Body["access_token"].(string))
	assert.Equal(t, http.StatusOK, verify.Status)
	assert.Empty(t, verify.Header.Get("RateLimit-Policy"), "the authenticated endpoints are not limited per client")
	for range 5 {
		assert.Empty(t, testenv.Call(t, http.MethodGet, h.srv.URL+"/ready", "").Header.Get("RateLimit-Policy"))
	}

	h.clock.Advance(15 * time.Second)
	check(h.login("ivan", "ivan password", script...), http.StatusOK, `"per-client";r=0;t=60`, "one interval later")
}

// X-Forwarded-For names the client only when a trusted proxy sends it: from anyone else, a
// script changing the header at each request is still one client.
func TestAForgedForwardedForDoesNotEscapeTheLimit(t *testing.T) {
	t.Parallel()
	env := baseEnv(t)
	env["RATE_LIMIT_PER_CLIENT"] = "2"
	env["TRUSTED_PROXIES"] = "10.0.0.0/8" // not the test, at 127.0.0.1
	h := start(t, env)
	for i, want := range []int{http.StatusUnauthorized, http.StatusUnauthorized, http.StatusTooManyRequests} {
		r := h.login("nobody", "a password", "X-Forwarded-For", fmt.Sprintf("203.0.113.%d", i+1))
		assert.Equal(t, want, r.Status, "request %d", i+1)
	}
}
