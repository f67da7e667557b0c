// Package config is the audit service's configuration, read from the environment once at
// start-up. Every variable, its default and its meaning is listed in .env.example.
package config

import (
	"errors"
	"time"

	"github.com/caasdemo/orderdemo/services/platform/app"
	"github.com/caasdemo/orderdemo/services/platform/authtoken"
	"github.com/caasdemo/orderdemo/services/platform/natsconn"
	"github.com/caasdemo/orderdemo/services/platform/postgres"
	"github.com/caasdemo/orderdemo/services/platform/ratelimit"
	"github.com/caasdemo/orderdemo/services/platform/valkeyconn"
)

// Config is everything the audit service reads from the environment.
type Config struct {
	app.Base
	Postgres postgres.Config
	NATS     natsconn.Config
	Valkey   valkeyconn.Config // the token revocation list and the request counts
	Token    authtoken.Config
	// RateLimit bounds the requests of each admin (the token's subject) to the API.
	RateLimit ratelimit.UserConfig
	// OrderURL is the order service, asked for the true order counts when a replay verifies.
	OrderURL string `env:"ORDER_URL" default:"http://127.0.0.1:8002"`
	Consumer Consumer
	// StatsMaxAge bounds how old the statistics GET /audit/stats answers with may be: the
	// dashboards opening within it share one computation. 0 computes them on every request.
	StatsMaxAge time.Duration `env:"STATS_MAX_AGE" default:"1s"`
}

// Validate checks the statistics' maximum age.
func (c Config) Validate() error {
	if c.StatsMaxAge < 0 {
		return errors.New("STATS_MAX_AGE must not be negative")
	}
	return nil
}

// Consumer tunes redelivery of the projection consumers.
type Consumer struct {
	MaxAttempts int           `env:"CONSUMER_MAX_ATTEMPTS" default:"5"`
	RetryBase   time.Duration `env:"CONSUMER_RETRY_BASE" default:"1s"` // redeliveries wait 1×, 5×, 15×, 30× this
}

// Validate checks the bounds.
func (c Consumer) Validate() error {
	if c.MaxAttempts < 1 || c.RetryBase <= 0 {
		return errors.New("CONSUMER_MAX_ATTEMPTS and CONSUMER_RETRY_BASE must be positive")
	}
	return nil
}

// Backoff is the wait before each redelivery.
func (c Consumer) Backoff() []time.Duration {
	return []time.Duration{c.RetryBase, 5 * c.RetryBase, 15 * c.RetryBase, 30 * c.RetryBase}
}
