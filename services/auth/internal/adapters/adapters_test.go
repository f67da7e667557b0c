package adapters_test

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/valkey-io/valkey-go"

	"github.com/caasdemo/orderdemo/services/auth/internal/adapters"
	"github.com/caasdemo/orderdemo/services/auth/internal/app"
	"github.com/caasdemo/orderdemo/services/platform/config"
	"github.com/caasdemo/orderdemo/services/platform/testenv"
	"github.com/caasdemo/orderdemo/services/platform/valkeyconn"
)

func valkeyClient(t *testing.T) valkey.Client {
	t.Helper()
	c, err := valkeyconn.Connect(t.Context(), valkeyconn.Config{URL: config.URL(testenv.ValkeyURL(t)), ConnectTimeout: time.Second},
		slog.New(slog.NewTextHandler(io.Discard, nil)))
	require.NoError(t, err)
	t.Cleanup(c.Close)
	return c
}

func TestLimiterSlidingWindowEdges(t *testing.T) {
	t.Parallel()
	l := adapters.NewLimiter(valkeyClient(t), testenv.Prefix())
	lim := app.Limit{Key: "user:alice", Max: 5, Window: time.Minute}
	t0 := time.UnixMilli(1_800_000_000_000)

	for i := range 5 { // five attempts within one second
		_, wait, err := l.Acquire(t.Context(), t0.Add(time.Duration(i)*100*time.Millisecond), lim)
		require.NoError(t, err)
		require.Zero(t, wait, "attempt %d", i+1)
	}
	_, wait, err := l.Acquire(t.Context(), t0.Add(500*time.Millisecond), lim)
	require.NoError(t, err)
	assert.Equal(t, 59500*time.Millisecond, wait, "the sixth waits until the first leaves the window")

	_, wait, _ = l.Acquire(t.Context(), t0.Add(59999*time.Millisecond), lim)
	assert.Equal(t, time.Millisecond, wait)
	attempt, wait, _ := l.Acquire(t.Context(), t0.Add(60*time.Second), lim)
	assert.Zero(t, wait, "exactly one attempt has left")
	_, wait, _ = l.Acquire(t.Context(), t0.Add(60*time.Second), lim)
	assert.Positive(t, wait, "and its place is taken")

	require.NoError(t, l.Release(t.Context(), attempt, lim))
	_, wait, _ = l.Acquire(t.Context(), t0.Add(60*time.Second), lim)
	assert.Zero(t, wait, "a released attempt frees its place")
}

func TestLimiterCountsAcrossAllItsWindows(t *testing.T) {
	t.Parallel()
	l := adapters.NewLimiter(valkeyClient(t), testenv.Prefix())
	now := time.Now()
	client := app.Limit{Key: "client:1.2.3.4", Max: 2, Window: time.Minute}
	for _, user := range []string{"a", "b"} {
		_, wait, err := l.Acquire(t.Context(), now, app.Limit{Key: "user:" + user, Max: 5, Window: time.Minute}, client)
		require.NoError(t, err)
		require.Zero(t, wait)
	}
	userC := app.Limit{Key: "user:c", Max: 5, Window: time.Minute}
	_, wait, err := l.Acquire(t.Context(), now, userC, client)
	require.NoError(t, err)
	assert.Positive(t, wait)
	_, wait, _ = l.Acquire(t.Context(), now, userC)
	assert.Zero(t, wait, "a refused attempt was not counted against user c")
}

func TestSessionsRotateOnceAndEnd(t *testing.T) {
	t.Parallel()
	now := time.Now()
	// Without a grace period, every refresh token works exactly once.
	s := adapters.NewSessions(valkeyClient(t), testenv.Prefix(), adapters.SessionLimits{Idle: time.Hour, Lifetime: 12 * time.Hour},
		func() time.Time { return now })
	tok, err := s.Start(t.Context(), app.Session{ID: "s1", UserID: "u1", Username: "alice", IsAdmin: true, StartedAt: now})
	require.NoError(t, err)

	sess, next, err := s.Rotate(t.Context(), tok)
	require.NoError(t, err)
	assert.Equal(t, app.Session{ID: "s1", UserID: "u1", Username: "alice", IsAdmin: true, StartedAt: time.UnixMilli(now.UnixMilli())}, sess)

	// Two concurrent uses of one token: exactly one succeeds.
	var wg sync.WaitGroup
	results := make(chan error, 2)
	for range 2 {
		wg.Go(func() { _, _, err := s.Rotate(context.Background(), next); results <- err })
	}
	wg.Wait()
	close(results)
	var ok int
	for err := range results {
		if err == nil {
			ok++
		} else {
			assert.ErrorIs(t, err, app.ErrInvalidRefresh)
		}
	}
	assert.Equal(t, 1, ok)

	for _, bad := range []string{"", "no-dot", "s1.", "unknown.secret"} {
		_, _, err := s.Rotate(t.Context(), bad)
		assert.ErrorIs(t, err, app.ErrInvalidRefresh, bad)
	}

	now = now.Add(13 * time.Hour) // past the absolute lifetime
	tok2, err := s.Start(t.Context(), app.Session{ID: "s2", UserID: "u1", Username: "alice", StartedAt: now.Add(-13 * time.Hour)})
	require.NoError(t, err)
	_, _, err = s.Rotate(t.Context(), tok2)
	assert.ErrorIs(t, err, app.ErrInvalidRefresh)

	tok3, err := s.Start(t.Context(), app.Session{ID: "s3", UserID: "u1", Username: "alice", StartedAt: now})
	require.NoError(t, err)
	require.NoError(t, s.End(t.Context(), "s3"))
	_, _, err = s.Rotate(t.Context(), tok3)
	assert.ErrorIs(t, err, app.ErrInvalidRefresh)
}

// manualClock is a clock the test moves by hand.
type manualClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *manualClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *manualClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// rotateAtOnce presents token to Rotate from n goroutines released together.
func rotateAtOnce(s *adapters.Sessions, token string, n int) (nexts []string, errs []error) {
	var mu sync.Mutex
	var wg sync.WaitGroup
	gate := make(chan struct{})
	for range n {
		wg.Go(func() {
			<-gate
			_, next, err := s.Rotate(context.Background(), token)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, err)
			} else {
				nexts = append(nexts, next)
			}
		})
	}
	close(gate)
	wg.Wait()
	return nexts, errs
}

// Twenty page loads of one browser renew with the same refresh token at once: all of them
// get the one successor, and the session lives on along that single chain.
func TestSessionsConcurrentRenewalsShareOneSuccessor(t *testing.T) {
	t.Parallel()
	clock := &manualClock{now: time.Now()}
	s := adapters.NewSessions(valkeyClient(t), testenv.Prefix(),
		adapters.SessionLimits{Idle: time.Hour, Lifetime: 12 * time.Hour, Grace: 15 * time.Second}, clock.Now)
	tok, err := s.Start(t.Context(), app.Session{ID: "s1", UserID: "u1", Username: "alice", StartedAt: clock.Now()})
	require.NoError(t, err)

	nexts, errs := rotateAtOnce(s, tok, 20)
	require.Empty(t, errs, "no renewal is taken for a replay")
	require.Len(t, nexts, 20)
	for _, next := range nexts {
		assert.Equal(t, nexts[0], next, "every caller is on the same chain")
	}
	assert.NotEqual(t, tok, nexts[0])

	clock.Advance(5 * time.Second)
	sess, again, err := s.Rotate(t.Context(), tok)
	require.NoError(t, err, "a late caller within the grace period")
	assert.Equal(t, nexts[0], again)
	assert.Equal(t, "alice", sess.Username)

	// The chain goes on from the shared successor, and its own renewals race safely too.
	nexts2, errs := rotateAtOnce(s, nexts[0], 20)
	require.Empty(t, errs)
	require.Len(t, nexts2, 20)
	for _, next := range nexts2 {
		assert.Equal(t, nexts2[0], next)
	}
	_, _, err = s.Rotate(t.Context(), nexts2[0])
	assert.NoError(t, err, "the one live session")
}

// The grace period covers only the token just replaced, and only for its duration: a
// replay of it later, or of any older token, still ends the whole session.
func TestSessionsReuseOutsideTheGracePeriodEndsTheSession(t *testing.T) {
	t.Parallel()
	const grace = 15 * time.Second
	clock := &manualClock{now: time.Now()}
	s := adapters.NewSessions(valkeyClient(t), testenv.Prefix(),
		adapters.SessionLimits{Idle: time.Hour, Lifetime: 12 * time.Hour, Grace: grace}, clock.Now)
	start := func(id string) string {
		tok, err := s.Start(t.Context(), app.Session{ID: id, UserID: "u1", Username: "alice", StartedAt: clock.Now()})
		require.NoError(t, err)
		return tok
	}
	rotate := func(tok string) (string, error) {
		_, next, err := s.Rotate(t.Context(), tok)
		return next, err
	}

	// After the grace period.
	first := start("late")
	second, err := rotate(first)
	require.NoError(t, err)
	clock.Advance(grace)
	_, err = rotate(first)
	assert.ErrorIs(t, err, app.ErrInvalidRefresh, "the replaced token, once the grace period is over")
	_, err = rotate(second)
	assert.ErrorIs(t, err, app.ErrInvalidRefresh, "the session ended: its newest token is dead too")

	// An older token within the grace period of a newer rotation.
	first = start("older")
	second, err = rotate(first)
	require.NoError(t, err)
	third, err := rotate(second)
	require.NoError(t, err)
	_, err = rotate(first)
	assert.ErrorIs(t, err, app.ErrInvalidRefresh, "two rotations back is a replay, however soon")
	_, err = rotate(third)
	assert.ErrorIs(t, err, app.ErrInvalidRefresh)

	// A forged secret for a live session.
	first = start("forged")
	second, err = rotate(first)
	require.NoError(t, err)
	_, err = rotate("forged.not-the-secret")
	assert.ErrorIs(t, err, app.ErrInvalidRefresh)
	_, err = rotate(second)
	assert.ErrorIs(t, err, app.ErrInvalidRefresh)
}

func TestBcryptPoolRefusesPastItsQueue(t *testing.T) {
	t.Parallel()
	p := adapters.NewBcryptPool(8, 1, 0) // one hash at a time, none waiting
	hash, err := p.Hash(t.Context(), "a password")
	require.NoError(t, err)

	// Four checks released at once against one worker and no queue: one runs, the others
	// are refused at once instead of waiting.
	gate := make(chan struct{})
	results := make(chan error, 4)
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			<-gate
			_, err := p.Compare(context.Background(), hash, "a password")
			results <- err
		})
	}
	close(gate)
	wg.Wait()
	close(results)
	var busy, ran int
	for err := range results {
		if err == app.ErrBusy {
			busy++
		} else if err == nil {
			ran++
		}
	}
	assert.GreaterOrEqual(t, ran, 1)
	assert.GreaterOrEqual(t, busy, 1, "checks past the pool's capacity get ErrBusy")

	ok, err := p.Compare(t.Context(), hash, "a password")
	assert.True(t, ok)
	assert.NoError(t, err)
	ok, err = p.Compare(t.Context(), hash, "another")
	assert.False(t, ok)
	assert.NoError(t, err)
	_, err = p.Compare(t.Context(), []byte("not a hash"), "x")
	assert.Error(t, err)
	assert.Equal(t, 8, p.Cost())
	assert.Len(t, p.DummyHash(), 60)
}
