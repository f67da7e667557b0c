// Package postgres opens a service's PostgreSQL pool and migrates the service's own schema.
//
// Each service owns exactly one schema (auth, orders, audit). Open pins the pool's
// search_path to that schema, so the service's unqualified SQL can only reach its own tables,
// and runs the service's embedded goose migrations inside it before anything else happens.
//
// Every call through the pool has a deadline of its own (DATABASE_CALL_TIMEOUT): the wait for
// a connection and each statement, so a server that stopped answering fails a request within
// about a second instead of holding it for as long as the client waits. Errors that mean the
// server is unavailable are recognised by problem.Write (see Unavailable) and answered with
// 503 and Retry-After naming postgres.
package postgres

import (
	"context"
	"errors"
	"fmt"
	"hash/crc32"
	"io/fs"
	"log/slog"
	"net"
	"net/url"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"

	"github.com/caasdemo/orderdemo/services/platform/backoff"
	"github.com/caasdemo/orderdemo/services/platform/config"
	"github.com/caasdemo/orderdemo/services/platform/health"
)

// Config is the PostgreSQL part of a service's configuration.
type Config struct {
	URL            config.URL    `env:"DATABASE_URL,required"`
	ConnectTimeout time.Duration `env:"DATABASE_CONNECT_TIMEOUT" default:"15s"`
	MaxConns       int32         `env:"DATABASE_MAX_CONNS" default:"10"`
	// CallTimeout bounds each wait for a pooled connection (opening one included) and each
	// statement. The slowest statement a request runs takes a few hundred milliseconds at
	// saturation; streamed exports, migrations and replays are exempt (WithoutCallTimeout).
	CallTimeout time.Duration `env:"DATABASE_CALL_TIMEOUT" default:"1s"`
}

// Validate refuses a call timeout of zero: a statement without a deadline can wait forever.
func (c Config) Validate() error {
	if c.CallTimeout <= 0 {
		return errors.New("DATABASE_CALL_TIMEOUT must be positive (for example 1s): a PostgreSQL call without a deadline can wait forever")
	}
	return nil
}

// Migrations is one set of goose SQL migrations (files at the root of FS) applied inside a
// service's schema. A service has its own set (Name ""); shared components such as the outbox
// bring theirs, with their own version table, so their versions never collide with the
// service's.
type Migrations struct {
	Name string
	FS   fs.FS
}

// versionTable is where goose records the versions of the set.
func (m Migrations) versionTable(schema string) string {
	if m.Name == "" {
		return schema + ".goose_db_version"
	}
	return schema + ".goose_" + m.Name + "_version"
}

// Open connects to PostgreSQL with retry and backoff for up to cfg.ConnectTimeout, pins the
// search_path to schema, creates the schema if needed and applies every set of migrations, in
// order. Every call through the pool is bounded by cfg.CallTimeout (DefaultCallTimeout when
// zero). The caller closes the pool.
func Open(ctx context.Context, cfg Config, service, schema string, log *slog.Logger, sets ...Migrations) (*pgxpool.Pool, error) {
	pcfg, err := pgxpool.ParseConfig(cfg.URL.Reveal())
	if err != nil {
		// pgx redacts the password in its parse errors.
		return nil, fmt.Errorf("DATABASE_URL: not a valid PostgreSQL URL: %w", err)
	}
	pcfg.MaxConns = cfg.MaxConns
	timeout := cfg.CallTimeout
	if timeout <= 0 {
		timeout = DefaultCallTimeout
	}
	pcfg.ConnConfig.Tracer = callDeadlines{timeout: timeout}
	if pcfg.ConnConfig.ConnectTimeout == 0 || pcfg.ConnConfig.ConnectTimeout > timeout { // connect_timeout in the URL may be shorter
		pcfg.ConnConfig.ConnectTimeout = timeout
	}
	pcfg.PingTimeout = timeout
	pcfg.ConnConfig.RuntimeParams["search_path"] = schema
	pcfg.ConnConfig.RuntimeParams["application_name"] = service
	pool, err := pgxpool.NewWithConfig(ctx, pcfg)
	if err != nil {
		return nil, fmt.Errorf("DATABASE_URL: %w", err)
	}

	where := Endpoint(cfg.URL.Reveal())
	err = backoff.Retry(ctx, backoff.Policy{}, cfg.ConnectTimeout, pool.Ping, func(attempt int, err error) {
		log.Warn("postgres not reachable yet, retrying", "at", where, "attempt", attempt+1, "error", err)
	})
	if err != nil {
		pool.Close()
		return nil, fmt.Errorf("DATABASE_URL: cannot reach PostgreSQL at %s (raise DATABASE_CONNECT_TIMEOUT to wait longer): %w", where, err)
	}
	for _, set := range sets {
		if err := Migrate(ctx, pool, schema, set, log); err != nil {
			pool.Close()
			return nil, err
		}
	}
	return pool, nil
}

// Migrate creates schema if it does not exist and applies every pending migration of set
// inside it. A PostgreSQL advisory lock keyed by the schema lets several replicas start at
// once. Its statements are not bounded by the call timeout: building an index, or waiting
// for another replica's migration, may take longer.
func Migrate(ctx context.Context, pool *pgxpool.Pool, schema string, set Migrations, log *slog.Logger) error {
	ctx = WithoutCallTimeout(ctx)
	if _, err := pool.Exec(ctx, "CREATE SCHEMA IF NOT EXISTS "+pgx.Identifier{schema}.Sanitize()); err != nil {
		return fmt.Errorf("create schema %s: %w", schema, err)
	}
	locker, err := lock.NewPostgresSessionLocker(lock.WithLockID(int64(crc32.ChecksumIEEE([]byte("migrate:" + schema)))))
	if err != nil {
		return fmt.Errorf("migration lock: %w", err)
	}
	db := stdlib.OpenDBFromPool(pool)
	defer db.Close()
	provider, err := goose.NewProvider(goose.DialectPostgres, db, set.FS,
		goose.WithTableName(set.versionTable(schema)),
		goose.WithSessionLocker(locker),
		goose.WithDisableGlobalRegistry(true),
	)
	if err != nil {
		return fmt.Errorf("migrations of %s: %w", schema, err)
	}
	results, err := provider.Up(ctx)
	if err != nil {
		return fmt.Errorf("migrate %s: %w", schema, err)
	}
	version, err := provider.GetDBVersion(ctx)
	if err != nil {
		return fmt.Errorf("migrations of %s: %w", schema, err)
	}
	log.Info("migrations applied", "schema", schema, "set", set.Name, "applied_now", len(results), "version", version)
	return nil
}

// Check is the readiness probe of a pool: one round trip.
func Check(pool *pgxpool.Pool) health.Check {
	return health.Check{Name: Dependency, Probe: func(ctx context.Context) error {
		if err := pool.Ping(ctx); err != nil {
			return errors.New(shortError(err))
		}
		return nil
	}}
}

// Endpoint is host:port/database of a connection URL, for messages: never the user or password.
func Endpoint(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return "(the configured server)"
	}
	host := u.Host
	if _, _, err := net.SplitHostPort(host); err != nil {
		host = net.JoinHostPort(host, "5432")
	}
	return host + u.Path
}

// shortError keeps the innermost cause of a connection error: enough to say what is wrong
// without repeating connection parameters.
func shortError(err error) string {
	for {
		next := errors.Unwrap(err)
		if next == nil {
			return err.Error()
		}
		err = next
	}
}
