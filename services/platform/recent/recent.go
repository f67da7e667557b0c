// Package recent keeps the latest result of an expensive computation per key, so that the
// many callers of a short while share one computation instead of each running their own: the
// admin statistics, the totals of the admin's order lists.
package recent

import (
	"context"
	"sync"
	"time"
)

// Results holds one result per key. The zero value is ready to use.
type Results[V any] struct {
	mu    sync.Mutex
	byKey map[string]*result[V]
}

// result is a computed value, or its computation in progress (done not yet closed).
type result[V any] struct {
	began time.Time // when its computation began (this process's clock)
	done  chan struct{}
	value V
	err   error
}

// maxKeys bounds the keys remembered; past it, the old ones are forgotten.
const maxKeys = 256

// Get returns the result for key whose computation began after since — a finished one, or
// one in progress, which it waits for — or else runs compute and remembers what it returns.
// An error is returned to the callers that shared that computation and never reused.
func (r *Results[V]) Get(ctx context.Context, key string, since time.Time, compute func() (V, error)) (V, error) {
	r.mu.Lock()
	e, ok := r.byKey[key]
	if !ok || !e.began.After(since) || failed(e) {
		if r.byKey == nil || len(r.byKey) >= maxKeys {
			r.byKey = map[string]*result[V]{}
		}
		e = &result[V]{began: time.Now(), done: make(chan struct{})}
		r.byKey[key] = e
		r.mu.Unlock()
		e.value, e.err = compute()
		close(e.done)
		return e.value, e.err
	}
	r.mu.Unlock()
	select {
	case <-e.done:
		return e.value, e.err
	case <-ctx.Done():
		var zero V
		return zero, ctx.Err()
	}
}

func failed[V any](e *result[V]) bool {
	select {
	case <-e.done:
		return e.err != nil
	default:
		return false
	}
}
