package ratelimit

import (
	"errors"
	"fmt"
	"time"
)

// The policies' names, as the RateLimit fields show them.
const (
	PerUserName   = "per-user"
	PerClientName = "per-client"
)

// UserConfig is the per-user limit of an authenticated API (order, audit), counted by the
// token's subject. Each service counts its own API.
//
// 600 a minute is ten a second kept up for a minute: a person in the web UI makes one or two
// API calls per page, and the busiest page (a replay's progress, polled every second) makes
// sixty a minute; a script looping as fast as it can makes thousands and is held to ten a
// second.
type UserConfig struct {
	Quota  int           `env:"RATE_LIMIT_PER_USER" default:"600"` // 0 turns the limit off
	Window time.Duration `env:"RATE_LIMIT_WINDOW" default:"1m"`
}

// Validate names the variable of a bad value.
func (c UserConfig) Validate() error { return check("RATE_LIMIT_PER_USER", c.Quota, c.Window) }

// Policy is the configured per-user policy.
func (c UserConfig) Policy() Policy {
	return Policy{Name: PerUserName, Quota: c.Quota, Window: c.Window}
}

// ClientConfig is the per-client-address limit of anonymous endpoints (auth's registration
// and token endpoints), counted by the client address (see clientip).
//
// 60 a minute: a browser signs in once and renews its token every quarter of an hour, so
// even an office behind one address stays far below; a script trying passwords or minting
// tokens gets one a second, which also bounds the password hashing one address can cost.
type ClientConfig struct {
	Quota  int           `env:"RATE_LIMIT_PER_CLIENT" default:"60"` // 0 turns the limit off
	Window time.Duration `env:"RATE_LIMIT_WINDOW" default:"1m"`
}

// Validate names the variable of a bad value.
func (c ClientConfig) Validate() error { return check("RATE_LIMIT_PER_CLIENT", c.Quota, c.Window) }

// Policy is the configured per-client policy.
func (c ClientConfig) Policy() Policy {
	return Policy{Name: PerClientName, Quota: c.Quota, Window: c.Window}
}

// check refuses a negative quota, a window that is not a whole number of seconds (the
// RateLimit fields carry seconds), and more than one request a microsecond (the unit the
// count is kept in); a quota of 0 is a limit turned off.
func check(quotaVar string, quota int, window time.Duration) error {
	var errs []error
	if quota < 0 {
		errs = append(errs, fmt.Errorf("%s=%d: must not be negative (0 turns the limit off)", quotaVar, quota))
	}
	if window < time.Second || window%time.Second != 0 {
		errs = append(errs, fmt.Errorf("RATE_LIMIT_WINDOW=%s: must be a whole number of seconds, at least 1s", window))
	} else if int64(quota) > window.Microseconds() {
		errs = append(errs, fmt.Errorf("%s=%d: more than one request a microsecond over RATE_LIMIT_WINDOW=%s; use 0 to turn the limit off",
			quotaVar, quota, window))
	}
	return errors.Join(errs...)
}
