package outbox

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/semconv/v1.43.0/messagingconv"
)

const scope = "github.com/caasdemo/orderdemo/services/platform/outbox"

// relayMetrics is what the relay measures:
//
//   - messaging.client.operation.duration of each publish (messaging.operation.name publish,
//     type send, messaging.system nats), from the publish to JetStream's acknowledgement,
//     with the stream that acknowledged it as messaging.destination.name, or error.type
//     (timeout, _OTHER) for a publish that was not acknowledged;
//   - caas.outbox.backlog and caas.outbox.oldest_age: the unpublished rows and the age of the
//     oldest, observable gauges read by one query (Lag) when the metrics are collected, under
//     the pool's call deadline (DATABASE_CALL_TIMEOUT) like every statement.
type relayMetrics struct {
	publish messagingconv.ClientOperationDuration
}

func newRelayMetrics(r *Relay, meters metric.MeterProvider) relayMetrics {
	if meters == nil {
		meters = noop.NewMeterProvider()
	}
	meter := meters.Meter(scope)
	publish, err := messagingconv.NewClientOperationDuration(meter)
	if err != nil {
		otel.Handle(err) // only a name the SDK refuses, which the metrics tests would show
	}
	backlog, err1 := meter.Int64ObservableGauge("caas.outbox.backlog", metric.WithUnit("{event}"),
		metric.WithDescription("Events in the outbox not yet published to JetStream."))
	oldest, err2 := meter.Float64ObservableGauge("caas.outbox.oldest_age", metric.WithUnit("s"),
		metric.WithDescription("Age of the oldest event in the outbox not yet published; 0 when none waits."))
	if err := errors.Join(err1, err2); err != nil {
		otel.Handle(err)
		return relayMetrics{publish: publish}
	}
	_, err = meter.RegisterCallback(func(ctx context.Context, o metric.Observer) error {
		lag, err := r.Lag(ctx)
		if err != nil {
			// No value rather than a wrong one: the series is absent from this scrape.
			return fmt.Errorf("outbox backlog: %w", err)
		}
		o.ObserveInt64(backlog, lag.Unpublished)
		o.ObserveFloat64(oldest, lag.OldestAge)
		return nil
	}, backlog, oldest)
	if err != nil {
		otel.Handle(err)
	}
	return relayMetrics{publish: publish}
}

// published records one publish that JetStream acknowledged on stream.
func (m relayMetrics) published(ctx context.Context, start time.Time, stream string) {
	m.publish.Record(ctx, time.Since(start).Seconds(), "publish", messagingconv.SystemAttr("nats"),
		m.publish.AttrOperationType(messagingconv.OperationTypeSend), m.publish.AttrDestinationName(stream))
}

// failed records one publish that was not acknowledged, with the class of its error.
func (m relayMetrics) failed(ctx context.Context, start time.Time, errorType messagingconv.ErrorTypeAttr) {
	m.publish.Record(ctx, time.Since(start).Seconds(), "publish", messagingconv.SystemAttr("nats"),
		m.publish.AttrOperationType(messagingconv.OperationTypeSend), m.publish.AttrErrorType(errorType))
}
