package postgres

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5/pgxpool"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/semconv/v1.43.0/dbconv"
)

const scope = "github.com/caasdemo/orderdemo/services/platform/postgres"

// ObservePool reports the pool's statistics to meters, read from pgxpool's Stat each time
// the metrics are collected (a scrape), so nothing is counted on the request path. name is
// db.client.connection.pool.name: the service's schema, one pool per service.
//
//   - db.client.connection.count, by db.client.connection.state: idle, or used (acquired);
//     the pool's total is their sum, plus any connection still being opened;
//   - db.client.connection.max: the pool's size limit (DATABASE_MAX_CONNS);
//   - db.client.connection.timeouts: waits for a connection that ended before one came
//     (pgxpool's canceled acquires: the DATABASE_CALL_TIMEOUT of the wait, or a client gone);
//   - caas.db.client.connection.acquires: connections handed out;
//   - caas.db.client.connection.waits and caas.db.client.connection.wait_time: the acquires
//     that found no idle connection and got one after waiting (for one to be released or
//     opened), and the total time they waited, so rate(wait_time)/rate(waits) is the mean
//     wait of a request that waited; a wait that ended first is a timeout instead. (The
//     conventions' wait_time is a histogram per acquire, which Stat cannot give.)
func ObservePool(pool *pgxpool.Pool, name string, meters metric.MeterProvider) error {
	meter := meters.Meter(scope)
	count, err1 := dbconv.NewClientConnectionCountObservable(meter)
	limit, err2 := dbconv.NewClientConnectionMaxObservable(meter)
	timeouts, err3 := dbconv.NewClientConnectionTimeoutsObservable(meter)
	acquires, err4 := meter.Int64ObservableCounter("caas.db.client.connection.acquires",
		metric.WithUnit("{acquire}"), metric.WithDescription("Connections handed out by the pool."))
	waits, err5 := meter.Int64ObservableCounter("caas.db.client.connection.waits",
		metric.WithUnit("{acquire}"), metric.WithDescription("Acquires that found no idle connection and got one after waiting."))
	waited, err6 := meter.Float64ObservableCounter("caas.db.client.connection.wait_time",
		metric.WithUnit("s"), metric.WithDescription("Total time those acquires waited for a connection."))
	if err := errors.Join(err1, err2, err3, err4, err5, err6); err != nil {
		return err
	}
	pooled := attribute.String("db.client.connection.pool.name", name)
	poolOnly := metric.WithAttributeSet(attribute.NewSet(pooled))
	idle := metric.WithAttributeSet(attribute.NewSet(pooled, count.AttrClientConnectionState(dbconv.ClientConnectionStateIdle)))
	used := metric.WithAttributeSet(attribute.NewSet(pooled, count.AttrClientConnectionState(dbconv.ClientConnectionStateUsed)))
	_, err := meter.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		s := pool.Stat()
		o.ObserveInt64(count.Inst(), int64(s.IdleConns()), idle)
		o.ObserveInt64(count.Inst(), int64(s.AcquiredConns()), used)
		o.ObserveInt64(limit.Inst(), int64(s.MaxConns()), poolOnly)
		o.ObserveInt64(timeouts.Inst(), s.CanceledAcquireCount(), poolOnly)
		o.ObserveInt64(acquires, s.AcquireCount(), poolOnly)
		o.ObserveInt64(waits, s.EmptyAcquireCount(), poolOnly)
		o.ObserveFloat64(waited, s.EmptyAcquireWaitTime().Seconds(), poolOnly)
		return nil
	}, count.Inst(), limit.Inst(), timeouts.Inst(), acquires, waits, waited)
	return err
}
