// Package backoff retries an operation with exponential backoff until it succeeds, the
// deadline passes or the context ends. Start-up connections and the outbox relay use it.
package backoff

import (
	"context"
	"fmt"
	"time"
)

// Policy says how long to wait between tries.
type Policy struct {
	Initial time.Duration // first wait; default 100ms
	Max     time.Duration // cap on one wait; default 2s
}

// Delay returns the wait before try number attempt (0-based), doubling up to Max.
func (p Policy) Delay(attempt int) time.Duration {
	initial, limit := p.Initial, p.Max
	if initial <= 0 {
		initial = 100 * time.Millisecond
	}
	if limit <= 0 {
		limit = 2 * time.Second
	}
	d := initial
	for range attempt {
		d *= 2
		if d >= limit {
			return limit
		}
	}
	return d
}

// Retry calls op until it returns nil, for at most timeout. onRetry, when not nil, sees each
// failure before the wait. The error returned wraps op's last error.
func Retry(ctx context.Context, p Policy, timeout time.Duration, op func(context.Context) error, onRetry func(attempt int, err error)) error {
	deadline := time.Now().Add(timeout)
	for attempt := 0; ; attempt++ {
		err := op(ctx)
		if err == nil {
			return nil
		}
		wait := p.Delay(attempt)
		if time.Now().Add(wait).After(deadline) {
			return fmt.Errorf("gave up after %s: %w", timeout, err)
		}
		if onRetry != nil {
			onRetry(attempt, err)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (last error: %w)", ctx.Err(), err)
		case <-time.After(wait):
		}
	}
}
