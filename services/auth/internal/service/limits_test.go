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
