package postgres

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/caasdemo/orderdemo/services/platform/problem"
)

// Dependency is PostgreSQL's name in errors, answers and readiness.
const Dependency = "postgres"

// DefaultCallTimeout is DATABASE_CALL_TIMEOUT when a Config built in code leaves it zero.
const DefaultCallTimeout = time.Second

func init() {
	// The adapters call the pool directly in many places and pgx offers no hook that could
	// wrap its errors, so they are recognised where they are answered instead.
	problem.RecogniseUnavailable(Dependency, Unavailable)
}

// Unavailable reports whether err, from a call to PostgreSQL, means the server is down,
// unreachable or too slow rather than that the request was wrong: a connection that could
// not be opened, broke or did not answer within its deadline, or an error the server sends
// when it cannot serve (connection exceptions, shutting down, starting up, too many
// connections, a statement cancelled at its deadline).
func Unavailable(err error) bool {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch {
		case strings.HasPrefix(pgErr.Code, "08"), // connection_exception
			strings.HasPrefix(pgErr.Code, "57P"), // admin_shutdown, crash_shutdown, cannot_connect_now, …
			pgErr.Code == "53300",                // too_many_connections
			pgErr.Code == "57014":                // query_canceled: a statement stopped at its deadline
			return true
		}
		return false
	}
	var connectErr *pgconn.ConnectError
	if errors.As(err, &connectErr) || pgconn.Timeout(err) {
		return true
	}
	var ue *problem.UnavailableError
	if errors.As(err, &ue) {
		return ue.Dependency == Dependency
	}
	// A connection that broke: pgx returns the I/O error as it is when it happens under a
	// query's rows (an unexpected EOF, a reset), or says the connection is closed. In the
	// services, the pool is the one connection whose I/O errors reach a handler unwrapped:
	// Valkey's are wrapped where they arise, and another service's come as *url.Error.
	var urlErr *url.Error
	if errors.As(err, &urlErr) {
		return false
	}
	// A bare context error is the caller's own deadline or cancellation, of whatever call:
	// pgx reports its own timeouts as pgconn.Timeout (above). context.DeadlineExceeded is a
	// net.Error too, so without this every timed-out call would be named postgres.
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return false
	}
	var netErr net.Error
	return pgconn.SafeToRetry(err) || errors.As(err, &netErr) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)
}

type unboundedKey struct{}

// WithoutCallTimeout returns ctx for statements that run long by design — an export read at
// the pace of its client, migrations, replays — so that they are bounded by ctx alone.
// Waiting for a connection from the pool stays bounded by the call timeout.
func WithoutCallTimeout(ctx context.Context) context.Context {
	return context.WithValue(ctx, unboundedKey{}, true)
}

// errAcquireTimeout is what waiting for a pooled connection longer than the call timeout
// returns.
var errAcquireTimeout = problem.Unavailable(Dependency,
	fmt.Errorf("no connection from the pool within DATABASE_CALL_TIMEOUT: %w", context.DeadlineExceeded))

// callDeadlines gives every call to PostgreSQL a deadline of its own: each wait for a pooled
// connection (a ping of an idle one or the opening of a new one included) and each statement,
// batch, copy or prepare. pgx hands the context returned by the Trace…Start hooks to the call
// and to the matching Trace…End hook, which releases it.
type callDeadlines struct {
	timeout time.Duration
}

type cancelKey struct{}

// bound returns ctx with the call deadline, unless a statement runs under WithoutCallTimeout.
// The cancel function always goes in the context, a no-op one included, so that an End hook
// never finds the cancel function of an enclosing call (a prepare inside a query).
func (d callDeadlines) bound(ctx context.Context, statement bool) context.Context {
	if statement && ctx.Value(unboundedKey{}) != nil {
		return context.WithValue(ctx, cancelKey{}, context.CancelFunc(func() {}))
	}
	bounded, cancel := context.WithTimeout(ctx, d.timeout)
	return context.WithValue(bounded, cancelKey{}, cancel)
}

func (callDeadlines) release(ctx context.Context) {
	if cancel, ok := ctx.Value(cancelKey{}).(context.CancelFunc); ok {
		cancel()
	}
}

func (d callDeadlines) TraceQueryStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceQueryStartData) context.Context {
	return d.bound(ctx, true)
}

func (d callDeadlines) TraceQueryEnd(ctx context.Context, _ *pgx.Conn, _ pgx.TraceQueryEndData) {
	d.release(ctx)
}

func (d callDeadlines) TraceBatchStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceBatchStartData) context.Context {
	return d.bound(ctx, true)
}

func (callDeadlines) TraceBatchQuery(context.Context, *pgx.Conn, pgx.TraceBatchQueryData) {}

func (d callDeadlines) TraceBatchEnd(ctx context.Context, _ *pgx.Conn, _ pgx.TraceBatchEndData) {
	d.release(ctx)
}

func (d callDeadlines) TraceCopyFromStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceCopyFromStartData) context.Context {
	return d.bound(ctx, true)
}

func (d callDeadlines) TraceCopyFromEnd(ctx context.Context, _ *pgx.Conn, _ pgx.TraceCopyFromEndData) {
	d.release(ctx)
}

func (d callDeadlines) TracePrepareStart(ctx context.Context, _ *pgx.Conn, _ pgx.TracePrepareStartData) context.Context {
	return d.bound(ctx, true)
}

func (d callDeadlines) TracePrepareEnd(ctx context.Context, _ *pgx.Conn, _ pgx.TracePrepareEndData) {
	d.release(ctx)
}

// TraceAcquireStart bounds the wait for a connection. The pool answers a wait that ran out
// with ctx.Err() as it is, which would not say what kept the request waiting, so the context
// it gets reports its own deadline as errAcquireTimeout (which still matches
// context.DeadlineExceeded).
func (d callDeadlines) TraceAcquireStart(ctx context.Context, _ *pgxpool.Pool, _ pgxpool.TraceAcquireStartData) context.Context {
	bounded, cancel := context.WithTimeout(ctx, d.timeout)
	return acquireContext{Context: context.WithValue(bounded, cancelKey{}, cancel), caller: ctx}
}

func (d callDeadlines) TraceAcquireEnd(ctx context.Context, _ *pgxpool.Pool, _ pgxpool.TraceAcquireEndData) {
	d.release(ctx)
}

// acquireContext is the context of one wait for a pooled connection.
type acquireContext struct {
	context.Context
	caller context.Context
}

// Err is errAcquireTimeout when the wait's own deadline passed while the caller's context
// is still live; otherwise the usual error.
func (c acquireContext) Err() error {
	err := c.Context.Err()
	if errors.Is(err, context.DeadlineExceeded) && c.caller.Err() == nil {
		return errAcquireTimeout
	}
	return err
}
