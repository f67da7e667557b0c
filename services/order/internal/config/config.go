// Package config is the order service's configuration, read from the environment once at
// start-up. Every variable, its default and its meaning is listed in .env.example.
package config

import (
	"github.com/caasdemo/orderdemo/services/platform/app"
	"github.com/caasdemo/orderdemo/services/platform/authtoken"
	"github.com/caasdemo/orderdemo/services/platform/natsconn"
	"github.com/caasdemo/orderdemo/services/platform/postgres"
	"github.com/caasdemo/orderdemo/services/platform/valkeyconn"
)

// Config is everything the order service reads from the environment.
type Config struct {
	app.Base
	Postgres postgres.Config
	NATS     natsconn.Config
	Valkey   valkeyconn.Config // the token revocation list
	Token    authtoken.Config
}
