package consumer

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/semconv/v1.43.0/messagingconv"
)

// lagCacheFor is how long the pending counts read from JetStream are reused: a scrape every
// few seconds (or several scrapers) asks NATS at most once per period.
const lagCacheFor = 5 * time.Second

var natsSystem = attribute.String("messaging.system", "nats")

// runnerMetrics is what a Runner measures besides the deliveries by outcome
// (messaging.client.consumed.messages, see count):
//
//   - messaging.process.duration: each event's apply (the handler with its idempotency
//     record, in its savepoint), with error.type _OTHER when it failed;
//   - caas.consumer.redeliveries: deliveries after the first (JetStream's delivery count > 1);
//   - caas.consumer.pending (observable): messages of the stream the durable has not been
//     delivered yet, from JetStream's consumer info, cached for lagCacheFor;
//   - caas.consumer.dead_letters (observable): parked messages not re-driven, per durable,
//     one query when the metrics are collected.
//
// All carry messaging.system nats, the stream as messaging.destination.name and the durable
// as messaging.consumer.group.name.
type runnerMetrics struct {
	consumed     messagingconv.ClientConsumedMessages
	process      messagingconv.ProcessDuration
	redeliveries metric.Int64Counter
}

// known is a durable the runner has ensured: the ones whose lag and dead letters are observed.
type known struct{ stream, durable string }

// lagCache holds the last pending counts read from JetStream.
type lagCache struct {
	mu      sync.Mutex // held during a refresh, so concurrent scrapes share one
	ttl     time.Duration
	read    time.Time
	pending map[known]uint64 // a durable whose info could not be read is absent
}

func (r *Runner) instrument(meters metric.MeterProvider) {
	if meters == nil {
		meters = noop.NewMeterProvider()
	}
	meter := meters.Meter(scope)
	var errs [6]error
	r.metrics.consumed, errs[0] = messagingconv.NewClientConsumedMessages(meter)
	r.metrics.process, errs[1] = messagingconv.NewProcessDuration(meter)
	r.metrics.redeliveries, errs[2] = meter.Int64Counter("caas.consumer.redeliveries", metric.WithUnit("{message}"),
		metric.WithDescription("Deliveries of a message after its first (a failed apply, or an acknowledgement that came too late)."))
	pending, err3 := meter.Int64ObservableGauge("caas.consumer.pending", metric.WithUnit("{message}"),
		metric.WithDescription("Messages of the stream not yet delivered to the durable consumer (its lag), read from JetStream at most every 5 s."))
	deadLetters, err4 := meter.Int64ObservableGauge("caas.consumer.dead_letters", metric.WithUnit("{message}"),
		metric.WithDescription("Messages parked in dead_letters and not re-driven."))
	errs[3], errs[4] = err3, err4
	if err := errors.Join(errs[:]...); err != nil {
		otel.Handle(err) // only a name the SDK refuses, which the metrics tests would show
		return
	}
	_, err := meter.RegisterCallback(func(ctx context.Context, o metric.Observer) error {
		durables := r.durables()
		if len(durables) == 0 {
			return nil
		}
		lag := r.pending(ctx, durables)
		open, err := r.deadLetters(ctx)
		for _, k := range durables {
			attrs := metric.WithAttributes(natsSystem, r.metrics.consumed.AttrDestinationName(k.stream),
				r.metrics.consumed.AttrConsumerGroupName(k.durable))
			if n, ok := lag[k]; ok {
				o.ObserveInt64(pending, int64(n), attrs)
			}
			if err == nil {
				o.ObserveInt64(deadLetters, open[k.durable], attrs)
			}
		}
		return err
	}, pending, deadLetters)
	if err != nil {
		otel.Handle(err)
	}
}

// remember records a durable the runner ensured.
func (r *Runner) remember(spec Spec) {
	r.mu.Lock()
	defer r.mu.Unlock()
	k := known{spec.Stream, spec.Durable}
	for _, x := range r.known {
		if x == k {
			return
		}
	}
	r.known = append(r.known, k)
}

func (r *Runner) durables() []known {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]known(nil), r.known...)
}

// pending returns the pending counts, read again from JetStream when the last read is older
// than the cache period: one consumer-info call per durable, all at once, each bounded by the
// JetStream handle's call timeout (NATS_CALL_TIMEOUT), so a scrape waits for NATS at most
// that long.
func (r *Runner) pending(ctx context.Context, durables []known) map[known]uint64 {
	c := &r.lag
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.read.IsZero() && time.Since(c.read) < c.ttl && len(c.pending) == len(durables) {
		return c.pending
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	fresh := make(map[known]uint64, len(durables))
	for _, k := range durables {
		wg.Go(func() {
			// The handle's default timeout (NATS_CALL_TIMEOUT) bounds a context without a deadline.
			cons, err := r.js.Consumer(ctx, k.stream, k.durable)
			if err != nil {
				r.log.Debug("consumer info for the pending count", "consumer", k.durable, "error", err)
				return
			}
			mu.Lock()
			fresh[k] = cons.CachedInfo().NumPending
			mu.Unlock()
		})
	}
	wg.Wait()
	c.pending, c.read = fresh, time.Now()
	return fresh
}

// deadLetters counts the open dead letters by durable.
func (r *Runner) deadLetters(ctx context.Context) (map[string]int64, error) {
	rows, err := r.pool.Query(ctx, `SELECT consumer, count(*) FROM dead_letters WHERE redriven_at IS NULL GROUP BY consumer`)
	if err != nil {
		return nil, fmt.Errorf("dead letters: %w", err)
	}
	defer rows.Close()
	open := map[string]int64{}
	for rows.Next() {
		var consumer string
		var n int64
		if err := rows.Scan(&consumer, &n); err != nil {
			return nil, fmt.Errorf("dead letters: %w", err)
		}
		open[consumer] = n
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("dead letters: %w", err)
	}
	return open, nil
}

// delivered counts a redelivery.
func (r *Runner) delivered(ctx context.Context, spec Spec, d Delivery) {
	if d.Deliveries > 1 {
		r.metrics.redeliveries.Add(ctx, 1, metric.WithAttributes(natsSystem,
			r.metrics.consumed.AttrDestinationName(d.Stream), r.metrics.consumed.AttrConsumerGroupName(spec.Durable)))
	}
}

// applied records how long one event's apply took, failed or not.
func (r *Runner) applied(ctx context.Context, spec Spec, d Delivery, took time.Duration, failed bool) {
	attrs := []attribute.KeyValue{r.metrics.process.AttrDestinationName(d.Stream), r.metrics.process.AttrConsumerGroupName(spec.Durable)}
	if failed {
		attrs = append(attrs, r.metrics.process.AttrErrorType(messagingconv.ErrorTypeOther))
	}
	r.metrics.process.Record(ctx, took.Seconds(), "process", messagingconv.SystemAttr("nats"), attrs...)
}
