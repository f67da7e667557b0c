package app

import (
	"context"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/metric/noop"
)

const scope = "github.com/caasdemo/orderdemo/services/auth/internal/app"

// metrics count what the use cases refused.
type metrics struct {
	loginsFailed metric.Int64Counter // caas.logins.failed, by caas.login.reason
}

func newMetrics(meters metric.MeterProvider) metrics {
	if meters == nil {
		meters = noop.NewMeterProvider()
	}
	failed, err := meters.Meter(scope).Int64Counter("caas.logins.failed", metric.WithUnit("{login}"),
		metric.WithDescription("Logins refused, by caas.login.reason: unknown_user, bad_password or rate_limited."))
	if err != nil {
		otel.Handle(err) // only a name the SDK refuses, which the metrics tests would show
	}
	return metrics{loginsFailed: failed}
}

// loginFailed counts one refused login; reason is one of the events.Reason… values.
func (m metrics) loginFailed(ctx context.Context, reason string) {
	m.loginsFailed.Add(ctx, 1, metric.WithAttributes(attribute.String("caas.login.reason", reason)))
}
