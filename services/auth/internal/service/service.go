// Package service wires the auth service: it opens its connections, applies its migrations,
// builds the application from its adapters, creates the admin account and mounts the routes.
// Every concrete dependency is built here and nowhere else.
package service

import (
	"context"
	"log/slog"
	"net/http"
	"runtime"
	"time"

	"github.com/caasdemo/orderdemo/events"
	"github.com/caasdemo/orderdemo/services/auth/internal/adapters"
	authapp "github.com/caasdemo/orderdemo/services/auth/internal/app"
	"github.com/caasdemo/orderdemo/services/auth/internal/config"
	"github.com/caasdemo/orderdemo/services/auth/internal/migrations"
	"github.com/caasdemo/orderdemo/services/auth/internal/ports"
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
const Name = "auth"

// Schema is the one PostgreSQL schema the auth service owns.
const Schema = "auth"

// Service is the assembled auth service.
type Service struct {
	Handler http.Handler
	Workers []app.Worker // background work: the outbox relay, the admin bootstrap
	// WaitForAdmin returns once the admin bootstrap (one of the Workers) has finished.
	WaitForAdmin func(ctx context.Context) error
	// Metrics is what the service measures, served on METRICS_ADDR when that is set.
	Metrics *telemetry.Metrics
	closers app.Closers
}

// New connects to PostgreSQL (migrating the auth schema), NATS and Valkey, creates or
// updates the admin account, and builds the HTTP handler. now is the clock (time.Now, or a
// test's). Close releases what New opened.
func New(ctx context.Context, cfg *config.Config, log *slog.Logger, now func() time.Time) (_ *Service, err error) {
	s := &Service{}
	defer func() {
		if err != nil {
			s.Close()
		}
	}()
	b, err := backend.Open(ctx, backend.Options{Service: Name, Schema: Schema,
		Postgres: &cfg.Postgres, Migrations: []postgres.Migrations{{FS: migrations.FS}, outbox.Migrations},
		NATS: &cfg.NATS, Streams: []events.Stream{events.AuthStream}, Valkey: &cfg.Valkey,
		Metrics: cfg.Metrics}, log)
	if err != nil {
		return nil, err
	}
	s.closers.Add(b.Close)
	s.Metrics = b.Metrics
	pool, vk := b.Pool, b.Valkey
	relay := outbox.NewRelay(pool, b.JS, Schema, log, outbox.Options{Meters: b.Metrics})
	s.Workers = append(s.Workers, relay.Run)

	workers := cfg.Bcrypt.Workers
	if workers == 0 {
		// One core is left to the requests: with a hash on every core, a login storm cut
		// order creation to about 100/s with a p99 of 3 s (make bench, 2 cores); with one
		// core left, order p99 stayed under 100 ms and logins kept about half the bound.
		workers = max(1, runtime.NumCPU()-1)
	}
	hasher := adapters.NewBcryptPool(cfg.Bcrypt.Cost, workers, cfg.Bcrypt.Queue)
	go hasher.DummyHash() // made now, so the first unknown-user login is not slower than the rest
	revocations := authtoken.NewRevocations(vk, cfg.Valkey.KeyPrefix)
	application := authapp.New(authapp.Deps{
		Users:   adapters.NewUsers(pool),
		Hasher:  hasher,
		Limiter: adapters.NewLimiter(vk, cfg.Valkey.KeyPrefix),
		Sessions: adapters.NewSessions(vk, cfg.Valkey.KeyPrefix, adapters.SessionLimits{
			Idle: cfg.Session.IdleTimeout, Lifetime: cfg.Session.MaxLifetime, Grace: cfg.Session.RefreshGrace}, now),
		Issuer:   authtoken.NewIssuer(cfg.Token, now),
		Verifier: authtoken.NewVerifier(cfg.Token, revocations, now),
		Revoked:  revocations,
		Policy: authapp.Policy{PerUsername: cfg.Login.MaxPerUsername, PerClient: cfg.Login.MaxPerClient, Window: cfg.Login.Window,
			RegisterPerClient: cfg.Register.MaxPerClient, RegisterWindow: cfg.Register.Window},
		Now:       now,
		Log:       log,
		DummyHash: hasher.DummyHash,
		Meters:    b.Metrics,
	})
	bootstrap, err := application.AdminBootstrap(authapp.AdminSpec{
		Username: cfg.Admin.Username, Password: cfg.Admin.Password.Reveal(), PasswordHash: cfg.Admin.PasswordHash.Reveal(),
	})
	if err != nil {
		return nil, err
	}
	s.Workers = append(s.Workers, bootstrap)
	s.WaitForAdmin = application.WaitForAdmin
	proxies := cfg.Login.TrustedProxies
	limiter := ratelimit.New(vk, cfg.Valkey.KeyPrefix, Name, now)
	limit := limiter.Middleware(cfg.RateLimit.Policy(), proxies.Client, log)

	router := httpserver.NewRouter(Name, log, b.Metrics, append(b.Checks(), relay.Check())...)
	ports.NewHTTP(application, log, proxies, limit).Routes(router)
	s.Handler = router
	return s, nil
}

// Close releases the service's connections.
func (s *Service) Close() { s.closers.Close() }

// Run serves the auth service until ctx ends.
func Run(ctx context.Context, cfg *config.Config, log *slog.Logger) error {
	s, err := New(ctx, cfg, log, time.Now)
	if err != nil {
		return err
	}
	defer s.Close()
	return app.Serve(ctx, cfg.HTTP, s.Handler, log, s.Workers...)
}
