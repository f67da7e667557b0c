package app

import (
	"context"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/metric/noop"

	"github.com/caasdemo/orderdemo/services/order/internal/domain"
)

const scope = "github.com/caasdemo/orderdemo/services/order/internal/app"

// metrics count what the use cases did, once it is committed: an order placed again under
// its idempotency key, or a decision repeated, is not counted twice.
type metrics struct {
	created metric.Int64Counter // caas.orders.created
	decided metric.Int64Counter // caas.orders.decided, by caas.order.status
}

func newMetrics(meters metric.MeterProvider) metrics {
	if meters == nil {
		meters = noop.NewMeterProvider()
	}
	meter := meters.Meter(scope)
	created, err := meter.Int64Counter("caas.orders.created", metric.WithUnit("{order}"),
		metric.WithDescription("Orders placed (OrderCreated committed)."))
	if err != nil {
		otel.Handle(err) // only a name the SDK refuses, which the metrics tests would show
	}
	decided, err := meter.Int64Counter("caas.orders.decided", metric.WithUnit("{order}"),
		metric.WithDescription("Orders approved or rejected (OrderApproved or OrderRejected committed), by caas.order.status."))
	if err != nil {
		otel.Handle(err)
	}
	return metrics{created: created, decided: decided}
}

func (m metrics) orderDecided(ctx context.Context, status domain.Status) {
	m.decided.Add(ctx, 1, metric.WithAttributes(attribute.String("caas.order.status", string(status))))
}
