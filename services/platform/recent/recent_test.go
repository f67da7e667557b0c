package recent_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/caasdemo/orderdemo/services/platform/recent"
)

func TestCallersShareOneComputationUntilItIsTooOld(t *testing.T) {
	t.Parallel()
	var r recent.Results[int]
	var runs atomic.Int64
	slow := func() (int, error) { time.Sleep(20 * time.Millisecond); return int(runs.Add(1)), nil }

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
	_, err := r.Get(t.Context(), "k", time.Time{}, func() (int, error) { return 0, boom })
	assert.ErrorIs(t, err, boom)
	v, err := r.Get(t.Context(), "k", time.Time{}, func() (int, error) { return 7, nil })
	assert.NoError(t, err)
	assert.Equal(t, 7, v)
}

func TestAWaiterGivesUpWithItsContext(t *testing.T) {
	t.Parallel()
	var r recent.Results[int]
	started, release := make(chan struct{}), make(chan struct{})
	go func() {
		_, _ = r.Get(context.Background(), "k", time.Time{}, func() (int, error) { close(started); <-release; return 1, nil })
	}()
	<-started
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Millisecond)
	defer cancel()
	_, err := r.Get(ctx, "k", time.Now().Add(-time.Hour), func() (int, error) { return 2, nil })
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	close(release)
}
