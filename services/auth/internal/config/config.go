// Package config is the auth service's configuration, read from the environment once at
// start-up. Every variable, its default and its meaning is listed in .env.example.
package config

import (
	"errors"
	"fmt"
	"time"

	"github.com/caasdemo/orderdemo/services/platform/app"
	"github.com/caasdemo/orderdemo/services/platform/authtoken"
	"github.com/caasdemo/orderdemo/services/platform/clientip"
	pconfig "github.com/caasdemo/orderdemo/services/platform/config"
	"github.com/caasdemo/orderdemo/services/platform/natsconn"
	"github.com/caasdemo/orderdemo/services/platform/postgres"
	"github.com/caasdemo/orderdemo/services/platform/ratelimit"
	"github.com/caasdemo/orderdemo/services/platform/valkeyconn"
)

// Config is everything the auth service reads from the environment.
type Config struct {
	app.Base
	Postgres postgres.Config
	NATS     natsconn.Config
	Valkey   valkeyconn.Config
	Token    authtoken.Config
	Admin    Admin
	Bcrypt   Bcrypt
	Login    Login
	Register Register
	Session  Session
	// RateLimit bounds the requests of each client address to the anonymous endpoints
	// (registration and token), whatever their outcome; Login and Register are stricter
	// rules of their own.
	RateLimit ratelimit.ClientConfig
}

// Admin is the account created at start-up (story 3.1).
type Admin struct {
	Username     string         `env:"ADMIN_USERNAME" default:"admin"`
	Password     pconfig.Secret `env:"ADMIN_PASSWORD"`
	PasswordHash pconfig.Secret `env:"ADMIN_PASSWORD_HASH"` // a bcrypt hash; wins over ADMIN_PASSWORD
}

// Validate requires one of the two secrets.
func (a Admin) Validate() error {
	if a.Password == "" && a.PasswordHash == "" {
		return errors.New("ADMIN_PASSWORD or ADMIN_PASSWORD_HASH is required: the admin account is created from it at start-up")
	}
	return nil
}

// Bcrypt sizes password hashing.
type Bcrypt struct {
	Cost    int `env:"BCRYPT_COST" default:"12"`
	Workers int `env:"BCRYPT_WORKERS" default:"0"` // hashes at once; 0 means one per CPU but one, at least one
	Queue   int `env:"BCRYPT_QUEUE" default:"16"`  // hashes waiting; past that, 503 at once
}

// Validate checks bcrypt's own bounds.
func (b Bcrypt) Validate() error {
	var errs []error
	if b.Cost < 4 || b.Cost > 31 {
		errs = append(errs, fmt.Errorf("BCRYPT_COST=%d: must be between 4 and 31 (12 in production)", b.Cost))
	}
	if b.Workers < 0 || b.Queue < 0 {
		errs = append(errs, errors.New("BCRYPT_WORKERS and BCRYPT_QUEUE must not be negative"))
	}
	return errors.Join(errs...)
}

// Login limits failed logins in sliding windows.
type Login struct {
	MaxPerUsername int           `env:"LOGIN_MAX_FAILURES_PER_USERNAME" default:"5"`
	MaxPerClient   int           `env:"LOGIN_MAX_FAILURES_PER_CLIENT" default:"20"`
	Window         time.Duration `env:"LOGIN_FAILURE_WINDOW" default:"60s"`
	// TrustedProxies are the peers whose X-Forwarded-For names the client (the gateway).
	TrustedProxies clientip.Proxies `env:"TRUSTED_PROXIES" default:"127.0.0.0/8,::1/128"`
}

// Validate checks the limits.
func (l Login) Validate() error {
	if l.MaxPerUsername < 1 || l.MaxPerClient < 1 || l.Window <= 0 {
		return errors.New("LOGIN_MAX_FAILURES_PER_USERNAME, LOGIN_MAX_FAILURES_PER_CLIENT and LOGIN_FAILURE_WINDOW must be positive")
	}
	return nil
}

// Register limits registrations per client address in a sliding window.
type Register struct {
	MaxPerClient int           `env:"REGISTER_MAX_PER_CLIENT" default:"20"`
	Window       time.Duration `env:"REGISTER_WINDOW" default:"1h"`
}

// Validate checks the limit.
func (r Register) Validate() error {
	if r.MaxPerClient < 1 || r.Window <= 0 {
		return errors.New("REGISTER_MAX_PER_CLIENT and REGISTER_WINDOW must be positive")
	}
	return nil
}

// maxRefreshGrace bounds RefreshGrace: the longer it is, the longer a stolen refresh token
// that was just used by its owner still works once.
const maxRefreshGrace = time.Minute

// Session bounds the login sessions behind refresh tokens.
type Session struct {
	IdleTimeout time.Duration `env:"SESSION_IDLE_TIMEOUT" default:"1h"`
	MaxLifetime time.Duration `env:"SESSION_MAX_LIFETIME" default:"12h"`
	// RefreshGrace is how long a refresh token that was just exchanged still gets the same
	// successor (concurrent renewals of one browser) instead of ending the session.
	RefreshGrace time.Duration `env:"REFRESH_REUSE_GRACE" default:"15s"`
}

// Validate checks the order of the two, and the grace period's bounds.
func (s Session) Validate() error {
	var errs []error
	if s.IdleTimeout <= 0 || s.MaxLifetime < s.IdleTimeout {
		errs = append(errs, errors.New("SESSION_IDLE_TIMEOUT must be positive and SESSION_MAX_LIFETIME at least as long"))
	}
	if s.RefreshGrace < 0 || s.RefreshGrace > maxRefreshGrace {
		errs = append(errs, fmt.Errorf("REFRESH_REUSE_GRACE=%s: must be between 0 (off) and %s", s.RefreshGrace, maxRefreshGrace))
	}
	return errors.Join(errs...)
}
