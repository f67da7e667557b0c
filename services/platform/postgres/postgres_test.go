package postgres_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"testing"
	"testing/fstest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/caasdemo/orderdemo/services/platform/config"
	"github.com/caasdemo/orderdemo/services/platform/health"
	"github.com/caasdemo/orderdemo/services/platform/postgres"
	"github.com/caasdemo/orderdemo/services/platform/problem"
	"github.com/caasdemo/orderdemo/services/platform/testenv"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

var migrations = postgres.Migrations{FS: fstest.MapFS{
	"00001_widgets.sql": {Data: []byte(`-- +goose Up
CREATE TABLE widgets (id int PRIMARY KEY);
-- +goose Down
DROP TABLE widgets;
`)},
}}

func TestOpenMigratesIntoTheServiceSchemaOnly(t *testing.T) {
	t.Parallel()
	cfg := postgres.Config{URL: config.URL(testenv.PostgresURL(t)), ConnectTimeout: 5 * time.Second, MaxConns: 4, CallTimeout: testenv.DatabaseCallTimeout}

	pool, err := postgres.Open(t.Context(), cfg, "widget-svc", "widgets", quiet, migrations)
	require.NoError(t, err)
	defer pool.Close()

	var schema string
	require.NoError(t, pool.QueryRow(t.Context(),
		`SELECT table_schema FROM information_schema.tables WHERE table_name = 'widgets'`).Scan(&schema))
	assert.Equal(t, "widgets", schema, "the table lives in the service's schema")

	_, err = pool.Exec(t.Context(), `INSERT INTO widgets VALUES (1)`) // unqualified SQL reaches it
	require.NoError(t, err)

	// A second start (another replica, or a restart) applies nothing twice.
	again, err := postgres.Open(t.Context(), cfg, "widget-svc", "widgets", quiet, migrations)
	require.NoError(t, err)
	again.Close()
	var versions int
	require.NoError(t, pool.QueryRow(t.Context(), `SELECT count(*) FROM widgets.goose_db_version WHERE version_id = 1`).Scan(&versions))
	assert.Equal(t, 1, versions)

	rep := health.Evaluate(t.Context(), []health.Check{postgres.Check(pool)})
	assert.Empty(t, rep.Down)
}

func TestOpenGivesUpNamingTheVariable(t *testing.T) {
	t.Parallel()
	cfg := postgres.Config{URL: "postgres://app:topsecret@127.0.0.1:1/app?sslmode=disable", ConnectTimeout: 300 * time.Millisecond, MaxConns: 2}
	_, err := postgres.Open(t.Context(), cfg, "svc", "svc", quiet, migrations)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "DATABASE_URL: cannot reach PostgreSQL at 127.0.0.1:1/app")
	assert.NotContains(t, err.Error(), "topsecret")
}

func TestOpenRejectsAMalformedURL(t *testing.T) {
	t.Parallel()
	_, err := postgres.Open(t.Context(), postgres.Config{URL: "postgres://a:b@h:notaport/x"}, "svc", "svc", quiet, migrations)
	require.ErrorContains(t, err, "DATABASE_URL: not a valid PostgreSQL URL")
	assert.NotContains(t, err.Error(), ":b@")
}

func TestEndpoint(t *testing.T) {
	t.Parallel()
	assert.Equal(t, "db:5432/app", postgres.Endpoint("postgres://u:p@db/app"))
	assert.Equal(t, "127.0.0.1:6543/x", postgres.Endpoint("postgres://127.0.0.1:6543/x"))
	assert.Equal(t, "(the configured server)", postgres.Endpoint("host=db dbname=x"))
}

// Every call has its own deadline, and what a server that cannot answer returns is
// recognised as postgres being unavailable, while the errors of a wrong request are not.
func TestEveryCallEndsAtItsDeadlineNamingPostgres(t *testing.T) {
	t.Parallel()
	proxy := testenv.StartProxy(t, testenv.PostgresURL(t))
	cfg := postgres.Config{URL: config.URL(proxy.URL()), ConnectTimeout: 5 * time.Second, MaxConns: 2, CallTimeout: 500 * time.Millisecond}
	pool, err := postgres.Open(t.Context(), cfg, "widget-svc", "widgets", quiet, migrations)
	require.NoError(t, err)
	defer pool.Close()

	_, err = pool.Exec(t.Context(), `SELEC 1`)
	require.Error(t, err)
	assert.Nil(t, problem.AsUnavailable(err), "a syntax error is the request's fault: %v", err)

	_, err = pool.Exec(t.Context(), `SELECT pg_sleep(2)`)
	assert.Equal(t, "postgres", unavailable(t, err), "a statement past its deadline")
	_, err = pool.Exec(postgres.WithoutCallTimeout(t.Context()), `SELECT pg_sleep(0.7)`)
	assert.NoError(t, err, "a statement that runs long by design is exempt")

	held, err := pool.Acquire(t.Context())
	require.NoError(t, err)
	other, err := pool.Acquire(t.Context())
	require.NoError(t, err)
	start := time.Now()
	_, err = pool.Exec(t.Context(), `SELECT 1`)
	assert.Equal(t, "postgres", unavailable(t, err), "waiting for a connection of a full pool")
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Less(t, time.Since(start), time.Second)
	held.Release()
	other.Release()

	for name, fault := range map[string]func(){"stalled": proxy.Stall, "killed": proxy.Cut} {
		fault()
		for _, idle := range []time.Duration{0, 1100 * time.Millisecond} { // pooled connections idle for over a second are pinged first
			time.Sleep(idle)
			ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second) // as long as a request would wait
			start := time.Now()
			_, err := pool.Exec(ctx, `INSERT INTO widgets VALUES (2)`)
			elapsed := time.Since(start)
			cancel()
			assert.Equal(t, "postgres", unavailable(t, err), "%s, idle %s", name, idle)
			assert.Less(t, elapsed, 1200*time.Millisecond, "%s, idle %s: a hang is bounded by DATABASE_CALL_TIMEOUT", name, idle)
		}
		proxy.Restore()
		require.Eventually(t, func() bool {
			_, err := pool.Exec(t.Context(), `SELECT 1`)
			return err == nil
		}, 10*time.Second, 50*time.Millisecond, "%s: the pool recovers once PostgreSQL answers again", name)
	}
}

// unavailable returns the dependency problem.Write would name for err, or says it names none.
func unavailable(t *testing.T, err error) string {
	t.Helper()
	require.Error(t, err)
	if ue := problem.AsUnavailable(err); ue != nil {
		return ue.Dependency
	}
	return "(not recognised: " + err.Error() + ")"
}

func TestAZeroCallTimeoutIsRefusedNamingTheVariable(t *testing.T) {
	t.Parallel()
	var cfg postgres.Config
	err := config.Load(testenv.Lookup(map[string]string{"DATABASE_URL": "postgres://db/app", "DATABASE_CALL_TIMEOUT": "0"}), &cfg)
	assert.ErrorContains(t, err, "DATABASE_CALL_TIMEOUT must be positive")
}

// A streamed result waits for its consumer as long as the consumer takes, but not for a
// server that stopped sending.
func TestAStreamWaitsForItsConsumerButNotForAStalledServer(t *testing.T) {
	t.Parallel()
	proxy := testenv.StartProxy(t, testenv.PostgresURL(t))
	cfg := postgres.Config{URL: config.URL(proxy.URL()), ConnectTimeout: 5 * time.Second, MaxConns: 2, CallTimeout: 300 * time.Millisecond}
	pool, err := postgres.Open(t.Context(), cfg, "widget-svc", "widgets", quiet, migrations)
	require.NoError(t, err)
	defer pool.Close()

	type row struct{ N int }
	var got []int
	err = postgres.Stream(t.Context(), pool, `SELECT generate_series(1, $1::int)`, []any{3}, func(r row) error {
		time.Sleep(400 * time.Millisecond) // a slow client, longer than the call timeout
		got = append(got, r.N)
		return nil
	})
	require.NoError(t, err)
	assert.Equal(t, []int{1, 2, 3}, got)

	n := 0
	start := time.Now()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second) // as long as a client would wait
	defer cancel()
	err = postgres.Stream(ctx, pool, `SELECT repeat('x', 1000) FROM generate_series(1, 100000)`, nil, func(struct{ S string }) error {
		if n++; n == 1 {
			proxy.Stall()
			start = time.Now()
		}
		return nil
	})
	assert.Equal(t, "postgres", unavailable(t, err))
	assert.Less(t, n, 100000, "the stall cut the stream short")
	assert.Less(t, time.Since(start), time.Second, "the rows already received are consumed, then the wait ends at the call timeout")
	proxy.Restore() // so that closing the pool does not wait out the stall
}

// Only PostgreSQL's own failures are named postgres: a caller's deadline or cancellation of
// another call (a JetStream lookup, a Valkey command) is not, though context.DeadlineExceeded
// is a net.Error too.
func TestOtherCallsTimeoutsAreNotNamedPostgres(t *testing.T) {
	t.Parallel()
	for _, err := range []error{context.DeadlineExceeded, context.Canceled,
		fmt.Errorf("stream info: %w", context.DeadlineExceeded)} {
		assert.False(t, postgres.Unavailable(err), "%v", err)
		assert.Nil(t, problem.AsUnavailable(err), "%v", err)
	}
}
