// Package recent keeps the latest result of an expensive computation per key, so that the
// many callers of a short while share one computation instead of each running their own: the
// admin statistics, the totals of the admin's order lists.
//
// A computation serves everyone who waits for it, so it belongs to none of them: it runs on
// a goroutine of its own, under a context that keeps the first caller's values (trace, request
// id) but not its cancellation, bounded by Results.Timeout instead. Each caller waits as long
// as its own context allows; one giving up fails nobody else.
package recent

import (
	"context"
	"fmt"
	"runtime/debug"
	"sync"
	"time"
)

// DefaultTimeout bounds a computation when Results.Timeout is zero.
const DefaultTimeout = 10 * time.Second

// Results holds one result per key. The zero value is ready to use.
type Results[V any] struct {
	// Timeout bounds each computation (its context's deadline); zero means DefaultTimeout.
	Timeout time.Duration

	mu    sync.Mutex
	byKey map[string]*result[V]
}

// result is a computed value, or its computation in progress (done not yet closed).
type result[V any] struct {
	began    time.Time // when its computation began (this process's clock)
	done     chan struct{}
	value    V
	err      error
	panicked *PanicError // set with err when the computation panicked
}

// PanicError is what the callers sharing a computation get when it panicked; the caller that
// started it gets the panic itself, re-raised with the same value.
type PanicError struct {
	Value any    // what the computation panicked with
	Stack []byte // where, in the computation's goroutine
}

func (e *PanicError) Error() string {
	return fmt.Sprintf("recent: the shared computation panicked: %v", e.Value)
}

// maxKeys bounds the keys remembered; past it, the old ones are forgotten.
const maxKeys = 256

// Get returns the result for key whose computation began after since — a finished one, or
// one in progress, which it waits for — or else starts compute and waits for what it returns,
// which is remembered. compute gets a context detached from the callers' cancellation with
// its own deadline (Timeout). An error is returned to the callers that shared that
// computation and never reused. Get returns ctx's error as soon as ctx ends, the computation
// going on for the others. If compute panics, the caller that started it panics with the same
// value (if it is still waiting) and the others get a *PanicError.
func (r *Results[V]) Get(ctx context.Context, key string, since time.Time, compute func(ctx context.Context) (V, error)) (V, error) {
	r.mu.Lock()
	e, ok := r.byKey[key]
	started := false
	if !ok || !e.began.After(since) || failed(e) {
		if r.byKey == nil || len(r.byKey) >= maxKeys {
			r.byKey = map[string]*result[V]{}
		}
		e = &result[V]{began: time.Now(), done: make(chan struct{})}
		r.byKey[key] = e
		started = true
	}
	r.mu.Unlock()
	if started {
		go r.run(ctx, e, compute)
	}
	select {
	case <-e.done:
		if started && e.panicked != nil {
			panic(e.panicked.Value)
		}
		return e.value, e.err
	case <-ctx.Done():
		var zero V
		return zero, ctx.Err()
	}
}

// run computes e and releases its waiters, whatever happens.
func (r *Results[V]) run(parent context.Context, e *result[V], compute func(ctx context.Context) (V, error)) {
	timeout := r.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(parent), timeout)
	defer cancel()
	defer close(e.done)
	defer func() {
		if v := recover(); v != nil {
			e.panicked = &PanicError{Value: v, Stack: debug.Stack()}
			var zero V
			e.value, e.err = zero, e.panicked
		}
	}()
	e.value, e.err = compute(ctx)
}

func failed[V any](e *result[V]) bool {
	select {
	case <-e.done:
		return e.err != nil
	default:
		return false
	}
}
