package app

import (
	"context"
	"log/slog"
	"net/http"

	"golang.org/x/sync/errgroup"

	"github.com/caasdemo/orderdemo/services/platform/httpserver"
)

// Worker is a background loop of a service, such as an outbox relay or a consumer. It runs
// until ctx ends and returns nil then; an error stops the whole service.
type Worker func(ctx context.Context) error

// Serve listens on cfg.Addr and serves h while the workers run. It returns when ctx ends
// (after a graceful shutdown of everything) or when the server or a worker fails (after
// stopping the rest).
func Serve(ctx context.Context, cfg httpserver.Config, h http.Handler, log *slog.Logger, workers ...Worker) error {
	ln, err := httpserver.Listen(cfg.Addr)
	if err != nil {
		return err
	}
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return httpserver.Serve(gctx, ln, h, log, cfg.ShutdownTimeout) })
	for _, w := range workers {
		g.Go(func() error { return w(gctx) })
	}
	return g.Wait()
}
