// Package config is the order service's configuration, read from the environment once at
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

// Config is everything the order service reads from the environment.
type Config struct {
	app.Base
	Postgres postgres.Config
	NATS     natsconn.Config
	Valkey   valkeyconn.Config // the token revocation list and the request counts
	Token    authtoken.Config
	// RateLimit bounds the requests of each user (the token's subject) to the API.
	RateLimit ratelimit.UserConfig
	// CountMaxAge is how long the total of an admin's list (over every user's orders) is
	// reused; the rows are always read fresh. 0 counts on every request.
	CountMaxAge time.Duration `env:"COUNT_MAX_AGE" default:"1s"`
}

// Validate checks the count's maximum age.
func (c Config) Validate() error {
	if c.CountMaxAge < 0 {
		return errors.New("COUNT_MAX_AGE must not be negative")
	}
	return nil
}
