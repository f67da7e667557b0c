package postgres_test

import (
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
	cfg := postgres.Config{URL: config.URL(testenv.PostgresURL(t)), ConnectTimeout: 5 * time.Second, MaxConns: 4}

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
