// Package backend opens what a service needs before it can be built: its metrics (the meter
// provider, and GET /metrics when METRICS_ADDR is set), then the connections (PostgreSQL with
// its migrations, NATS with the streams it owns, Valkey), in that order, and releases them in
// reverse. The four services open theirs through it, so they start, report readiness, are
// measured and shut down alike.
package backend

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/valkey-io/valkey-go"

	"github.com/caasdemo/orderdemo/events"
	"github.com/caasdemo/orderdemo/services/platform/app"
	"github.com/caasdemo/orderdemo/services/platform/health"
	"github.com/caasdemo/orderdemo/services/platform/natsconn"
	"github.com/caasdemo/orderdemo/services/platform/postgres"
	"github.com/caasdemo/orderdemo/services/platform/telemetry"
	"github.com/caasdemo/orderdemo/services/platform/valkeyconn"
)

// Options say what to open; a nil configuration means the service does without.
type Options struct {
	Service    string
	Schema     string
	Postgres   *postgres.Config
	Migrations []postgres.Migrations
	// NATS, when set, is connected and checked by readiness as a dependency that only
	// degrades: every service keeps serving while NATS is away (what it publishes waits in
	// its outbox, its consumers and live feeds resume where they stopped).
	NATS    *natsconn.Config
	Streams []events.Stream // created or updated at start-up
	Valkey  *valkeyconn.Config
	// Metrics says where to serve GET /metrics; the zero value measures without serving.
	Metrics telemetry.MetricsConfig
}

// Backend holds the open connections and the service's metrics.
type Backend struct {
	// Metrics is the meter provider everything the service instruments records to; the
	// pool's statistics are already observed (db.client.connection.*).
	Metrics *telemetry.Metrics
	Pool    *pgxpool.Pool
	NC      *nats.Conn
	JS      jetstream.JetStream
	Valkey  valkey.Client
	checks  []health.Check
	app.Closers
}

// Open opens what o asks for. On error it releases what it opened; otherwise the caller
// calls Close.
func Open(ctx context.Context, o Options, log *slog.Logger) (_ *Backend, err error) {
	b := &Backend{}
	defer func() {
		if err != nil {
			b.Close()
		}
	}()
	if b.Metrics, err = telemetry.OpenMetrics(o.Service, o.Metrics, log); err != nil {
		return nil, err
	}
	b.Add(b.Metrics.Close)
	if o.Postgres != nil {
		if b.Pool, err = postgres.Open(ctx, *o.Postgres, o.Service, o.Schema, log, o.Migrations...); err != nil {
			return nil, err
		}
		b.Add(b.Pool.Close)
		b.checks = append(b.checks, postgres.Check(b.Pool))
		if err := postgres.ObservePool(b.Pool, o.Schema, b.Metrics); err != nil {
			return nil, fmt.Errorf("pool metrics: %w", err)
		}
	}
	if o.NATS != nil {
		if b.NC, b.JS, err = natsconn.Connect(ctx, *o.NATS, o.Service, log); err != nil {
			return nil, err
		}
		b.Add(b.NC.Close)
		check := natsconn.Check(b.NC, b.JS)
		check.Degrades = true
		b.checks = append(b.checks, check)
		for _, s := range o.Streams {
			if _, err := natsconn.EnsureStream(ctx, b.JS, s); err != nil {
				return nil, err
			}
		}
	}
	if o.Valkey != nil {
		if b.Valkey, err = valkeyconn.Connect(ctx, *o.Valkey, log); err != nil {
			return nil, err
		}
		b.Add(b.Valkey.Close)
		b.checks = append(b.checks, valkeyconn.Check(b.Valkey))
	}
	return b, nil
}

// Checks are the readiness checks of the open connections.
func (b *Backend) Checks() []health.Check { return b.checks }
