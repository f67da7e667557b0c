// Package service wires the order service: it opens its connections, applies its migrations,
// builds the application and mounts its routes. Every concrete dependency is built here and
// nowhere else.
package service

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/caasdemo/orderdemo/events"
	"github.com/caasdemo/orderdemo/services/order/internal/adapters"
	orderapp "github.com/caasdemo/orderdemo/services/order/internal/app"
	"github.com/caasdemo/orderdemo/services/order/internal/config"
	"github.com/caasdemo/orderdemo/services/order/internal/migrations"
	"github.com/caasdemo/orderdemo/services/order/internal/ports"
	"github.com/caasdemo/orderdemo/services/platform/app"
	"github.com/caasdemo/orderdemo/services/platform/authtoken"
	"github.com/caasdemo/orderdemo/services/platform/backend"
	"github.com/caasdemo/orderdemo/services/platform/httpserver"
	"github.com/caasdemo/orderdemo/services/platform/outbox"
	"github.com/caasdemo/orderdemo/services/platform/postgres"
	"github.com/caasdemo/orderdemo/services/platform/ratelimit"
	"github.com/caasdemo/orderdemo/services/platform/telemetry"
)

// Name is the service's name in logs, NATS connections and health answers.
const Name = "order"

// Schema is the one PostgreSQL schema the order service owns.
const Schema = "orders"

// Service is the assembled order service.
type Service struct {
	Handler http.Handler
	Workers []app.Worker // background loops: the outbox relay
	// Metrics is what the service measures, served on METRICS_ADDR when that is set.
	Metrics *telemetry.Metrics
	closers app.Closers
}

// New connects to PostgreSQL (migrating the orders schema), NATS and Valkey (for token
// revocation and the per-user rate limit), and builds the HTTP handler. Close releases what
// New opened.
//
// The service is ready while PostgreSQL and Valkey answer: without the one nothing is
// stored, without the other no token can be checked. NATS only degrades it: orders wait in
// the outbox until the relay can publish them.
func New(ctx context.Context, cfg *config.Config, log *slog.Logger) (_ *Service, err error) {
	s := &Service{}
	defer func() {
		if err != nil {
			s.Close()
		}
	}()
	b, err := backend.Open(ctx, backend.Options{Service: Name, Schema: Schema,
		Postgres: &cfg.Postgres, Migrations: []postgres.Migrations{{FS: migrations.FS}, outbox.Migrations},
		NATS: &cfg.NATS, Streams: []events.Stream{events.OrdersStream}, Valkey: &cfg.Valkey,
		Metrics: cfg.Metrics}, log)
	if err != nil {
		return nil, err
	}
	s.closers.Add(b.Close)
	s.Metrics = b.Metrics
	relay := outbox.NewRelay(b.Pool, b.JS, Schema, log, outbox.Options{Meters: b.Metrics})
	s.Workers = append(s.Workers, relay.Run)

	verifier := authtoken.NewVerifier(cfg.Token, authtoken.NewRevocations(b.Valkey, cfg.Valkey.KeyPrefix), time.Now)
	application := orderapp.New(adapters.NewOrders(b.Pool, cfg.CountMaxAge), time.Now, log, b.Metrics)
	router := httpserver.NewRouter(Name, log, b.Metrics, append(b.Checks(), relay.Check())...)
	limiter := ratelimit.New(b.Valkey, cfg.Valkey.KeyPrefix, Name, time.Now)
	ports.NewHTTP(application, verifier, limiter.Middleware(cfg.RateLimit.Policy(), ratelimit.User, log), log).Routes(router)
	s.Handler = router
	return s, nil
}

// Close releases the service's connections.
func (s *Service) Close() { s.closers.Close() }

// Run serves the order service until ctx ends.
func Run(ctx context.Context, cfg *config.Config, log *slog.Logger) error {
	s, err := New(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer s.Close()
	return app.Serve(ctx, cfg.HTTP, s.Handler, log, s.Workers...)
}
