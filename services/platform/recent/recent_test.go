package recent_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/caasdemo/orderdemo/services/platform/recent"
)

func TestCallersShareOneComputationUntilItIsTooOld(t *testing.T) {
	t.Parallel()
	var r recent.Results[int]
	var runs atomic.Int64
	slow := func(context.Context) (int, error) { time.Sleep(20 * time.Millisecond); return int(runs.Add(1)), nil }

	var wg sync.WaitGroup
	for range 50 {
		wg.Go(func() {
			v, err := r.Get(t.Context(), "k", time.Now().Add(-time.Hour), slow)
			assert.NoError(t, err)
			assert.Equal(t, 1, v)
		})
	}
	wg.Wait()
	assert.EqualValues(t, 1, runs.Load(), "fifty callers at once, one computation")

	v, _ := r.Get(t.Context(), "k", time.Now().Add(-time.Hour), slow)
	assert.Equal(t, 1, v, "recent enough: remembered")
	v, _ = r.Get(t.Context(), "k", time.Now(), slow)
	assert.Equal(t, 2, v, "began before since: computed again")
	v, _ = r.Get(t.Context(), "other", time.Now().Add(-time.Hour), slow)
	assert.Equal(t, 3, v, "each key its own")
}

func TestAnErrorIsNotRemembered(t *testing.T) {
	t.Parallel()
	var r recent.Results[int]
	boom := errors.New("boom")
	_, err := r.Get(t.Context(), "k", time.Time{}, func(context.Context) (int, error) { return 0, boom })
	assert.ErrorIs(t, err, boom)
	v, err := r.Get(t.Context(), "k", time.Time{}, func(context.Context) (int, error) { return 7, nil })
	assert.NoError(t, err)
	assert.Equal(t, 7, v)
}

func TestAWaiterGivesUpWithItsContext(t *testing.T) {
	t.Parallel()
	var r recent.Results[int]
	started, release := make(chan struct{}), make(chan struct{})
	go func() {
		_, _ = r.Get(context.Background(), "k", time.Time{}, func(context.Context) (int, error) { close(started); <-release; return 1, nil })
	}()
	<-started
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Millisecond)
	defer cancel()
	_, err := r.Get(ctx, "k", time.Now().Add(-time.Hour), func(context.Context) (int, error) { return 2, nil })
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	close(release)
}

// waitingCtx tells, by closing waiting, when a caller begins to wait on it: Get asks a
// caller's context for Done only once it waits for a computation.
type waitingCtx struct {
	context.Context
	once    sync.Once
	waiting chan struct{}
}

func (c *waitingCtx) Done() <-chan struct{} {
	c.once.Do(func() { close(c.waiting) })
	return c.Context.Done()
}

// A computation that panics releases everyone waiting for it: the caller that started it
// panics as it would have without sharing, the others get an error at once (not when their
// own deadline passes), and the failure is not remembered.
func TestAPanicReleasesEveryoneSharingTheComputation(t *testing.T) {
	t.Parallel()
	var r recent.Results[int]
	timeout, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	waiter := &waitingCtx{Context: timeout, waiting: make(chan struct{})}
	started := make(chan struct{})
	starterDone := make(chan any, 1)
	go func() {
		defer func() { starterDone <- recover() }()
		_, _ = r.Get(context.Background(), "k", time.Time{}, func(context.Context) (int, error) {
			close(started)
			<-waiter.waiting // panic once the other caller shares this computation
			panic("boom")
		})
	}()
	<-started
	_, err := r.Get(waiter, "k", time.Now().Add(-time.Hour), func(context.Context) (int, error) { return 2, nil })
	var pe *recent.PanicError
	require.ErrorAs(t, err, &pe, "released with the panic, not at its own deadline")
	assert.Equal(t, "boom", pe.Value)
	assert.Contains(t, string(pe.Stack), "recent_test.go", "where it panicked")
	assert.Equal(t, "boom", <-starterDone, "the starter gets the panic itself")

	v, err := r.Get(t.Context(), "k", time.Time{}, func(context.Context) (int, error) { return 3, nil })
	require.NoError(t, err)
	assert.Equal(t, 3, v, "a panic is not remembered")
}

// The first caller giving up (its client went away) neither cancels the computation nor
// fails the others sharing it; it returns at once itself.
func TestACancelledFirstCallerFailsNobodyElse(t *testing.T) {
	t.Parallel()
	var r recent.Results[int]
	started, release := make(chan struct{}), make(chan struct{})
	first, cancelFirst := context.WithCancel(context.Background())
	firstDone := make(chan error, 1)
	go func() {
		_, err := r.Get(first, "k", time.Time{}, func(ctx context.Context) (int, error) {
			close(started)
			select {
			case <-ctx.Done():
				return 0, ctx.Err()
			case <-release:
				return 42, nil
			}
		})
		firstDone <- err
	}()
	<-started
	secondDone := make(chan int, 1)
	go func() {
		v, err := r.Get(context.Background(), "k", time.Now().Add(-time.Hour), func(context.Context) (int, error) { return -1, nil })
		assert.NoError(t, err)
		secondDone <- v
	}()

	cancelFirst()
	select {
	case err := <-firstDone:
		assert.ErrorIs(t, err, context.Canceled, "the first caller honours its own context")
	case <-time.After(10 * time.Second):
		t.Fatal("the cancelled first caller kept waiting for the computation")
	}
	close(release)
	assert.Equal(t, 42, <-secondDone, "the computation went on for the other caller")
}

// The computation keeps the first caller's values but has a deadline of its own.
func TestAComputationHasItsOwnDeadline(t *testing.T) {
	t.Parallel()
	r := recent.Results[string]{Timeout: 20 * time.Millisecond}
	type key struct{}
	ctx := context.WithValue(t.Context(), key{}, "request 7")
	v, err := r.Get(ctx, "k", time.Time{}, func(ctx context.Context) (string, error) {
		<-ctx.Done()
		return ctx.Value(key{}).(string), ctx.Err()
	})
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Equal(t, "request 7", v)
}
