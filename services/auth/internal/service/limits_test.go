package service_test

import (
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

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
