package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/caasdemo/orderdemo/services/platform/problem"
)

// errStalled ends a stream whose server stopped sending rows.
var errStalled = errors.New("no rows within DATABASE_CALL_TIMEOUT")

// Stream runs a query and hands its rows, scanned by position into T, to fn as they arrive:
// for results read at the pace of their consumer, such as an export written to its client
// row by row. The statement as a whole has no deadline; each wait for the server has the
// call timeout — the first answer, and every row after the one fn last took. So a server that
// stops answering ends the stream within the call timeout (as an *problem.UnavailableError
// naming postgres), while a slow consumer does not. fn's error ends the stream and is
// returned as it is.
func Stream[T any](ctx context.Context, pool *pgxpool.Pool, sql string, args []any, fn func(T) error) error {
	timeout := DefaultCallTimeout
	if d, ok := pool.Config().ConnConfig.Tracer.(callDeadlines); ok {
		timeout = d.timeout
	}
	ctx, cancel := context.WithCancelCause(WithoutCallTimeout(ctx))
	defer cancel(nil)
	watchdog := time.AfterFunc(timeout, func() { cancel(errStalled) })
	defer watchdog.Stop()
	stalled := func(err error) error {
		if err != nil && errors.Is(context.Cause(ctx), errStalled) {
			return problem.Unavailable(Dependency, fmt.Errorf("%w: %w", errStalled, err))
		}
		return err
	}

	rows, err := pool.Query(ctx, sql, args...)
	if err != nil {
		return stalled(err)
	}
	defer rows.Close()
	for rows.Next() {
		watchdog.Stop()
		v, err := pgx.RowToStructByPos[T](rows)
		if err != nil {
			return err
		}
		if err := fn(v); err != nil {
			return err
		}
		watchdog.Reset(timeout)
	}
	return stalled(rows.Err())
}
