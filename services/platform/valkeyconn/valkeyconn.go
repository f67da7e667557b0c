// Package valkeyconn connects a service to Valkey (or any server speaking the same protocol,
// such as Redis 7 in tests), with the same start-up retry as the other connections.
package valkeyconn

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/valkey-io/valkey-go"

	"github.com/caasdemo/orderdemo/services/platform/backoff"
	"github.com/caasdemo/orderdemo/services/platform/config"
	"github.com/caasdemo/orderdemo/services/platform/health"
)

// Config is the Valkey part of a service's configuration.
type Config struct {
	URL            config.URL    `env:"VALKEY_URL,required"`
	ConnectTimeout time.Duration `env:"VALKEY_CONNECT_TIMEOUT" default:"15s"`
	// KeyPrefix goes in front of every key the service writes, so deployments (or tests)
	// can share one server.
	KeyPrefix string `env:"VALKEY_KEY_PREFIX"`
}

// Connect opens a client for cfg.URL (valkey://, redis://, valkeys:// or rediss://). The
// caller closes it.
func Connect(ctx context.Context, cfg Config, log *slog.Logger) (valkey.Client, error) {
	opt, err := valkey.ParseURL(cfg.URL.Reveal())
	if err != nil {
		return nil, fmt.Errorf("VALKEY_URL: not a valid Valkey URL (want valkey://host:port/db): %w", err)
	}
	opt.DisableCache = true // client-side caching is not used; keeps the client compatible with any server
	var client valkey.Client
	err = backoff.Retry(ctx, backoff.Policy{}, cfg.ConnectTimeout, func(context.Context) error {
		var err error
		client, err = valkey.NewClient(opt)
		return err
	}, func(attempt int, err error) {
		log.Warn("valkey not reachable yet, retrying", "url", cfg.URL, "attempt", attempt+1, "error", err)
	})
	if err != nil {
		return nil, fmt.Errorf("VALKEY_URL: cannot reach Valkey at %s (raise VALKEY_CONNECT_TIMEOUT to wait longer): %w", cfg.URL, err)
	}
	return client, nil
}

// Check is the readiness probe: PING answers.
func Check(client valkey.Client) health.Check {
	return health.Check{Name: "valkey", Probe: func(ctx context.Context) error {
		return client.Do(ctx, client.B().Ping().Build()).Error()
	}}
}
