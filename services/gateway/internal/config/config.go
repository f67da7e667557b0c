// Package config is the gateway's configuration, read from the environment once at start-up.
// Every variable, its default and its meaning is listed in .env.example.
package config

import (
	"errors"
	"time"

	"github.com/caasdemo/orderdemo/services/platform/app"
	"github.com/caasdemo/orderdemo/services/platform/clientip"
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
	Clients   Clients
	Streams   Streams
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
	AuthURL  string `env:"AUTH_URL" default:"http://127.0.0.1:8001"`
	OrderURL string `env:"ORDER_URL" default:"http://127.0.0.1:8002"`
	AuditURL string `env:"AUDIT_URL" default:"http://127.0.0.1:8003"`
	// Timeout bounds each call to auth, order and audit (of a CSV export, its first byte),
	// and the reads of missed events from NATS when an event stream resumes. It is short on
	// purpose: a service that is down or stuck is answered 503 within two seconds. (Calls
	// to Valkey have their own, VALKEY_CALL_TIMEOUT.)
	Timeout time.Duration `env:"UPSTREAM_TIMEOUT" default:"1500ms"`
}

// Validate refuses a zero timeout, which would mean no deadline at all.
func (u Upstreams) Validate() error {
	if u.Timeout <= 0 {
		return errors.New("UPSTREAM_TIMEOUT must be positive")
	}
	return nil
}

// Clients says how the browser's address is found, for auth's per-client limits (failed
// logins, registrations).
type Clients struct {
	// TrustedProxies are the peers (a load balancer, a reverse proxy) whose X-Forwarded-For
	// names the browser; from anyone else the header is ignored. Same rule as auth's.
	TrustedProxies clientip.Proxies `env:"TRUSTED_PROXIES" default:"127.0.0.0/8,::1/128"`
}

// Streams bounds the live event streams.
type Streams struct {
	// PerSession is how many event streams (tabs) one session may hold open in a gateway
	// process; a new one past it closes the oldest.
	PerSession int `env:"MAX_STREAMS_PER_SESSION" default:"10"`
}

// Validate requires at least one stream per session.
func (s Streams) Validate() error {
	if s.PerSession < 1 {
		return errors.New("MAX_STREAMS_PER_SESSION must be at least 1")
	}
	return nil
}
