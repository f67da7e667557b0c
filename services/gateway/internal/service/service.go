// Package service wires the gateway: it opens its connections and builds the client it uses
// to call the auth, order and audit services, and mounts its routes.
package service

import (
	"context"
	"log/slog"
	"net/http"

	"github.com/caasdemo/orderdemo/services/gateway/internal/config"
	"github.com/caasdemo/orderdemo/services/platform/app"
	"github.com/caasdemo/orderdemo/services/platform/backend"
	"github.com/caasdemo/orderdemo/services/platform/health"
	"github.com/caasdemo/orderdemo/services/platform/httpserver"
	"github.com/caasdemo/orderdemo/services/platform/requestid"
)

// Name is the service's name in logs, NATS connections and health answers.
const Name = "gateway"

// Service is the assembled gateway.
type Service struct {
	Handler http.Handler
	closers app.Closers
}

// New connects to Valkey and NATS and builds the HTTP handler. The gateway is ready when
// those answer and so do the three services behind it. Close releases what New opened.
func New(ctx context.Context, cfg *config.Config, log *slog.Logger) (_ *Service, err error) {
	s := &Service{}
	defer func() {
		if err != nil {
			s.Close()
		}
	}()
	b, err := backend.Open(ctx, backend.Options{Service: Name, NATS: &cfg.NATS, Valkey: &cfg.Valkey}, log)
	if err != nil {
		return nil, err
	}
	s.closers.Add(b.Close)

	// Every call to another service carries the request id and gives up after the timeout.
	upstream := &http.Client{Transport: requestid.Transport{}, Timeout: cfg.Upstreams.Timeout}
	s.Handler = httpserver.NewRouter(Name, log, append(b.Checks(),
		health.HTTPCheck("auth", upstream, cfg.Upstreams.AuthURL),
		health.HTTPCheck("order", upstream, cfg.Upstreams.OrderURL),
		health.HTTPCheck("audit", upstream, cfg.Upstreams.AuditURL))...,
	)
	return s, nil
}

// Close releases the gateway's connections.
func (s *Service) Close() { s.closers.Close() }

// Run serves the gateway until ctx ends.
func Run(ctx context.Context, cfg *config.Config, log *slog.Logger) error {
	s, err := New(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer s.Close()
	return app.Serve(ctx, cfg.HTTP, s.Handler, log)
}
