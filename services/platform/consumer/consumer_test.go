package consumer_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"testing/fstest"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/caasdemo/orderdemo/events"
	"github.com/caasdemo/orderdemo/services/platform/config"
	"github.com/caasdemo/orderdemo/services/platform/consumer"
	"github.com/caasdemo/orderdemo/services/platform/natsconn"
	"github.com/caasdemo/orderdemo/services/platform/postgres"
	"github.com/caasdemo/orderdemo/services/platform/telemetry"
	"github.com/caasdemo/orderdemo/services/platform/telemetry/metricstest"
	"github.com/caasdemo/orderdemo/services/platform/testenv"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// fixture is a consuming service in miniature: a projection table counting applied events.
type fixture struct {
	pool    *pgxpool.Pool
	js      jetstream.JetStream
	runner  *consumer.Runner
	metrics *httptest.Server // GET /metrics of the runner's meter provider
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	ctx := t.Context()
	own := postgres.Migrations{FS: fstest.MapFS{"00001_applied.sql": {Data: []byte(
		"-- +goose Up\nCREATE TABLE applied (event_id uuid NOT NULL, order_id uuid NOT NULL);\n")}}}
	pool, err := postgres.Open(ctx, postgres.Config{URL: config.URL(testenv.PostgresURL(t)), ConnectTimeout: 5 * time.Second, MaxConns: 8, CallTimeout: testenv.DatabaseCallTimeout},
		"proj", "proj", quiet, own, consumer.Migrations)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	nc, js, err := natsconn.Connect(ctx, natsconn.Config{URL: config.URL(testenv.NATS(t)), ConnectTimeout: 5 * time.Second}, "proj", quiet)
	require.NoError(t, err)
	t.Cleanup(nc.Close)
	_, err = natsconn.EnsureStream(ctx, js, events.OrdersStream)
	require.NoError(t, err)
	m, err := telemetry.OpenMetrics("proj", telemetry.MetricsConfig{}, quiet)
	require.NoError(t, err)
	t.Cleanup(m.Close)
	metrics := httptest.NewServer(m.Handler())
	t.Cleanup(metrics.Close)
	return &fixture{pool: pool, js: js, runner: consumer.NewRunner(pool, js, quiet, m), metrics: metrics}
}

// requireConsumed waits until the deliveries of the projection consumer on ORDERS counted by
// outcome are want (outcomes not in want: none). A delivery is counted a moment after its
// effect is visible, so the test waits for the counts rather than reading them once.
func (f *fixture) requireConsumed(t *testing.T, want map[consumer.Outcome]float64) {
	t.Helper()
	read := func() map[consumer.Outcome]float64 {
		m := metricstest.Scrape(t, f.metrics.URL+telemetry.Path)
		got := map[consumer.Outcome]float64{}
		for _, outcome := range []consumer.Outcome{consumer.Applied, consumer.Duplicate, consumer.Failed, consumer.Parked} {
			if n := m.Value("messaging_client_consumed_messages_total",
				"messaging_system", "nats", "messaging_operation_name", "process", "messaging_destination_name", "ORDERS",
				"messaging_consumer_group_name", "projection", "caas_consumer_outcome", string(outcome)); n != 0 {
				got[outcome] = n
			}
		}
		return got
	}
	if !assert.Eventually(t, func() bool { return assert.ObjectsAreEqual(want, read()) }, 5*time.Second, 10*time.Millisecond) {
		require.Equal(t, want, read(), "deliveries counted by outcome")
	}
}

// run runs the consumer until the test ends.
func (f *fixture) run(t *testing.T, spec consumer.Spec) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.WithoutCancel(t.Context()))
	done := make(chan error, 1)
	go func() { done <- f.runner.Run(ctx, spec) }()
	t.Cleanup(func() {
		cancel()
		assert.NoError(t, <-done)
	})
}

// project is a handler that records the event in the applied table.
func project(ctx context.Context, tx pgx.Tx, ev events.Envelope, _ consumer.Delivery) error {
	_, err := tx.Exec(ctx, `INSERT INTO applied (event_id, order_id) VALUES ($1, $2)`, ev.ID, ev.Subject)
	return err
}

func (f *fixture) publish(t *testing.T, env events.Envelope, msgID string) {
	t.Helper()
	b, err := events.Encode(env)
	require.NoError(t, err)
	subject, err := env.NATSSubject()
	require.NoError(t, err)
	msg := nats.NewMsg(subject)
	msg.Data = b
	if msgID != "" {
		msg.Header.Set(jetstream.MsgIDHeader, msgID)
	}
	_, err = f.js.PublishMsg(t.Context(), msg)
	require.NoError(t, err)
}

func (f *fixture) count(t *testing.T, query string, args ...any) int {
	t.Helper()
	var n int
	require.NoError(t, f.pool.QueryRow(t.Context(), query, args...).Scan(&n))
	return n
}

func orderEvent(t *testing.T) events.Envelope {
	t.Helper()
	env, err := events.New(events.OrderCreated{OrderID: events.NewID(), UserID: events.NewID(), Username: "alice",
		ItemName: "widget", Quantity: 1, Status: "pending", CreatedAt: time.Now()},
		events.Metadata{Source: "order", AggregateVersion: 1})
	require.NoError(t, err)
	return env
}

var fast = []time.Duration{10 * time.Millisecond, 20 * time.Millisecond}

func TestTheSameEventDeliveredTwiceHasOneEffect(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	env := orderEvent(t)
	// Two stream messages carrying one event (as a republish outside the duplicate window
	// would leave), and another event after them.
	f.publish(t, env, "first-copy")
	f.publish(t, env, "second-copy")
	last := orderEvent(t)
	f.publish(t, last, "")
	f.run(t, consumer.Spec{Stream: "ORDERS", Durable: "projection", Backoff: fast, Handle: project})

	require.Eventually(t, func() bool { return f.count(t, `SELECT count(*) FROM applied WHERE event_id = $1`, last.ID) == 1 },
		5*time.Second, 10*time.Millisecond)
	assert.Equal(t, 1, f.count(t, `SELECT count(*) FROM applied WHERE event_id = $1`, env.ID))
	assert.Equal(t, 2, f.count(t, `SELECT count(*) FROM processed_events WHERE consumer = 'projection'`))
	f.requireConsumed(t, map[consumer.Outcome]float64{consumer.Applied: 2, consumer.Duplicate: 1})
}

func TestAFailingMessageIsParkedAndTheOthersFlow(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	var broken atomic.Bool
	broken.Store(true)
	var panicked atomic.Int32
	var envs []events.Envelope
	for range 10 {
		envs = append(envs, orderEvent(t))
	}
	poison, flaky := envs[3], envs[6]
	spec := consumer.Spec{Stream: "ORDERS", Durable: "projection", MaxAttempts: 3, Backoff: fast,
		Handle: func(ctx context.Context, tx pgx.Tx, ev events.Envelope, d consumer.Delivery) error {
			if ev.ID == poison.ID && broken.Load() {
				return errors.New("projection bug: cannot apply")
			}
			if ev.ID == flaky.ID && d.Deliveries == 1 {
				panicked.Add(1)
				panic("flaky handler")
			}
			return project(ctx, tx, ev, d)
		}}
	for _, env := range envs {
		f.publish(t, env, env.ID)
	}
	f.run(t, spec)

	require.Eventually(t, func() bool {
		return f.count(t, `SELECT count(*) FROM dead_letters`) == 1 && f.count(t, `SELECT count(*) FROM applied`) == 9
	}, 10*time.Second, 20*time.Millisecond)
	assert.EqualValues(t, 1, panicked.Load(), "the panic was recovered and the message applied on its next delivery")
	// Failed: the poison's first two deliveries and the flaky one's first.
	f.requireConsumed(t, map[consumer.Outcome]float64{consumer.Applied: 9, consumer.Failed: 3, consumer.Parked: 1})
	durable := []string{"messaging_system", "nats", "messaging_destination_name", "ORDERS", "messaging_consumer_group_name", "projection"}
	m := metricstest.Scrape(t, f.metrics.URL+telemetry.Path)
	assert.Equal(t, 3.0, m.Value("caas_consumer_redeliveries_total", durable...), "the poison's second and third deliveries, the flaky one's second")
	assert.Equal(t, 1.0, m.Value("caas_consumer_dead_letters", durable...))
	const applies = "messaging_process_duration_seconds_count"
	process := append([]string{"messaging_operation_name", "process"}, durable...)
	assert.Equal(t, 13.0, m.Value(applies, process...), "ten first deliveries and three redeliveries, each applied once")
	assert.Equal(t, 4.0, m.Value(applies, append(process, "error_type", "_OTHER")...), "the poison three times, the panic once")

	parked, err := f.runner.Parked(t.Context(), "projection", 10)
	require.NoError(t, err)
	require.Len(t, parked, 1)
	assert.Equal(t, poison.ID, parked[0].EventID)
	assert.Equal(t, "OrderCreated", parked[0].EventType)
	assert.Equal(t, 3, parked[0].Deliveries)
	assert.Contains(t, parked[0].Error, "projection bug")

	// Once the cause is fixed an admin re-drives it: applied once, no longer parked.
	broken.Store(false)
	require.NoError(t, f.runner.Redrive(t.Context(), spec, parked[0].ID))
	assert.Equal(t, 1, f.count(t, `SELECT count(*) FROM applied WHERE event_id = $1`, poison.ID))
	parked, err = f.runner.Parked(t.Context(), "projection", 10)
	require.NoError(t, err)
	assert.Empty(t, parked)
	assert.Equal(t, 0.0, metricstest.Scrape(t, f.metrics.URL+telemetry.Path).Value("caas_consumer_dead_letters", durable...),
		"a re-driven message is no longer open")
	assert.ErrorIs(t, f.runner.Redrive(t.Context(), spec, 999), consumer.ErrNotParked)
}

func TestAnUndecodableMessageIsParkedAtOnce(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	_, err := f.js.Publish(t.Context(), "orders.created.x.y", []byte(`{"specversion":"0.3"}`))
	require.NoError(t, err)
	good := orderEvent(t)
	f.publish(t, good, "")
	f.run(t, consumer.Spec{Stream: "ORDERS", Durable: "projection", Backoff: fast, Handle: project})

	require.Eventually(t, func() bool { return f.count(t, `SELECT count(*) FROM applied`) == 1 }, 5*time.Second, 10*time.Millisecond)
	parked, err := f.runner.Parked(t.Context(), "projection", 10)
	require.NoError(t, err)
	require.Len(t, parked, 1)
	assert.Equal(t, 1, parked[0].Deliveries)
	assert.Contains(t, parked[0].Error, "undecodable")
	f.requireConsumed(t, map[consumer.Outcome]float64{consumer.Applied: 1, consumer.Parked: 1})
}

func TestConsumerConfigIsDurableExplicitAndIdempotent(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	spec := consumer.Spec{Stream: "ORDERS", Durable: "audit-orders", Subjects: []string{"orders.>"}, Handle: project}
	for range 2 { // created, then updated in place
		cons, err := f.runner.Ensure(t.Context(), spec)
		require.NoError(t, err)
		info, err := cons.Info(t.Context())
		require.NoError(t, err)
		assert.Equal(t, "audit-orders", info.Config.Durable)
		assert.Equal(t, jetstream.AckExplicitPolicy, info.Config.AckPolicy)
		assert.Equal(t, 30*time.Second, info.Config.AckWait)
	}
}

func TestCommittedIsCalledWhenTheWritesAreVisible(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	envs := []events.Envelope{orderEvent(t), orderEvent(t), orderEvent(t)}
	for _, env := range envs {
		f.publish(t, env, "")
	}
	// Each call counts the rows a reader outside the transaction sees at that moment.
	var seen atomic.Int64
	f.run(t, consumer.Spec{Stream: "ORDERS", Durable: "committed", Backoff: fast, Handle: project,
		Committed: func() {
			var n int64
			if err := f.pool.QueryRow(context.Background(), `SELECT count(*) FROM applied`).Scan(&n); err == nil {
				seen.Store(max(seen.Load(), n))
			}
		}})
	require.Eventually(t, func() bool { return seen.Load() == int64(len(envs)) }, 5*time.Second, 10*time.Millisecond,
		"after the last commit, Committed must see every applied row")
}

// TestPendingMessagesAreObserved reads the durable's lag from JetStream: three messages wait
// before the consumer runs, none once it has applied them.
func TestPendingMessagesAreObserved(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	consumer.SetLagCache(f.runner, 50*time.Millisecond)
	spec := consumer.Spec{Stream: "ORDERS", Durable: "lagging", Backoff: fast, Handle: project}
	_, err := f.runner.Ensure(t.Context(), spec)
	require.NoError(t, err)
	for range 3 {
		f.publish(t, orderEvent(t), "")
	}
	durable := []string{"messaging_system", "nats", "messaging_destination_name", "ORDERS", "messaging_consumer_group_name", "lagging"}
	scrape := func() metricstest.Snapshot { return metricstest.Scrape(t, f.metrics.URL+telemetry.Path) }
	// The published messages reach the consumer's count a moment later, so poll.
	require.Eventually(t, func() bool { return scrape().Value("caas_consumer_pending", durable...) == 3 }, 5*time.Second, 20*time.Millisecond)
	m := scrape()
	assert.Equal(t, 0.0, m.Value("caas_consumer_dead_letters", durable...), "no dead letter: 0, not absent")
	assert.Len(t, m.Series("caas_consumer_dead_letters"), 1)

	f.run(t, spec)
	require.Eventually(t, func() bool { return f.count(t, `SELECT count(*) FROM applied`) == 3 }, 5*time.Second, 10*time.Millisecond)
	require.Eventually(t, func() bool { return scrape().Value("caas_consumer_pending", durable...) == 0 }, 5*time.Second, 20*time.Millisecond)
	m = scrape()
	assert.Equal(t, 3.0, m.Value("messaging_process_duration_seconds_count", durable...))
	assert.Equal(t, 0.0, m.Value("caas_consumer_redeliveries_total", durable...))
}
