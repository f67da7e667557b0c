package postgres_test

import (
	"context"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/caasdemo/orderdemo/services/platform/config"
	"github.com/caasdemo/orderdemo/services/platform/postgres"
	"github.com/caasdemo/orderdemo/services/platform/telemetry"
	"github.com/caasdemo/orderdemo/services/platform/telemetry/metricstest"
	"github.com/caasdemo/orderdemo/services/platform/testenv"
)

// TestThePoolIsObservedByState: connections held are used, released ones idle, the limit is
// the pool's, a wait for a connection that ends first is a timeout, and an acquire that had
// to wait for a connection to be opened is a wait.
func TestThePoolIsObservedByState(t *testing.T) {
	t.Parallel()
	cfg := postgres.Config{URL: config.URL(testenv.PostgresURL(t)), ConnectTimeout: 5 * time.Second, MaxConns: 2, CallTimeout: testenv.DatabaseCallTimeout}
	pool, err := postgres.Open(t.Context(), cfg, "widget-svc", "widgets", quiet, migrations)
	require.NoError(t, err)
	defer pool.Close()
	m, err := telemetry.OpenMetrics("widget-svc", telemetry.MetricsConfig{}, quiet)
	require.NoError(t, err)
	defer m.Close()
	require.NoError(t, postgres.ObservePool(pool, "widgets", m))
	srv := httptest.NewServer(m.Handler())
	defer srv.Close()
	scrape := func() metricstest.Snapshot { return metricstest.Scrape(t, srv.URL+telemetry.Path) }
	pooled := []string{"db_client_connection_pool_name", "widgets"}
	state := func(s metricstest.Snapshot, st string) float64 {
		return s.Value("db_client_connection_count", append(pooled, "db_client_connection_state", st)...)
	}

	var held []*pgxpool.Conn
	for range 2 {
		c, err := pool.Acquire(t.Context())
		require.NoError(t, err)
		held = append(held, c)
	}
	full := scrape()
	assert.Equal(t, 2.0, state(full, "used"))
	assert.Zero(t, state(full, "idle"))
	assert.Equal(t, 2.0, full.Value("db_client_connection_max", pooled...))

	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	_, err = pool.Acquire(ctx) // none is free: it waits until its context ends
	cancel()
	require.Error(t, err)
	for _, c := range held {
		c.Release()
	}
	after := scrape()
	assert.Zero(t, state(after, "used"))
	assert.Equal(t, 2.0, state(after, "idle"))
	assert.Equal(t, 1.0, after.Value("db_client_connection_timeouts_total", pooled...))

	pool.Reset() // no connection left: the next acquire waits for one to be opened
	c, err := pool.Acquire(t.Context())
	require.NoError(t, err)
	c.Release()
	waited := scrape()
	delta := func(name string) float64 { return waited.Value(name, pooled...) - after.Value(name, pooled...) }
	assert.Equal(t, 1.0, delta("caas_db_client_connection_acquires_total"))
	assert.Equal(t, 1.0, delta("caas_db_client_connection_waits_total"), "the acquire found no idle connection")
	assert.Positive(t, delta("caas_db_client_connection_wait_time_seconds_total"))
}
