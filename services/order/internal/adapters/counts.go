package adapters

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// counts remembers the totals of the admin's lists (filters over every user's orders) for
// maxAge: counting a hundred thousand rows for each of a hundred dashboards a second would
// keep both cores busy, while the rows of the page are always read fresh. One count per
// filter runs at a time; callers arriving meanwhile wait for it and share it. A user's own
// list is never cached: its count is small, and it must follow their new orders at once.
type counts struct {
	maxAge time.Duration
	mu     sync.Mutex
	byKey  map[string]*count
}

// count is one filter's total, or the computation of it in progress (done not yet closed).
type count struct {
	done  chan struct{}
	total int
	err   error
	at    time.Time
}

// countsMax bounds the filters remembered; past it, the old ones are forgotten.
const countsMax = 256

// get returns the total for key, computing it with compute when it is absent or too old.
func (c *counts) get(ctx context.Context, key string, compute func() (int, error)) (int, error) {
	if c.maxAge <= 0 {
		return compute()
	}
	c.mu.Lock()
	e, ok := c.byKey[key]
	if !ok || (isDone(e) && (e.err != nil || time.Since(e.at) >= c.maxAge)) {
		if c.byKey == nil || len(c.byKey) >= countsMax {
			c.byKey = map[string]*count{}
		}
		e = &count{done: make(chan struct{}), at: time.Now()}
		c.byKey[key] = e
		c.mu.Unlock()
		e.total, e.err = compute()
		close(e.done)
		return e.total, e.err
	}
	c.mu.Unlock()
	select {
	case <-e.done:
		return e.total, e.err
	case <-ctx.Done():
		return 0, fmt.Errorf("count orders: %w", ctx.Err())
	}
}

func isDone(e *count) bool {
	select {
	case <-e.done:
		return true
	default:
		return false
	}
}
