// Package config is the gateway's configuration, read from the environment once at start-up.
// Every variable, its default and its meaning is listed in .env.example.
package config

import (
	"time"

	"github.com/caasdemo/orderdemo/services/platform/app"
	"github.com/caasdemo/orderdemo/services/platform/natsconn"
	"github.com/caasdemo/orderdemo/services/platform/valkeyconn"
)

// Config is everything the gateway reads from the environment.
type Config struct {
	app.Base
	NATS      natsconn.Config
	Valkey    valkeyconn.Config
	Upstreams Upstreams
	Session   Session
}

// Session configures the browser sessions.
type Session struct {
	IdleTimeout time.Duration `env:"SESSION_IDLE_TIMEOUT" default:"1h"`  // sliding
	MaxLifetime time.Duration `env:"SESSION_MAX_LIFETIME" default:"12h"` // absolute
	// SecureCookies marks cookies Secure; turn it off only to use the gateway over plain
	// http (make run does, on 127.0.0.1).
	SecureCookies bool `env:"COOKIE_SECURE" default:"true"`
}

// Upstreams are the internal services the gateway calls.
type Upstreams struct {
	AuthURL  string        `env:"AUTH_URL" default:"http://127.0.0.1:8001"`
	OrderURL string        `env:"ORDER_URL" default:"http://127.0.0.1:8002"`
	AuditURL string        `env:"AUDIT_URL" default:"http://127.0.0.1:8003"`
	Timeout  time.Duration `env:"UPSTREAM_TIMEOUT" default:"5s"`
}
