package service

import (
	"context"
	"errors"
	"net/http"

	"go.opentelemetry.io/otel/metric"

	"github.com/caasdemo/orderdemo/services/gateway/internal/live"
	"github.com/caasdemo/orderdemo/services/gateway/internal/sse"
)

const scope = "github.com/caasdemo/orderdemo/services/gateway/internal/service"

// liveMetrics measures the live updates: caas.sse.streams.open, the event streams open, read
// from the hub each time the metrics are collected; and caas.sse.events.sent, counted by the
// middleware it returns for the stream's route (every sse.Writer under it reports the events
// it sent). The streams themselves are kept out of the request durations (see httpserver).
func liveMetrics(meters metric.MeterProvider, hub *live.Hub) (func(http.Handler) http.Handler, error) {
	meter := meters.Meter(scope)
	sent, err1 := meter.Int64Counter("caas.sse.events.sent", metric.WithUnit("{event}"),
		metric.WithDescription("Server-Sent Events written and flushed to browsers (heartbeats are not events)."))
	_, err2 := meter.Int64ObservableUpDownCounter("caas.sse.streams.open", metric.WithUnit("{stream}"),
		metric.WithDescription("Event streams (GET /events) open on this gateway."),
		metric.WithInt64Callback(func(_ context.Context, o metric.Int64Observer) error {
			o.Observe(int64(hub.Count()))
			return nil
		}))
	if err := errors.Join(err1, err2); err != nil {
		return nil, err
	}
	return sse.Observed(func() { sent.Add(context.Background(), 1) }), nil
}
