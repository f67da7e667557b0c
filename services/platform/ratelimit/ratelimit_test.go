package ratelimit_test

import (
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/valkey-io/valkey-go"

	"github.com/caasdemo/orderdemo/services/platform/config"
	"github.com/caasdemo/orderdemo/services/platform/ratelimit"
	"github.com/caasdemo/orderdemo/services/platform/testenv"
	"github.com/caasdemo/orderdemo/services/platform/valkeyconn"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// clock is a test's clock: it moves only when told.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *clock { return &clock{now: time.Date(2026, 11, 29, 9, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// connect opens a bounded client to url, closed when the test ends.
func connect(t *testing.T, url string) valkey.Client {
	t.Helper()
	client, err := valkeyconn.Connect(t.Context(), valkeyconn.Config{URL: config.URL(url), ConnectTimeout: time.Second}, quiet)
	require.NoError(t, err)
	t.Cleanup(client.Close)
	return client
}

// newLimiter is a limiter on the test server under a prefix of its own, on clock c.
func newLimiter(t *testing.T, c *clock) *ratelimit.Limiter {
	t.Helper()
	return ratelimit.New(connect(t, testenv.ValkeyURL(t)), testenv.Prefix(), "test", c.Now)
}

// five is five requests a minute: one every 12 s.
var five = ratelimit.Policy{Name: "per-user", Quota: 5, Window: time.Minute}

// The quota is a burst of exactly Quota requests: each allowed one says how many may follow,
// the next one is refused and told when the next will be allowed.
func TestTheQuotaIsExactAtTheBoundary(t *testing.T) {
	t.Parallel()
	c := newClock()
	l := newLimiter(t, c)
	for i := range 5 {
		d, err := l.Allow(t.Context(), five, "alice")
		require.NoError(t, err)
		require.True(t, d.Allowed, "request %d", i+1)
		assert.Equal(t, 4-i, d.Remaining, "request %d", i+1)
		assert.Equal(t, time.Duration(i+1)*12*time.Second, d.Reset, "request %d: the quota is whole again after the intervals spent", i+1)
	}
	d, err := l.Allow(t.Context(), five, "alice")
	require.NoError(t, err)
	assert.False(t, d.Allowed, "the 6th request")
	assert.Equal(t, 0, d.Remaining)
	assert.Equal(t, 12*time.Second, d.RetryAfter, "one interval until the next")

	d, err = l.Allow(t.Context(), five, "bob")
	require.NoError(t, err)
	assert.True(t, d.Allowed, "another partition has its own quota")
	assert.Equal(t, 4, d.Remaining)
}

// A quota that does not divide the window (7 a minute) still allows exactly 7: the count is
// kept in whole microseconds, never in fractions that round.
func TestAQuotaThatDoesNotDivideTheWindowIsStillExact(t *testing.T) {
	t.Parallel()
	c := newClock()
	l := newLimiter(t, c)
	seven := ratelimit.Policy{Name: "odd", Quota: 7, Window: time.Minute}
	for i := range 7 {
		d, err := l.Allow(t.Context(), seven, "alice")
		require.NoError(t, err)
		require.True(t, d.Allowed, "request %d", i+1)
		assert.Equal(t, 6-i, d.Remaining)
	}
	d, err := l.Allow(t.Context(), seven, "alice")
	require.NoError(t, err)
	assert.False(t, d.Allowed, "the 8th request")
}

// Requests racing from many goroutines (as from many replicas) are counted one by one: of
// 40 at the same instant against a quota of 15, exactly 15 pass.
func TestConcurrentRequestsAreCountedAtomically(t *testing.T) {
	t.Parallel()
	c := newClock()
	l := newLimiter(t, c)
	policy := ratelimit.Policy{Name: "race", Quota: 15, Window: time.Minute}
	const requests = 40
	allowed := make(chan ratelimit.Decision, requests)
	var wg sync.WaitGroup
	for range requests {
		wg.Go(func() {
			d, err := l.Allow(t.Context(), policy, "alice")
			assert.NoError(t, err)
			if d.Allowed {
				allowed <- d
			}
		})
	}
	wg.Wait()
	close(allowed)
	remaining := map[int]bool{}
	for d := range allowed {
		remaining[d.Remaining] = true
	}
	assert.Len(t, remaining, 15, "15 allowed, each told a different remainder: %v", remaining)
	for r := range 15 {
		assert.True(t, remaining[r], "remaining %d was told once", r)
	}
}

// A spent quota comes back one interval at a time, and whole after a quiet window; not a
// microsecond earlier.
func TestTheWindowFrees(t *testing.T) {
	t.Parallel()
	c := newClock()
	l := newLimiter(t, c)
	spend := func() {
		t.Helper()
		for {
			d, err := l.Allow(t.Context(), five, "alice")
			require.NoError(t, err)
			if !d.Allowed {
				return
			}
		}
	}
	spend()
	c.Advance(12*time.Second - time.Microsecond)
	d, err := l.Allow(t.Context(), five, "alice")
	require.NoError(t, err)
	assert.False(t, d.Allowed, "a microsecond before the interval has passed")
	assert.Equal(t, time.Microsecond, d.RetryAfter)

	c.Advance(time.Microsecond)
	d, err = l.Allow(t.Context(), five, "alice")
	require.NoError(t, err)
	assert.True(t, d.Allowed, "one interval later, one request")
	assert.Equal(t, 0, d.Remaining)
	d, err = l.Allow(t.Context(), five, "alice")
	require.NoError(t, err)
	assert.False(t, d.Allowed, "and only one")

	c.Advance(time.Minute)
	for i := range 5 {
		d, err := l.Allow(t.Context(), five, "alice")
		require.NoError(t, err)
		assert.True(t, d.Allowed, "after a quiet window the whole quota is back: request %d", i+1)
	}
	d, err = l.Allow(t.Context(), five, "alice")
	require.NoError(t, err)
	assert.False(t, d.Allowed)
}

// A policy turned off counts nothing and never asks Valkey.
func TestAPolicyTurnedOffAllowsEverything(t *testing.T) {
	t.Parallel()
	proxy := testenv.StartProxy(t, testenv.ValkeyURL(t))
	l := ratelimit.New(connect(t, proxy.URL()), testenv.Prefix(), "test", newClock().Now)
	proxy.Cut()
	off := ratelimit.Policy{Name: "off", Quota: 0, Window: time.Minute}
	for range 100 {
		d, err := l.Allow(t.Context(), off, "alice")
		require.NoError(t, err)
		require.True(t, d.Allowed)
	}
}

// Counts expire with the quota they hold: a partition that stops calling leaves no key
// behind for longer than its quota takes to come back.
func TestAPartitionsKeyExpiresWhenItsQuotaIsWhole(t *testing.T) {
	t.Parallel()
	client := connect(t, testenv.ValkeyURL(t))
	prefix := testenv.Prefix()
	l := ratelimit.New(client, prefix, "test", newClock().Now)
	for range 3 {
		_, err := l.Allow(t.Context(), five, "alice")
		require.NoError(t, err)
	}
	ttl, err := client.Do(t.Context(), client.B().Pttl().Key(prefix+"ratelimit:test:per-user:alice").Build()).AsInt64()
	require.NoError(t, err)
	assert.InDelta(t, (36 * time.Second).Milliseconds(), ttl, 1000, "three intervals of 12 s")
}
