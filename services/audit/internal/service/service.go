// Package service wires the audit service: it opens its connections, applies its migrations
// and mounts its routes. Every concrete dependency is built here and nowhere else.
package service

import (
	"context"
	"log/slog"
	"net/http"

	"github.com/caasdemo/orderdemo/services/audit/internal/config"
	"github.com/caasdemo/orderdemo/services/audit/internal/migrations"
	"github.com/caasdemo/orderdemo/services/platform/app"
	"github.com/caasdemo/orderdemo/services/platform/httpserver"
	"github.com/caasdemo/orderdemo/services/platform/natsconn"
	"github.com/caasdemo/orderdemo/services/platform/postgres"
)

// Name is the service's name in logs, NATS connections and health answers.
const Name = "audit"

// Schema is the one PostgreSQL schema the audit service owns.
const Schema = "audit"

// Service is the assembled audit service.
type Service struct {
	Handler http.Handler
	closers app.Closers
}

// New connects to PostgreSQL (migrating the audit schema) and NATS, and builds the
// HTTP handler. Close releases what New opened.
func New(ctx context.Context, cfg *config.Config, log *slog.Logger) (_ *Service, err error) {
	s := &Service{}
	defer func() {
		if err != nil {
			s.Close()
		}
	}()
	pool, err := postgres.Open(ctx, cfg.Postgres, Name, Schema, log, postgres.Migrations{FS: migrations.FS})
	if err != nil {
		return nil, err
	}
	s.closers.Add(pool.Close)
	nc, js, err := natsconn.Connect(ctx, cfg.NATS, Name, log)
	if err != nil {
		return nil, err
	}
	s.closers.Add(nc.Close)

	s.Handler = httpserver.NewRouter(Name, log, postgres.Check(pool), natsconn.Check(nc, js))
	return s, nil
}

// Close releases the service's connections.
func (s *Service) Close() { s.closers.Close() }

// Run serves the audit service until ctx ends.
func Run(ctx context.Context, cfg *config.Config, log *slog.Logger) error {
	s, err := New(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer s.Close()
	return app.Serve(ctx, cfg.HTTP, s.Handler, log)
}
