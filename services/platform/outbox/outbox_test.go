package outbox_test

import (
	"context"
	"io"
	"log/slog"
	"math/rand/v2"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/caasdemo/orderdemo/events"
	"github.com/caasdemo/orderdemo/services/platform/backoff"
	"github.com/caasdemo/orderdemo/services/platform/config"
	"github.com/caasdemo/orderdemo/services/platform/consumer"
	"github.com/caasdemo/orderdemo/services/platform/natsconn"
	"github.com/caasdemo/orderdemo/services/platform/outbox"
	"github.com/caasdemo/orderdemo/services/platform/postgres"
	"github.com/caasdemo/orderdemo/services/platform/testenv"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// fixture is a producing service in miniature: a schema with an orders table and an outbox,
// a JetStream server with the ORDERS stream.
type fixture struct {
	pool   *pgxpool.Pool
	js     jetstream.JetStream
	stream jetstream.Stream
	nats   *testenv.NATSServer
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	ctx := t.Context()
	// The schema plays both sides: a producer's orders table and outbox, and a consumer's
	// projection of the published events.
	own := postgres.Migrations{FS: fstest.MapFS{"00001_orders.sql": {Data: []byte(
		"-- +goose Up\nCREATE TABLE orders (id uuid PRIMARY KEY, item text NOT NULL);\n" +
			"CREATE TABLE projected (event_id uuid NOT NULL);\n")}}}
	pool, err := postgres.Open(ctx, postgres.Config{URL: config.URL(testenv.PostgresURL(t)), ConnectTimeout: 5 * time.Second, MaxConns: 24, CallTimeout: testenv.DatabaseCallTimeout},
		"shop", "shop", quiet, own, outbox.Migrations, consumer.Migrations)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	ns := testenv.StartNATS(t)
	nc, js, err := natsconn.Connect(ctx, natsconn.Config{URL: config.URL(ns.URL()), ConnectTimeout: 5 * time.Second}, "shop", quiet)
	require.NoError(t, err)
	t.Cleanup(nc.Close)
	stream, err := natsconn.EnsureStream(ctx, js, events.OrdersStream)
	require.NoError(t, err)
	return &fixture{pool: pool, js: js, stream: stream, nats: ns}
}

// project runs a consumer that inserts every event it applies into the projected table.
func (f *fixture) project(t testing.TB) {
	t.Helper()
	runner := consumer.NewRunner(f.pool, f.js, quiet, nil)
	ctx, cancel := context.WithCancel(context.WithoutCancel(t.Context()))
	done := make(chan struct{})
	go func() {
		_ = runner.Run(ctx, consumer.Spec{Stream: "ORDERS", Durable: "projection",
			Handle: func(ctx context.Context, tx pgx.Tx, ev events.Envelope, _ consumer.Delivery) error {
				_, err := tx.Exec(ctx, `INSERT INTO projected (event_id) VALUES ($1)`, ev.ID)
				return err
			}})
		close(done)
	}()
	t.Cleanup(func() { cancel(); <-done })
}

func (f *fixture) projected(t testing.TB) int {
	t.Helper()
	var n int
	require.NoError(t, f.pool.QueryRow(t.Context(), `SELECT count(*) FROM projected`).Scan(&n))
	return n
}

// relay starts a relay that stops when the test ends.
func (f *fixture) relay(t testing.TB, opts outbox.Options) *outbox.Relay {
	t.Helper()
	r := outbox.NewRelay(f.pool, f.js, "shop", quiet, opts)
	f.run(t, r)
	return r
}

func (f *fixture) run(t testing.TB, r *outbox.Relay) {
	ctx, cancel := context.WithCancel(context.WithoutCancel(t.Context()))
	done := make(chan struct{})
	go func() { _ = r.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
}

// placeOrder inserts an order and its OrderCreated event in one transaction, which commits
// unless rollback is set.
func (f *fixture) placeOrder(ctx context.Context, t testing.TB, rollback bool) events.Envelope {
	t.Helper()
	env := newOrderEvent(t)
	tx, err := f.pool.Begin(ctx)
	require.NoError(t, err)
	_, err = tx.Exec(ctx, `INSERT INTO orders (id, item) VALUES ($1, 'widget')`, env.Subject)
	require.NoError(t, err)
	require.NoError(t, outbox.Record(ctx, tx, env))
	if rollback {
		require.NoError(t, tx.Rollback(ctx))
	} else {
		require.NoError(t, tx.Commit(ctx))
	}
	return env
}

func newOrderEvent(t testing.TB) events.Envelope {
	t.Helper()
	env, err := events.New(events.OrderCreated{OrderID: events.NewID(), UserID: events.NewID(), Username: "alice",
		ItemName: "widget", Quantity: 1, Status: "pending", CreatedAt: time.Now()},
		events.Metadata{Source: "order", CorrelationID: "req-" + events.NewID()[:8], AggregateVersion: 1})
	require.NoError(t, err)
	return env
}

func (f *fixture) streamMsgs(t testing.TB) uint64 {
	t.Helper()
	info, err := f.stream.Info(t.Context())
	require.NoError(t, err)
	return info.State.Msgs
}

func (f *fixture) unpublished(t testing.TB) int64 {
	t.Helper()
	var n int64
	require.NoError(t, f.pool.QueryRow(t.Context(), `SELECT count(*) FROM outbox WHERE published_at IS NULL`).Scan(&n))
	return n
}

func (f *fixture) waitPublished(t testing.TB, msgs uint64, within time.Duration) {
	t.Helper()
	require.Eventually(t, func() bool { return f.unpublished(t) == 0 && f.streamMsgs(t) >= msgs }, within, 10*time.Millisecond,
		"outbox not drained: %d unpublished, %d on the stream", f.unpublished(t), f.streamMsgs(t))
}

func TestCommittedEventIsPublishedOnceRolledBackNever(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.relay(t, outbox.Options{Sweep: time.Hour}) // only NOTIFY can wake it in time
	ctx := t.Context()

	f.placeOrder(ctx, t, true)
	committed := f.placeOrder(ctx, t, false)
	f.waitPublished(t, 1, 5*time.Second)
	time.Sleep(100 * time.Millisecond) // room for a wrong second publish to show up
	require.EqualValues(t, 1, f.streamMsgs(t), "exactly one message: the rolled-back event never left")

	msg, err := f.stream.GetMsg(ctx, 1)
	require.NoError(t, err)
	subject, err := committed.NATSSubject()
	require.NoError(t, err)
	assert.Equal(t, subject, msg.Subject)
	assert.Equal(t, committed.ID, msg.Header.Get(jetstream.MsgIDHeader))
	assert.Equal(t, committed.CorrelationID, msg.Header.Get(outbox.HeaderCorrelationID))
	assert.Equal(t, "OrderCreated", msg.Header.Get(outbox.HeaderEventType))
	got, err := events.Decode(msg.Data)
	require.NoError(t, err)
	assert.Equal(t, committed.ID, got.ID)
}

func TestConcurrentOutOfOrderCommitsAreAllPublishedOnce(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	// Two relays, as two replicas would run; SKIP LOCKED keeps them off each other's rows.
	f.relay(t, outbox.Options{Batch: 64})
	f.relay(t, outbox.Options{Batch: 64})
	ctx := t.Context()

	const total, writers = 1000, 16
	ids := make(chan string, total)
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := w; i < total; i += writers {
				env := newOrderEvent(t)
				err := pgx.BeginFunc(ctx, f.pool, func(tx pgx.Tx) error {
					if err := outbox.Record(ctx, tx, env); err != nil {
						return err
					}
					// Hold the transaction open a random while: later ids commit first.
					time.Sleep(time.Duration(rand.IntN(3000)) * time.Microsecond)
					return nil
				})
				if !assert.NoError(t, err) {
					return
				}
				ids <- env.ID
			}
		})
	}
	wg.Wait()
	close(ids)
	f.waitPublished(t, total, 30*time.Second)
	require.EqualValues(t, total, f.streamMsgs(t), "no event published twice")

	want := map[string]bool{}
	for id := range ids {
		want[id] = true
	}
	got := map[string]bool{}
	for seq := uint64(1); seq <= total; seq++ {
		msg, err := f.stream.GetMsg(ctx, seq)
		require.NoError(t, err)
		got[msg.Header.Get(jetstream.MsgIDHeader)] = true
	}
	assert.Equal(t, want, got)
}

func TestACrashBetweenPublishAndMarkLeavesAStreamDuplicateFree(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := t.Context()
	env := f.placeOrder(ctx, t, false)

	// The first relay dies right after JetStream acknowledged, before it marks the row.
	crashCtx, crash := context.WithCancel(ctx)
	first := outbox.NewRelay(f.pool, f.js, "shop", quiet, outbox.Options{})
	outbox.SetAfterPublish(first, crash)
	require.NoError(t, first.Run(crashCtx))
	require.EqualValues(t, 1, f.streamMsgs(t), "the event reached the stream")
	require.EqualValues(t, 1, f.unpublished(t), "but its row is still unpublished")

	// The restarted relay publishes it again; JetStream drops the duplicate by its id.
	f.relay(t, outbox.Options{})
	f.waitPublished(t, 1, 5*time.Second)
	assert.EqualValues(t, 1, f.streamMsgs(t))
	msg, err := f.stream.GetMsg(ctx, 1)
	require.NoError(t, err)
	assert.Equal(t, env.ID, msg.Header.Get(jetstream.MsgIDHeader))

	// Downstream, a consumer applies it exactly once.
	next := f.placeOrder(ctx, t, false)
	f.project(t)
	require.Eventually(t, func() bool { return f.projected(t) == 2 }, 5*time.Second, 10*time.Millisecond)
	time.Sleep(100 * time.Millisecond)
	assert.Equal(t, 2, f.projected(t), "the crashed event and the next one, each once")
	assert.NotEqual(t, env.ID, next.ID)
}

func TestEventsWaitWhileNATSIsAwayAndAllArriveAfter(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	r := f.relay(t, outbox.Options{Sweep: 50 * time.Millisecond, AckTimeout: 500 * time.Millisecond,
		Backoff: backoff.Policy{Initial: 50 * time.Millisecond, Max: 200 * time.Millisecond}})
	ctx := t.Context()

	f.nats.Stop()
	const n = 50
	for range n {
		f.placeOrder(ctx, t, false)
	}
	time.Sleep(700 * time.Millisecond) // the relay tries and fails meanwhile
	lag, err := r.Lag(ctx)
	require.NoError(t, err)
	assert.EqualValues(t, n, lag.Unpublished, "every event waits in the outbox")
	assert.Positive(t, lag.OldestAge)

	f.nats.Start()
	f.waitPublished(t, n, 20*time.Second)
	assert.EqualValues(t, n, f.streamMsgs(t))
	lag, err = r.Lag(ctx)
	require.NoError(t, err)
	assert.Equal(t, outbox.Lag{}, lag)
}

func TestRecordRefusesAnInvalidEnvelope(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	env := newOrderEvent(t)
	env.Type = "OrderShipped"
	err := pgx.BeginFunc(t.Context(), f.pool, func(tx pgx.Tx) error { return outbox.Record(t.Context(), tx, env) })
	require.ErrorIs(t, err, events.ErrUnknownType)
	assert.Zero(t, f.unpublished(t))
}
