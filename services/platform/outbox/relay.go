package outbox

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/semconv/v1.43.0/messagingconv"

	"github.com/caasdemo/orderdemo/events"
	"github.com/caasdemo/orderdemo/services/platform/backoff"
	"github.com/caasdemo/orderdemo/services/platform/health"
)

// Options tune a Relay; the zero value of each field means its default.
type Options struct {
	Batch      int           // rows claimed per transaction; default 256
	Sweep      time.Duration // poll interval when no notification arrives; default 1s
	AckTimeout time.Duration // how long to wait for JetStream to acknowledge a batch; default 5s
	Retention  time.Duration // how long published rows are kept; default 168h
	Backoff    backoff.Policy
	// Meters receives the publish durations and observes the backlog (see relayMetrics);
	// nil: not measured.
	Meters metric.MeterProvider
}

func (o Options) withDefaults() Options {
	if o.Batch <= 0 {
		o.Batch = 256
	}
	if o.Sweep <= 0 {
		o.Sweep = time.Second
	}
	if o.AckTimeout <= 0 {
		o.AckTimeout = 5 * time.Second
	}
	if o.Retention <= 0 {
		o.Retention = 7 * 24 * time.Hour
	}
	return o
}

// Relay publishes the rows of one schema's outbox to JetStream.
type Relay struct {
	pool    *pgxpool.Pool
	js      jetstream.JetStream
	channel string // NOTIFY channel: <schema>_outbox
	log     *slog.Logger
	opts    Options
	metrics relayMetrics

	// afterPublish, when set by tests, runs after JetStream acknowledged a batch and before
	// the rows are marked published: the window in which a crash leaves a duplicate.
	afterPublish func()
}

// NewRelay returns a relay for the outbox in schema (the pool's search_path must reach it).
func NewRelay(pool *pgxpool.Pool, js jetstream.JetStream, schema string, log *slog.Logger, opts Options) *Relay {
	r := &Relay{pool: pool, js: js, channel: schema + "_outbox", log: log.With("component", "outbox-relay"), opts: opts.withDefaults()}
	r.metrics = newRelayMetrics(r, opts.Meters)
	return r
}

// Run publishes until ctx ends. While NATS or PostgreSQL is away it retries with backoff;
// events wait in the outbox meanwhile. It returns nil when ctx ends.
func (r *Relay) Run(ctx context.Context) error {
	wake := make(chan struct{}, 1)
	go r.listen(ctx, wake)
	sweep := time.NewTicker(r.opts.Sweep)
	defer sweep.Stop()
	lastCleanup := time.Time{}
	failures := 0
	for {
		n, err := r.publishBatch(ctx)
		switch {
		case ctx.Err() != nil:
			return nil
		case err != nil:
			failures++
			if failures == 1 || failures%20 == 0 {
				r.log.Warn("publishing failed; events wait in the outbox", "attempt", failures, "error", err)
			}
			if !sleep(ctx, r.opts.Backoff.Delay(failures-1)) {
				return nil
			}
			continue
		case failures > 0:
			r.log.Info("publishing resumed", "after_failures", failures)
			failures = 0
		}
		if n == r.opts.Batch {
			continue // more rows are waiting
		}
		if time.Since(lastCleanup) > time.Minute {
			r.cleanup(ctx)
			lastCleanup = time.Now()
		}
		select {
		case <-ctx.Done():
			return nil
		case <-wake:
		case <-sweep.C:
		}
	}
}

type row struct {
	id            int64
	eventID       string
	eventType     string
	subject       string
	envelope      []byte
	correlationID string
}

// publishBatch claims up to Batch unpublished rows, publishes them, and marks those JetStream
// acknowledged. It returns how many rows it claimed.
func (r *Relay) publishBatch(ctx context.Context) (int, error) {
	tx, err := r.pool.Begin(ctx)
	if err != nil {
		return 0, fmt.Errorf("begin: %w", err)
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()

	rows, err := tx.Query(ctx, `SELECT id, event_id::text, event_type, subject, envelope, correlation_id
		FROM outbox WHERE published_at IS NULL ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED`, r.opts.Batch)
	if err != nil {
		return 0, fmt.Errorf("claim: %w", err)
	}
	claimed, err := pgx.CollectRows(rows, func(rw pgx.CollectableRow) (row, error) {
		var x row
		err := rw.Scan(&x.id, &x.eventID, &x.eventType, &x.subject, &x.envelope, &x.correlationID)
		return x, err
	})
	if err != nil || len(claimed) == 0 {
		return 0, err
	}

	published, failed, pubErr := r.publish(ctx, claimed)
	if r.afterPublish != nil {
		r.afterPublish()
	}
	if len(published) > 0 {
		if _, err := tx.Exec(ctx, `UPDATE outbox SET published_at = clock_timestamp() WHERE id = ANY($1)`, published); err != nil {
			return 0, fmt.Errorf("mark published: %w", err)
		}
	}
	if len(failed) > 0 {
		if _, err := tx.Exec(ctx, `UPDATE outbox SET attempts = attempts + 1, last_error = $2 WHERE id = ANY($1)`, failed, pubErr.Error()); err != nil {
			return 0, fmt.Errorf("record failure: %w", err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return 0, fmt.Errorf("commit: %w", err)
	}
	return len(claimed), pubErr
}

// publish sends every row asynchronously and waits for the acknowledgements. It returns the
// ids acknowledged, the ids not acknowledged, and the first error.
func (r *Relay) publish(ctx context.Context, claimed []row) (published, failed []int64, firstErr error) {
	futures := make([]jetstream.PubAckFuture, len(claimed))
	started := make([]time.Time, len(claimed))
	for i, x := range claimed {
		msg := nats.NewMsg(x.subject)
		msg.Data = x.envelope
		msg.Header.Set(jetstream.MsgIDHeader, x.eventID)
		msg.Header.Set(HeaderEventType, x.eventType)
		msg.Header.Set(HeaderContentType, events.ContentType)
		if x.correlationID != "" {
			msg.Header.Set(HeaderCorrelationID, x.correlationID)
		}
		started[i] = time.Now()
		f, err := r.js.PublishMsgAsync(msg)
		if err != nil {
			r.metrics.failed(ctx, started[i], messagingconv.ErrorTypeOther)
			for _, rest := range claimed[i:] {
				failed = append(failed, rest.id)
			}
			firstErr = fmt.Errorf("publish %s: %w", x.subject, err)
			claimed = claimed[:i]
			break
		}
		futures[i] = f
	}
	timeout := time.NewTimer(r.opts.AckTimeout)
	defer timeout.Stop()
	for i, x := range claimed {
		select {
		case ack := <-futures[i].Ok():
			r.metrics.published(ctx, started[i], ack.Stream)
			published = append(published, x.id)
		case err := <-futures[i].Err():
			r.metrics.failed(ctx, started[i], messagingconv.ErrorTypeOther)
			failed = append(failed, x.id)
			firstErr = errors.Join(firstErr, fmt.Errorf("publish %s: %w", x.subject, err))
		case <-timeout.C:
			for j, rest := range claimed[i:] {
				r.metrics.failed(ctx, started[i+j], "timeout")
				failed = append(failed, rest.id)
			}
			return published, failed, errors.Join(firstErr, fmt.Errorf("no acknowledgement from JetStream within %s", r.opts.AckTimeout))
		case <-ctx.Done():
			for _, rest := range claimed[i:] {
				failed = append(failed, rest.id)
			}
			return published, failed, errors.Join(firstErr, ctx.Err())
		}
	}
	return published, failed, firstErr
}

// listen holds one connection LISTENing on the outbox channel and signals wake on every
// notification. When the connection fails it reconnects with backoff; the sweep covers the gap.
func (r *Relay) listen(ctx context.Context, wake chan<- struct{}) {
	for attempt := 0; ctx.Err() == nil; attempt++ {
		err := r.listenOnce(ctx, wake)
		if ctx.Err() != nil {
			return
		}
		r.log.Debug("outbox listener lost its connection", "error", err)
		if !sleep(ctx, r.opts.Backoff.Delay(attempt)) {
			return
		}
	}
}

func (r *Relay) listenOnce(ctx context.Context, wake chan<- struct{}) error {
	conn, err := r.pool.Acquire(ctx)
	if err != nil {
		return err
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{r.channel}.Sanitize()); err != nil {
		return err
	}
	defer func() {
		// The connection goes back to the pool: stop listening on it first.
		_, _ = conn.Exec(context.WithoutCancel(ctx), "UNLISTEN *")
	}()
	select { // a commit may have happened before LISTEN took effect
	case wake <- struct{}{}:
	default:
	}
	for {
		if _, err := conn.Conn().WaitForNotification(ctx); err != nil {
			return err
		}
		select {
		case wake <- struct{}{}:
		default:
		}
	}
}

// cleanup deletes rows published longer ago than the retention period.
func (r *Relay) cleanup(ctx context.Context) {
	tag, err := r.pool.Exec(ctx, `DELETE FROM outbox WHERE published_at < now() - make_interval(secs => $1)`, r.opts.Retention.Seconds())
	if err != nil {
		r.log.Warn("outbox cleanup failed", "error", err)
		return
	}
	if tag.RowsAffected() > 0 {
		r.log.Info("outbox cleanup", "deleted", tag.RowsAffected())
	}
}

// Lag is how far the relay is behind.
type Lag struct {
	Unpublished int64   `json:"unpublished"`
	OldestAge   float64 `json:"oldest_age_seconds"` // 0 when nothing waits
}

// Lag measures the unpublished rows.
func (r *Relay) Lag(ctx context.Context) (Lag, error) {
	var l Lag
	err := r.pool.QueryRow(ctx, `SELECT count(*), coalesce(extract(epoch FROM now() - min(created_at)), 0)::float8
		FROM outbox WHERE published_at IS NULL`).Scan(&l.Unpublished, &l.OldestAge)
	return l, err
}

// Check reports the lag on /ready. It never makes the service unready: accepting work while
// NATS is away is what the outbox is for.
func (r *Relay) Check() health.Check {
	return health.Check{Name: "outbox", Detail: func(ctx context.Context) (any, error) { return r.Lag(ctx) }}
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
