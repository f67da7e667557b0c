// Package valkeyconn connects a service to Valkey (or any server speaking the same protocol,
// such as Redis 7 in tests), with the same start-up retry as the other connections.
//
// Every command sent through the client it returns has a deadline of its own
// (VALKEY_CALL_TIMEOUT): valkey-go retries a read for as long as its context allows, so a
// request context without a deadline would wait out a whole Valkey outage. A command that
// fails because Valkey is down, unreachable or too slow returns a *problem.UnavailableError
// naming valkey, which problem.Write answers with 503 and Retry-After.
package valkeyconn

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/valkey-io/valkey-go"

	"github.com/caasdemo/orderdemo/services/platform/backoff"
	"github.com/caasdemo/orderdemo/services/platform/config"
	"github.com/caasdemo/orderdemo/services/platform/health"
	"github.com/caasdemo/orderdemo/services/platform/problem"
)

// Dependency is Valkey's name in errors, answers and readiness.
const Dependency = "valkey"

// DefaultCallTimeout is VALKEY_CALL_TIMEOUT when a Config built in code leaves it zero.
const DefaultCallTimeout = time.Second

// Config is the Valkey part of a service's configuration.
type Config struct {
	URL            config.URL    `env:"VALKEY_URL,required"`
	ConnectTimeout time.Duration `env:"VALKEY_CONNECT_TIMEOUT" default:"15s"`
	// CallTimeout bounds each command, retries included. A healthy server answers in well
	// under a millisecond; a second leaves a request answered within two even when it meets
	// one slow call of each dependency.
	CallTimeout time.Duration `env:"VALKEY_CALL_TIMEOUT" default:"1s"`
	// KeyPrefix goes in front of every key the service writes, so deployments (or tests)
	// can share one server.
	KeyPrefix string `env:"VALKEY_KEY_PREFIX"`
}

// Validate refuses a call timeout of zero: a command without a deadline can wait forever.
func (c Config) Validate() error {
	if c.CallTimeout <= 0 {
		return errors.New("VALKEY_CALL_TIMEOUT must be positive (for example 1s): a Valkey command without a deadline can wait forever")
	}
	return nil
}

// Connect opens a client for cfg.URL (valkey://, redis://, valkeys:// or rediss://) whose
// commands are bounded by cfg.CallTimeout (DefaultCallTimeout when zero). The caller closes
// it.
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
	timeout := cfg.CallTimeout
	if timeout <= 0 {
		timeout = DefaultCallTimeout
	}
	return bounded{Client: client, timeout: timeout}, nil
}

// bounded is a client whose commands each get their own deadline and whose failures to reach
// the server are *problem.UnavailableError. Receive (subscriptions), the streaming calls and
// dedicated connections pass through unbounded: they are not used for request work.
type bounded struct {
	valkey.Client
	timeout time.Duration
}

func (c bounded) Do(ctx context.Context, cmd valkey.Completed) valkey.ValkeyResult {
	cctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	return unavailable(ctx, c.Client.Do(cctx, cmd))
}

func (c bounded) DoMulti(ctx context.Context, multi ...valkey.Completed) []valkey.ValkeyResult {
	cctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	return unavailableAll(ctx, c.Client.DoMulti(cctx, multi...))
}

func (c bounded) DoCache(ctx context.Context, cmd valkey.Cacheable, ttl time.Duration) valkey.ValkeyResult {
	cctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	return unavailable(ctx, c.Client.DoCache(cctx, cmd, ttl))
}

func (c bounded) DoMultiCache(ctx context.Context, multi ...valkey.CacheableTTL) []valkey.ValkeyResult {
	cctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	return unavailableAll(ctx, c.Client.DoMultiCache(cctx, multi...))
}

// unavailable turns a result that failed without an answer from the server (a connection
// error, or the call's deadline) or with LOADING (a server still reading its data after a
// restart) into a *problem.UnavailableError. The server's other answers, its errors and nil
// included, stay as they are; so does a failure because the caller's own context ended,
// which says nothing about Valkey.
func unavailable(caller context.Context, r valkey.ValkeyResult) valkey.ValkeyResult {
	err := r.NonValkeyError()
	if ve, ok := valkey.IsValkeyErr(r.Error()); ok && ve.IsLoading() {
		err = ve
	}
	if err == nil || caller.Err() != nil {
		return r
	}
	return valkey.NewErrorResult(problem.Unavailable(Dependency, err))
}

func unavailableAll(caller context.Context, rs []valkey.ValkeyResult) []valkey.ValkeyResult {
	for i, r := range rs {
		rs[i] = unavailable(caller, r)
	}
	return rs
}

// Check is the readiness probe: PING answers.
func Check(client valkey.Client) health.Check {
	return health.Check{Name: Dependency, Probe: func(ctx context.Context) error {
		return client.Do(ctx, client.B().Ping().Build()).Error()
	}}
}
