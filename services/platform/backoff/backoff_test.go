package backoff_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/caasdemo/orderdemo/services/platform/backoff"
)

func TestDelayDoublesUpToTheCap(t *testing.T) {
	t.Parallel()
	p := backoff.Policy{Initial: 10 * time.Millisecond, Max: 50 * time.Millisecond}
	var got []time.Duration
	for i := range 5 {
		got = append(got, p.Delay(i))
	}
	assert.Equal(t, []time.Duration{10e6, 20e6, 40e6, 50e6, 50e6}, got)
}

func TestRetrySucceedsAfterFailures(t *testing.T) {
	t.Parallel()
	calls := 0
	err := backoff.Retry(t.Context(), backoff.Policy{Initial: time.Millisecond}, time.Second, func(context.Context) error {
		calls++
		if calls < 3 {
			return errors.New("not yet")
		}
		return nil
	}, nil)
	require.NoError(t, err)
	assert.Equal(t, 3, calls)
}

func TestRetryGivesUpWithTheLastError(t *testing.T) {
	t.Parallel()
	cause := errors.New("connection refused")
	retries := 0
	err := backoff.Retry(t.Context(), backoff.Policy{Initial: 5 * time.Millisecond, Max: 5 * time.Millisecond}, 30*time.Millisecond,
		func(context.Context) error { return cause },
		func(int, error) { retries++ })
	require.ErrorIs(t, err, cause)
	assert.Contains(t, err.Error(), "gave up after 30ms")
	assert.Positive(t, retries)
}

func TestRetryStopsWhenTheContextEnds(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	err := backoff.Retry(ctx, backoff.Policy{}, time.Minute, func(context.Context) error { return errors.New("down") }, nil)
	require.ErrorIs(t, err, context.Canceled)
}
