// Package consumer runs durable JetStream consumers whose handlers write to PostgreSQL, with
// the guarantees the event backbone promises:
//
//   - explicit acknowledgement, only after the handler's transaction committed (a batch of up
//     to 100 events per transaction, each in its own savepoint);
//   - idempotency: the event id is recorded in processed_events in that same transaction, so
//     an event delivered twice (a redelivery, a republished duplicate) has one effect;
//   - bounded redelivery with backoff; after the last delivery the message is parked in
//     dead_letters with its error, acknowledged, and the stream keeps flowing;
//   - a handler panic is recovered and treated as a failed delivery.
//
// Every delivery is counted, once its fate is known, in messaging.client.consumed.messages
// with the stream, the durable and its outcome (see Outcome); redeliveries, apply durations,
// the durable's pending messages and the open dead letters are measured too (runnerMetrics).
//
// The attempt limit is enforced here rather than by the server's MaxDeliver: the server would
// simply stop delivering a message it gave up on, whereas the runner parks it first, and if
// parking fails the message is delivered again, so nothing is dropped without a trace.
package consumer

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"slices"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/semconv/v1.43.0/messagingconv"

	"github.com/caasdemo/orderdemo/events"
	"github.com/caasdemo/orderdemo/services/platform/postgres"
)

//go:embed *.sql
var migrationFiles embed.FS

// Migrations creates processed_events and dead_letters in the service's schema; pass it to
// postgres.Open.
var Migrations = postgres.Migrations{Name: "consumer", FS: migrationFiles}

// Delivery says where a message came from.
type Delivery struct {
	Stream     string
	StreamSeq  uint64
	Subject    string
	Deliveries uint64 // 1 on the first delivery
}

// Handler applies one event inside tx. An error (or a panic) rolls tx back and the message is
// delivered again later, up to the spec's attempt limit.
type Handler func(ctx context.Context, tx pgx.Tx, ev events.Envelope, d Delivery) error

// Spec describes one durable consumer.
type Spec struct {
	Stream      string   // e.g. events.OrdersStream.Name
	Durable     string   // the consumer's name; also its key in processed_events
	Subjects    []string // filter; empty means the whole stream
	MaxAttempts int      // deliveries before parking; default 5
	// Backoff is the wait before each redelivery: Backoff[n-1] after the n-th failed
	// delivery, the last value repeating. Default 1s, 5s, 15s, 30s.
	Backoff []time.Duration
	AckWait time.Duration // how long a delivery may take before it is redelivered; default 30s
	Handle  Handler
	// Committed, when set, is called after a batch in which at least one event was applied
	// has committed: what the handler wrote is visible from then on (a read model's cache
	// can be invalidated here, never inside the handler, where the writes are not yet visible).
	Committed func()
}

func (s Spec) withDefaults() Spec {
	if s.MaxAttempts <= 0 {
		s.MaxAttempts = 5
	}
	if len(s.Backoff) == 0 {
		s.Backoff = []time.Duration{time.Second, 5 * time.Second, 15 * time.Second, 30 * time.Second}
	}
	if s.AckWait <= 0 {
		s.AckWait = 30 * time.Second
	}
	return s
}

func (s Spec) delay(deliveries uint64) time.Duration {
	i := int(deliveries) - 1
	if i >= len(s.Backoff) {
		i = len(s.Backoff) - 1
	}
	if i < 0 {
		i = 0
	}
	return s.Backoff[i]
}

// Config is the JetStream configuration of the consumer: durable, pull, explicit ack,
// delivering the whole stream from sequence 1.
func (s Spec) Config() jetstream.ConsumerConfig {
	s = s.withDefaults()
	return jetstream.ConsumerConfig{
		Durable:        s.Durable,
		Description:    "projection consumer " + s.Durable,
		AckPolicy:      jetstream.AckExplicitPolicy,
		AckWait:        s.AckWait,
		MaxDeliver:     -1, // the runner parks after MaxAttempts; see the package comment
		DeliverPolicy:  jetstream.DeliverAllPolicy,
		FilterSubjects: s.Subjects,
		MaxAckPending:  1000,
	}
}

// Runner runs consumers of one service against its PostgreSQL schema.
type Runner struct {
	pool    *pgxpool.Pool
	js      jetstream.JetStream
	log     *slog.Logger
	metrics runnerMetrics
	lag     lagCache

	mu    sync.Mutex
	known []known // the durables ensured, whose lag and dead letters are observed
}

// NewRunner returns a runner writing through pool (whose search_path reaches the service's
// schema, where Migrations was applied). meters (nil: not measured) receives the count of
// deliveries by outcome and the instruments of runnerMetrics.
func NewRunner(pool *pgxpool.Pool, js jetstream.JetStream, log *slog.Logger, meters metric.MeterProvider) *Runner {
	r := &Runner{pool: pool, js: js, log: log.With("component", "consumer"), lag: lagCache{ttl: lagCacheFor}}
	r.instrument(meters)
	return r
}

const scope = "github.com/caasdemo/orderdemo/services/platform/consumer"

// Outcome is what became of one delivery, the caas.consumer.outcome of its count.
type Outcome string

// Outcomes of a delivery.
const (
	Applied   Outcome = "applied"   // the handler's writes committed with the event's id
	Duplicate Outcome = "duplicate" // the event id was applied before: skipped, acknowledged
	Failed    Outcome = "failed"    // the handler or its transaction failed: delivered again later
	Parked    Outcome = "parked"    // the last delivery failed (or the bytes are no event): parked in dead_letters
)

// count adds one delivery of spec's consumer on stream with its outcome. The attributes are
// those of the messaging conventions (the stream as the destination, the durable as the
// consumer group) plus the outcome, which they have no name for.
func (r *Runner) count(ctx context.Context, spec Spec, stream string, outcome Outcome) {
	c := r.metrics.consumed
	c.Add(ctx, 1, "process", messagingconv.SystemAttr("nats"),
		c.AttrDestinationName(stream), c.AttrConsumerGroupName(spec.Durable),
		attribute.String("caas.consumer.outcome", string(outcome)))
}

// Ensure creates the durable consumer or updates it to the spec.
func (r *Runner) Ensure(ctx context.Context, spec Spec) (jetstream.Consumer, error) {
	cons, err := r.js.CreateOrUpdateConsumer(ctx, spec.Stream, spec.Config())
	if err != nil {
		return nil, fmt.Errorf("consumer %s on %s: %w", spec.Durable, spec.Stream, err)
	}
	r.remember(spec)
	return cons, nil
}

// batchSize is how many messages one transaction applies at most: one commit (one fsync)
// for the batch instead of one per event, each event in its own savepoint.
const batchSize = 100

// Run consumes until ctx ends, in stream order, and returns nil then.
func (r *Runner) Run(ctx context.Context, spec Spec) error {
	spec = spec.withDefaults()
	cons, err := r.Ensure(ctx, spec)
	if err != nil {
		return err
	}
	for ctx.Err() == nil {
		// Take what is waiting, up to a batch; when nothing is, wait for the next message.
		msgs, err := fetch(cons.FetchNoWait(batchSize))
		if err == nil && len(msgs) == 0 {
			msgs, err = fetch(cons.Fetch(1, jetstream.FetchMaxWait(time.Second)))
		}
		if err != nil {
			if ctx.Err() == nil {
				r.log.Debug("fetch", "consumer", spec.Durable, "error", err)
				sleep(ctx, time.Second)
			}
			continue
		}
		if len(msgs) > 0 {
			r.handle(ctx, spec, msgs)
		}
	}
	return nil
}

func fetch(batch jetstream.MessageBatch, err error) ([]jetstream.Msg, error) {
	if err != nil {
		return nil, err
	}
	var msgs []jetstream.Msg
	for msg := range batch.Messages() {
		msgs = append(msgs, msg)
	}
	if err := batch.Error(); err != nil && !errors.Is(err, jetstream.ErrNoMessages) && !errors.Is(err, nats.ErrTimeout) {
		return msgs, err
	}
	return msgs, nil
}

func sleep(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

// item is one message of a batch and what became of it.
type item struct {
	msg  jetstream.Msg
	d    Delivery
	env  events.Envelope
	err  error
	dup  bool
	took time.Duration // the apply, in its savepoint
}

// handle applies a batch in one transaction, each event in a savepoint so that one failing
// event does not undo the others, then acknowledges, redelivers or parks each message.
func (r *Runner) handle(ctx context.Context, spec Spec, msgs []jetstream.Msg) {
	log := r.log.With("consumer", spec.Durable)
	var items []*item
	for _, msg := range msgs {
		md, err := msg.Metadata()
		if err != nil {
			log.Error("message without metadata", "error", err)
			_ = msg.Term()
			continue
		}
		it := &item{msg: msg, d: Delivery{Stream: md.Stream, StreamSeq: md.Sequence.Stream, Subject: msg.Subject(), Deliveries: md.NumDelivered}}
		r.delivered(ctx, spec, it.d)
		env, err := events.Decode(msg.Data())
		if err != nil { // no later delivery can fix the bytes: park at once
			r.parkOrRetry(ctx, spec, msg, it.d, events.Envelope{}, fmt.Errorf("undecodable: %w", err), log.With("seq", it.d.StreamSeq))
			continue
		}
		it.env = env
		items = append(items, it)
	}
	if len(items) == 0 {
		return
	}
	err := pgx.BeginFunc(ctx, r.pool, func(tx pgx.Tx) error {
		for _, it := range items {
			if _, err := tx.Exec(ctx, "SAVEPOINT event"); err != nil {
				return err
			}
			start := time.Now()
			applied, err := r.applyIn(ctx, tx, spec, it.env, it.d)
			it.took = time.Since(start)
			it.dup = err == nil && !applied
			if err != nil {
				it.err = err
				if _, err := tx.Exec(ctx, "ROLLBACK TO SAVEPOINT event"); err != nil {
					return err
				}
				continue
			}
			if _, err := tx.Exec(ctx, "RELEASE SAVEPOINT event"); err != nil {
				return err
			}
		}
		return nil
	})
	if err == nil {
		for _, it := range items {
			switch {
			case it.err != nil: // counted below, with what becomes of it
			case it.dup:
				r.count(ctx, spec, it.d.Stream, Duplicate)
			default:
				r.count(ctx, spec, it.d.Stream, Applied)
			}
		}
	}
	if err == nil && spec.Committed != nil && slices.ContainsFunc(items, func(it *item) bool { return it.err == nil && !it.dup }) {
		spec.Committed()
	}
	if ctx.Err() != nil {
		// Shutting down: leave the messages unacknowledged; they are delivered again after
		// the restart (and applied once, as their ids were not recorded).
		return
	}
	for _, it := range items {
		if err != nil && it.err == nil {
			it.err = err // the batch did not commit
		}
		r.applied(ctx, spec, it.d, it.took, it.err != nil)
		l := log.With("stream", it.d.Stream, "seq", it.d.StreamSeq)
		switch {
		case it.err == nil:
			if it.dup {
				l.Debug("duplicate event skipped", "event_id", it.env.ID)
			}
			if err := it.msg.Ack(); err != nil {
				l.Warn("ack failed; the event will be delivered again and skipped", "error", err)
			}
		case it.d.Deliveries >= uint64(spec.MaxAttempts):
			r.parkOrRetry(ctx, spec, it.msg, it.d, it.env, it.err, l)
		default:
			l.Warn("handler failed; will retry", "event_id", it.env.ID, "type", it.env.Type, "delivery", it.d.Deliveries, "error", it.err)
			r.count(ctx, spec, it.d.Stream, Failed)
			_ = it.msg.NakWithDelay(spec.delay(it.d.Deliveries))
		}
	}
}

// applyIn records the event id and runs the handler inside tx. It reports false when the
// event had been applied before (a duplicate: the handler is not run).
func (r *Runner) applyIn(ctx context.Context, tx pgx.Tx, spec Spec, env events.Envelope, d Delivery) (bool, error) {
	tag, err := tx.Exec(ctx, `INSERT INTO processed_events (consumer, event_id, stream, stream_seq)
		VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING`, spec.Durable, env.ID, d.Stream, int64(d.StreamSeq))
	if err != nil {
		return false, fmt.Errorf("record processed event: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return false, nil
	}
	return true, safely(func() error { return spec.Handle(ctx, tx, env, d) })
}

// parkOrRetry parks the message and terminates it; if parking fails the message is
// redelivered, so it is never dropped unrecorded.
func (r *Runner) parkOrRetry(ctx context.Context, spec Spec, msg jetstream.Msg, d Delivery, env events.Envelope, cause error, log *slog.Logger) {
	_, err := r.pool.Exec(ctx, `INSERT INTO dead_letters
		(consumer, stream, stream_seq, subject, event_id, event_type, message, error, deliveries)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
		ON CONFLICT (consumer, stream, stream_seq) DO UPDATE SET error = EXCLUDED.error,
			deliveries = EXCLUDED.deliveries, parked_at = now(), redriven_at = NULL`,
		spec.Durable, d.Stream, int64(d.StreamSeq), d.Subject, env.ID, env.Type, msg.Data(), cause.Error(), int(d.Deliveries))
	if err != nil {
		log.Error("cannot park message; will retry", "error", err, "cause", cause)
		r.count(ctx, spec, d.Stream, Failed)
		_ = msg.NakWithDelay(spec.delay(d.Deliveries))
		return
	}
	log.Error("message parked after its last delivery", "event_id", env.ID, "type", env.Type, "deliveries", d.Deliveries, "error", cause)
	r.count(ctx, spec, d.Stream, Parked)
	_ = msg.Term()
}

// safely runs f, turning a panic into an error carrying the stack.
func safely(f func() error) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = fmt.Errorf("handler panic: %v\n%s", v, debug.Stack())
		}
	}()
	return f()
}

// DeadLetter is a parked message.
type DeadLetter struct {
	ID         int64
	Consumer   string
	Stream     string
	StreamSeq  int64
	Subject    string
	EventID    string
	EventType  string
	Message    []byte
	Error      string
	Deliveries int
	ParkedAt   time.Time
}

// Parked lists the messages of consumer still parked (not re-driven), newest first.
func (r *Runner) Parked(ctx context.Context, consumer string, limit int) ([]DeadLetter, error) {
	rows, err := r.pool.Query(ctx, `SELECT id, consumer, stream, stream_seq, subject, event_id, event_type, message, error, deliveries, parked_at
		FROM dead_letters WHERE consumer = $1 AND redriven_at IS NULL ORDER BY parked_at DESC, id DESC LIMIT $2`, consumer, limit)
	if err != nil {
		return nil, fmt.Errorf("list dead letters: %w", err)
	}
	return pgx.CollectRows(rows, pgx.RowToStructByPos[DeadLetter])
}

// ErrNotParked is returned by Redrive for an id that is not a parked message of the spec's
// consumer.
var ErrNotParked = errors.New("no such parked message")

// Redrive applies a parked message again through the spec's handler. On success the message
// is marked re-driven (and counts as processed); on failure it stays parked and the error is
// returned.
func (r *Runner) Redrive(ctx context.Context, spec Spec, id int64) error {
	var dl DeadLetter
	err := r.pool.QueryRow(ctx, `SELECT id, consumer, stream, stream_seq, subject, event_id, event_type, message, error, deliveries, parked_at
		FROM dead_letters WHERE id = $1 AND consumer = $2 AND redriven_at IS NULL`, id, spec.Durable).
		Scan(&dl.ID, &dl.Consumer, &dl.Stream, &dl.StreamSeq, &dl.Subject, &dl.EventID, &dl.EventType, &dl.Message, &dl.Error, &dl.Deliveries, &dl.ParkedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("%w: %d", ErrNotParked, id)
	}
	if err != nil {
		return fmt.Errorf("load dead letter %d: %w", id, err)
	}
	env, err := events.Decode(dl.Message)
	if err != nil {
		return fmt.Errorf("dead letter %d: %w", id, err)
	}
	d := Delivery{Stream: dl.Stream, StreamSeq: uint64(dl.StreamSeq), Subject: dl.Subject, Deliveries: uint64(dl.Deliveries) + 1}
	applied := false
	err = pgx.BeginFunc(ctx, r.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `UPDATE dead_letters SET redriven_at = now() WHERE id = $1`, id); err != nil {
			return err
		}
		applied, err = r.applyIn(ctx, tx, spec, env, d)
		return err
	})
	if err != nil {
		return fmt.Errorf("redrive %d: %w", id, err)
	}
	if applied && spec.Committed != nil {
		spec.Committed()
	}
	return nil
}
