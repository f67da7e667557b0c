// Package service wires the audit service: its connections and migrations, the live
// projection consumers, the statistics notifier, replays, and the admin API. Every concrete
// dependency is built here and nowhere else.
package service

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/caasdemo/orderdemo/events"
	"github.com/caasdemo/orderdemo/services/audit/internal/adapters"
	"github.com/caasdemo/orderdemo/services/audit/internal/config"
	"github.com/caasdemo/orderdemo/services/audit/internal/migrations"
	"github.com/caasdemo/orderdemo/services/audit/internal/ports"
	"github.com/caasdemo/orderdemo/services/audit/internal/projection"
	"github.com/caasdemo/orderdemo/services/audit/internal/replay"
	"github.com/caasdemo/orderdemo/services/platform/app"
	"github.com/caasdemo/orderdemo/services/platform/authtoken"
	"github.com/caasdemo/orderdemo/services/platform/backend"
	"github.com/caasdemo/orderdemo/services/platform/consumer"
	"github.com/caasdemo/orderdemo/services/platform/httpserver"
	"github.com/caasdemo/orderdemo/services/platform/postgres"
	"github.com/caasdemo/orderdemo/services/platform/ratelimit"
	"github.com/caasdemo/orderdemo/services/platform/requestid"
	"github.com/caasdemo/orderdemo/services/platform/telemetry"
)

// Name is the service's name in logs, NATS connections and health answers.
const Name = "audit"

// Schema is the one PostgreSQL schema the audit service owns.
const Schema = "audit"

// StatsSubject is where the statistics are published when they may have changed, for the
// gateway to forward to dashboards over SSE.
const StatsSubject = "audit.stats.updated"

// Service is the assembled audit service.
type Service struct {
	Handler  http.Handler
	Workers  []app.Worker // the projection consumers and the statistics notifier
	Replayer *replay.Replayer
	// Metrics is what the service measures, served on METRICS_ADDR when that is set.
	Metrics *telemetry.Metrics
	closers app.Closers
}

// Consumers are the live projection consumers, one per stream; committed is told after each
// commit that applied events (the statistics may have changed).
func Consumers(cfg config.Consumer, committed func()) []consumer.Spec {
	handle := projection.Handler()
	return []consumer.Spec{
		{Stream: events.AuthStream.Name, Durable: "audit-auth", Subjects: []string{"auth.>"},
			MaxAttempts: cfg.MaxAttempts, Backoff: cfg.Backoff(), Handle: handle, Committed: committed},
		{Stream: events.OrdersStream.Name, Durable: "audit-orders", Subjects: []string{"orders.>"},
			MaxAttempts: cfg.MaxAttempts, Backoff: cfg.Backoff(), Handle: handle, Committed: committed},
	}
}

// New connects, migrates, and builds the consumers, the replayer and the HTTP handler. base
// bounds the replays started through the API. Close releases what New opened.
func New(ctx, base context.Context, cfg *config.Config, log *slog.Logger) (_ *Service, err error) {
	s := &Service{}
	defer func() {
		if err != nil {
			s.Close()
		}
	}()
	b, err := open(ctx, cfg, cfg.Metrics, log)
	if err != nil {
		return nil, err
	}
	s.closers.Add(b.Close)
	s.Metrics = b.Metrics
	pool, nc, js := b.Pool, b.NC, b.JS
	var dirty atomic.Bool
	dirty.Store(true)
	runner := consumer.NewRunner(pool, js, log, b.Metrics)
	specs := Consumers(cfg.Consumer, func() { dirty.Store(true) })
	for _, spec := range specs {
		if _, err := runner.Ensure(ctx, spec); err != nil {
			return nil, err
		}
		s.Workers = append(s.Workers, func(ctx context.Context) error { return runner.Run(ctx, spec) })
	}
	stats := projection.NewStatsCache(pool, cfg.StatsMaxAge)
	s.Workers = append(s.Workers, func(ctx context.Context) error { return notifyStats(ctx, stats, nc, &dirty, log) })

	issuer := authtoken.NewIssuer(cfg.Token, time.Now)
	truth := adapters.OrderCounts{BaseURL: cfg.OrderURL, Issuer: issuer,
		Client: &http.Client{Transport: requestid.Transport{}, Timeout: 10 * time.Second}}
	s.Replayer = replay.New(pool, js, truth, log)
	verifier := authtoken.NewVerifier(cfg.Token, authtoken.NewRevocations(b.Valkey, cfg.Valkey.KeyPrefix), time.Now)
	router := httpserver.NewRouter(Name, log, b.Metrics, b.Checks()...)
	limiter := ratelimit.New(b.Valkey, cfg.Valkey.KeyPrefix, Name, time.Now)
	ports.NewHTTP(ports.Deps{Pool: pool, Stats: stats, Verifier: verifier,
		Limit:  limiter.Middleware(cfg.RateLimit.Policy(), ratelimit.User, log),
		Runner: runner, Consumers: specs, Replays: replay.NewControl(base, s.Replayer, nc), Log: log}).Routes(router)
	s.Handler = router
	return s, nil
}

// open connects to PostgreSQL (migrating the audit schema), NATS and Valkey, and serves the
// metrics on metrics.Addr when set. The streams belong to their producers; ensuring them here
// too lets the audit service start first (the configuration is the same, from the event
// contract).
//
// The service is ready while PostgreSQL and Valkey answer: the audit API reads the one and
// checks tokens and counts requests against the other. NATS only degrades it: the log stops
// growing until the consumers resume where they stopped.
func open(ctx context.Context, cfg *config.Config, metrics telemetry.MetricsConfig, log *slog.Logger) (*backend.Backend, error) {
	return backend.Open(ctx, backend.Options{Service: Name, Schema: Schema,
		Postgres: &cfg.Postgres, Migrations: []postgres.Migrations{{FS: migrations.FS}, consumer.Migrations},
		NATS: &cfg.NATS, Streams: events.Streams(), Valkey: &cfg.Valkey, Metrics: metrics}, log)
}

// notifyStats publishes the statistics on StatsSubject at most four times a second, when a
// commit that applied events may have changed them.
func notifyStats(ctx context.Context, stats *projection.StatsCache, nc *nats.Conn, dirty *atomic.Bool, log *slog.Logger) error {
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
		if !dirty.Swap(false) {
			continue
		}
		fresh, err := stats.Refresh(ctx)
		if err != nil {
			if ctx.Err() == nil {
				log.Warn("statistics not published", "error", err)
				dirty.Store(true)
			}
			continue
		}
		b, _ := json.Marshal(fresh)
		if err := nc.Publish(StatsSubject, b); err != nil {
			log.Warn("statistics not published", "error", err)
		}
	}
}

// Close releases the service's connections.
func (s *Service) Close() { s.closers.Close() }

// Run serves the audit service until ctx ends.
func Run(ctx context.Context, cfg *config.Config, log *slog.Logger) error {
	s, err := New(ctx, ctx, cfg, log)
	if err != nil {
		return err
	}
	defer s.Close()
	return app.Serve(ctx, cfg.HTTP, s.Handler, log, s.Workers...)
}
