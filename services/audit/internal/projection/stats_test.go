package projection_test

import (
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/caasdemo/orderdemo/services/audit/internal/projection"
)

func TestStatsCacheServesOneComputationUntilItIsTooOld(t *testing.T) {
	t.Parallel()
	pool := openDB(t)
	ctx := t.Context()
	addOrder := func() {
		_, err := pool.Exec(ctx, `INSERT INTO orders_view (order_id, user_id, status, created_at, version)
			VALUES (gen_random_uuid(), gen_random_uuid(), 'pending', now(), 1)`)
		require.NoError(t, err)
	}
	addOrder()
	cache := projection.NewStatsCache(pool, time.Hour)

	// A hundred callers at once share one computation.
	var wg sync.WaitGroup
	got := make([]projection.Stats, 100)
	for i := range got {
		wg.Go(func() {
			var err error
			got[i], err = cache.Get(ctx)
			assert.NoError(t, err)
		})
	}
	wg.Wait()
	for _, s := range got {
		assert.Equal(t, got[0].AsOf, s.AsOf, "one computation for all")
		assert.EqualValues(t, 1, s.TotalOrders)
	}

	addOrder()
	cached, err := cache.Get(ctx)
	require.NoError(t, err)
	assert.EqualValues(t, 1, cached.TotalOrders, "younger than the maximum age: from the cache")
	fresh, err := cache.Refresh(ctx)
	require.NoError(t, err)
	assert.EqualValues(t, 2, fresh.TotalOrders, "Refresh sees every committed write")
	after, err := cache.Get(ctx)
	require.NoError(t, err)
	assert.EqualValues(t, 2, after.TotalOrders, "Get serves what Refresh computed")

	uncached := projection.NewStatsCache(pool, 0)
	addOrder()
	s, err := uncached.Get(ctx)
	require.NoError(t, err)
	assert.EqualValues(t, 3, s.TotalOrders, "a maximum age of 0 computes every time")
}
