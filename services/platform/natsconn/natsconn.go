// Package natsconn connects a service to NATS and hands out its JetStream handle.
//
// The first connection is retried with backoff for up to NATS_CONNECT_TIMEOUT, so a service
// started together with its broker waits for it; after that the client reconnects forever,
// logging each disconnect and reconnect, and readiness reports NATS as down meanwhile (or
// as degraded, for a service that keeps working without it: see backend.Options).
package natsconn

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/caasdemo/orderdemo/services/platform/backoff"
	"github.com/caasdemo/orderdemo/services/platform/config"
	"github.com/caasdemo/orderdemo/services/platform/health"
)

// Dependency is NATS's name in errors, answers and readiness.
const Dependency = "nats"

// DefaultCallTimeout is NATS_CALL_TIMEOUT when a Config built in code leaves it zero.
const DefaultCallTimeout = 2 * time.Second

// Config is the NATS part of a service's configuration.
type Config struct {
	URL            config.URL    `env:"NATS_URL,required"`
	ConnectTimeout time.Duration `env:"NATS_CONNECT_TIMEOUT" default:"15s"`
	// CallTimeout bounds each JetStream API call (stream and consumer management, lookups)
	// whose context has no deadline of its own. Publishing from the outbox and consuming
	// have their own bounds (the relay's acknowledgement timeout, the fetch expiry).
	CallTimeout time.Duration `env:"NATS_CALL_TIMEOUT" default:"2s"`
}

// Validate refuses a call timeout of zero.
func (c Config) Validate() error {
	if c.CallTimeout <= 0 {
		return errors.New("NATS_CALL_TIMEOUT must be positive (for example 2s)")
	}
	return nil
}

// Connect opens the connection named after service and returns it with a JetStream handle.
// The caller drains or closes the connection.
func Connect(ctx context.Context, cfg Config, service string, log *slog.Logger) (*nats.Conn, jetstream.JetStream, error) {
	opts := []nats.Option{
		nats.Name(service),
		nats.Timeout(2 * time.Second),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(500 * time.Millisecond),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil { // nil when the service closes the connection itself
				log.Warn("nats disconnected", "error", err)
			}
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			log.Info("nats reconnected", "server", nc.ConnectedUrlRedacted())
		}),
		nats.ErrorHandler(func(_ *nats.Conn, sub *nats.Subscription, err error) {
			subject := ""
			if sub != nil {
				subject = sub.Subject
			}
			log.Error("nats async error", "subject", subject, "error", err)
		}),
	}
	var nc *nats.Conn
	err := backoff.Retry(ctx, backoff.Policy{}, cfg.ConnectTimeout, func(context.Context) error {
		var err error
		nc, err = nats.Connect(cfg.URL.Reveal(), opts...)
		return err
	}, func(attempt int, err error) {
		log.Warn("nats not reachable yet, retrying", "url", cfg.URL, "attempt", attempt+1, "error", err)
	})
	if err != nil {
		return nil, nil, fmt.Errorf("NATS_URL: cannot reach NATS at %s (raise NATS_CONNECT_TIMEOUT to wait longer): %w", cfg.URL, err)
	}
	timeout := cfg.CallTimeout
	if timeout <= 0 {
		timeout = DefaultCallTimeout
	}
	js, err := jetstream.New(nc, jetstream.WithDefaultTimeout(timeout))
	if err != nil {
		nc.Close()
		return nil, nil, fmt.Errorf("NATS_URL: jetstream: %w", err)
	}
	log.Info("nats connected", "server", nc.ConnectedUrlRedacted(), "server_version", nc.ConnectedServerVersion())
	return nc, js, nil
}

// Check is the readiness probe: the connection is up and JetStream answers.
func Check(nc *nats.Conn, js jetstream.JetStream) health.Check {
	return health.Check{Name: Dependency, Probe: func(ctx context.Context) error {
		if !nc.IsConnected() {
			return errors.New("not connected (" + nc.Status().String() + ")")
		}
		if _, err := js.AccountInfo(ctx); err != nil {
			return fmt.Errorf("jetstream: %w", err)
		}
		return nil
	}}
}
