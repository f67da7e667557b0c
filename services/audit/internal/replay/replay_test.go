package replay_test

import (
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/caasdemo/orderdemo/events"
	"github.com/caasdemo/orderdemo/services/audit/internal/migrations"
	"github.com/caasdemo/orderdemo/services/audit/internal/projection"
	"github.com/caasdemo/orderdemo/services/audit/internal/replay"
	"github.com/caasdemo/orderdemo/services/platform/config"
	"github.com/caasdemo/orderdemo/services/platform/consumer"
	"github.com/caasdemo/orderdemo/services/platform/natsconn"
	"github.com/caasdemo/orderdemo/services/platform/postgres"
	"github.com/caasdemo/orderdemo/services/platform/testenv"
)

// env is a replayer on a fresh database and a fresh JetStream server with the event streams,
// and no live consumers: a test fills the live tables itself, or leaves them empty.
type env struct {
	t    *testing.T
	pool *pgxpool.Pool
	js   jetstream.JetStream
	r    *replay.Replayer
}

func newEnv(t *testing.T) *env {
	t.Helper()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	pool, err := postgres.Open(t.Context(), postgres.Config{URL: config.URL(testenv.PostgresURL(t)), ConnectTimeout: 5 * time.Second, MaxConns: 8, CallTimeout: testenv.DatabaseCallTimeout},
		"audit", "audit", log, postgres.Migrations{FS: migrations.FS}, consumer.Migrations)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	nc, js, err := natsconn.Connect(t.Context(), natsconn.Config{URL: config.URL(testenv.NATS(t)), ConnectTimeout: time.Second}, "replay-test", log)
	require.NoError(t, err)
	t.Cleanup(nc.Close)
	for _, s := range events.Streams() {
		_, err := natsconn.EnsureStream(t.Context(), js, s)
		require.NoError(t, err)
	}
	return &env{t: t, pool: pool, js: js, r: replay.New(pool, js, nil, log)}
}

// publish puts each envelope on its stream as a message of its own, without a message id,
// so that one published twice is in the stream twice (a producer retrying after the
// deduplication window), and returns the records the stream now has, in stream order.
func (e *env) publish(envs ...events.Envelope) []projection.Record {
	e.t.Helper()
	var recs []projection.Record
	for _, env := range envs {
		raw, err := events.Encode(env)
		require.NoError(e.t, err)
		subject, err := env.NATSSubject()
		require.NoError(e.t, err)
		ack, err := e.js.Publish(e.t.Context(), subject, raw)
		require.NoError(e.t, err)
		rec, err := projection.NewRecord(raw, ack.Stream, ack.Sequence)
		require.NoError(e.t, err)
		recs = append(recs, rec)
	}
	return recs
}

func event(t *testing.T, p events.Payload, version int64) events.Envelope {
	t.Helper()
	env, err := events.New(p, events.Metadata{Source: "test", CorrelationID: "req", AggregateVersion: version})
	require.NoError(t, err)
	return env
}

// schema describes the live tables as the catalog has them: columns with their types,
// nullability and defaults, constraints and indexes with their names and definitions; and
// every table of the schema, so that nothing a replay made is left behind.
func (e *env) schema() string {
	e.t.Helper()
	var b strings.Builder
	for _, q := range []string{
		`SELECT tablename FROM pg_tables WHERE schemaname = current_schema() ORDER BY 1`,
		`SELECT c.relname, a.attnum, a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull, coalesce(pg_get_expr(d.adbin, d.adrelid), '')
			FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
			LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
			WHERE c.relname IN ('audit_log', 'orders_view', 'users_view') AND c.relnamespace = current_schema()::regnamespace
				AND a.attnum > 0 AND NOT a.attisdropped
			ORDER BY 1, 2`,
		`SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) FROM pg_constraint
			WHERE conrelid IN ('audit_log'::regclass, 'orders_view'::regclass, 'users_view'::regclass) ORDER BY 1, 2`,
		`SELECT tablename, indexname, indexdef FROM pg_indexes
			WHERE schemaname = current_schema() AND tablename IN ('audit_log', 'orders_view', 'users_view') ORDER BY 1, 2`,
	} {
		rows, err := e.pool.Query(e.t.Context(), q)
		require.NoError(e.t, err)
		lines, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (string, error) {
			v, err := r.Values()
			return strings.TrimSuffix(fmt.Sprintln(v...), "\n"), err
		})
		require.NoError(e.t, err)
		b.WriteString(strings.Join(lines, "\n") + "\n--\n")
	}
	return b.String()
}

// The rebuilt tables are loaded with only their unique indexes and get the others
// afterwards; what is swapped in must still be exactly what was live, index names included.
func TestAReplaySwapsInTablesDefinedLikeTheLiveOnes(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	user, admin, order := events.NewID(), events.NewID(), events.NewID()
	e.publish(
		event(t, events.UserRegistered{UserID: admin, Username: "root", IsAdmin: true}, 1),
		event(t, events.UserRegistered{UserID: user, Username: "alice"}, 1),
		event(t, events.UserLoginFailed{Username: "mallory", Reason: events.ReasonUnknownUser}, 1),
		event(t, events.OrderCreated{OrderID: order, UserID: user, Username: "alice", ItemName: "x", Quantity: 1, Status: "pending", CreatedAt: time.Now()}, 1),
		event(t, events.OrderApproved{OrderID: order, UserID: user, AdminID: admin, AdminUsername: "root", DecidedAt: time.Now()}, 2),
	)
	// Indexes the migrations do not make, which a replay must carry over all the same: a
	// partial one, a unique one that is not a constraint, and one renamed.
	for _, q := range []string{
		`CREATE INDEX audit_log_correlation_idx ON audit_log (correlation_id) WHERE correlation_id IS NOT NULL`,
		`CREATE UNIQUE INDEX users_view_username_key ON users_view (lower(username))`,
		`ALTER INDEX orders_view_created_idx RENAME TO orders_by_creation`,
	} {
		_, err := e.pool.Exec(t.Context(), q)
		require.NoError(t, err)
	}
	before := e.schema()
	require.Contains(t, before, "audit_log_occurred_idx CREATE INDEX audit_log_occurred_idx ON audit.audit_log USING btree (occurred_at DESC)")
	require.Contains(t, before, "audit_log_stream_stream_seq_key UNIQUE (stream, stream_seq)")

	for i, name := range []string{"all", "audit-log", "orders", "all"} {
		p, err := e.r.Run(t.Context(), name, true, func(replay.Progress) {})
		require.NoError(t, err, name)
		if i > 0 { // the first fills the live tables, which no consumer has
			assert.Empty(t, p.Differences, name)
		}
		assert.Equal(t, before, e.schema(), "after a replay of %s", name)
	}
	var n int
	require.NoError(t, e.pool.QueryRow(t.Context(), `SELECT count(*) FROM audit_log`).Scan(&n))
	assert.Equal(t, 5, n)
}

// A stream may have an event twice (a producer's retry after the deduplication window), a
// decision before its creation, or a stale decision after a newer one. The live consumers,
// which apply one event at a time, and a replay, which copies and merges thousands at a
// time, must still end with the same rows.
func TestAReplayOfRepeatedAndReorderedEventsGivesTheLiveRows(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	admin := events.NewID()
	var envs []events.Envelope
	add := func(p events.Payload, version int64) events.Envelope {
		env := event(t, p, version)
		envs = append(envs, env)
		return env
	}
	registered := add(events.UserRegistered{UserID: admin, Username: "root", IsAdmin: true}, 1)
	envs = append(envs, registered)
	// Orders decided out of order: the later decision (version 3) first, then the creation
	// and the earlier decision, within one batch of the replay, or across two (the orders
	// stream has 2,000 events a batch).
	late := func(gap int) {
		o, u := events.NewID(), events.NewID()
		add(events.OrderRejected{OrderID: o, UserID: u, AdminID: admin, AdminUsername: "root", DecidedAt: time.Now()}, 3)
		for range gap {
			add(events.OrderCreated{OrderID: events.NewID(), UserID: u, Username: "filler", ItemName: "x", Quantity: 1, Status: "pending", CreatedAt: time.Now()}, 1)
		}
		add(events.OrderCreated{OrderID: o, UserID: u, Username: "late", ItemName: "x", Quantity: 1, Status: "pending", CreatedAt: time.Now()}, 1)
		add(events.OrderApproved{OrderID: o, UserID: u, AdminID: admin, AdminUsername: "root", DecidedAt: time.Now()}, 2)
	}
	late(0)
	// Orders created and decided in order, some events of which are published again: next
	// to the first, and in the next batch.
	var again []events.Envelope
	for i := range 600 {
		o, u := events.NewID(), events.NewID()
		created := add(events.OrderCreated{OrderID: o, UserID: u, Username: fmt.Sprint("user", i), ItemName: "x", Quantity: 1, Status: "pending", CreatedAt: time.Now()}, 1)
		decided := add(events.OrderApproved{OrderID: o, UserID: u, AdminID: admin, AdminUsername: "root", DecidedAt: time.Now()}, 2)
		switch i % 100 {
		case 0:
			envs = append(envs, created)
		case 1:
			again = append(again, decided, created)
		}
	}
	late(2100)
	envs = append(envs, again...)
	distinct := map[string]bool{}
	for _, env := range envs {
		distinct[env.ID] = true
	}
	recs := e.publish(envs...)

	// The live consumers' way: each event in stream order, in a transaction of its own.
	for _, rec := range recs {
		err := pgx.BeginFunc(t.Context(), e.pool, func(tx pgx.Tx) error {
			return projection.Apply(t.Context(), tx, projection.Live, projection.Set{AuditLog: true, Orders: true}, []projection.Record{rec})
		})
		require.NoError(t, err)
	}
	p, err := e.r.Run(t.Context(), "all", true, func(replay.Progress) {})
	require.NoError(t, err)
	assert.Empty(t, p.Differences)
	assert.EqualValues(t, len(recs), p.Done)
	var entries, rejected int
	require.NoError(t, e.pool.QueryRow(t.Context(), `SELECT count(*) FROM audit_log`).Scan(&entries))
	require.NoError(t, e.pool.QueryRow(t.Context(), `SELECT count(*) FROM orders_view WHERE status = 'rejected' AND version = 3`).Scan(&rejected))
	assert.Len(t, distinct, entries, "one entry per event")
	assert.Equal(t, 2, rejected, "the later decision stands")
}

// Messages that cannot be applied — one whose ids are not UUIDs, which the database refuses,
// and one that does not decode — are parked by the live consumers; a replay skips them the
// same way, in the rebuild and in the catch-up under the swap lock alike, applies everything
// around them, counts and lists them, and finds no difference with the live projection.
func TestAReplaySkipsWhatCannotBeAppliedAndVerifiesClean(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	user, order := events.NewID(), events.NewID()
	poison := func() events.Envelope {
		return event(t, events.OrderCreated{OrderID: "not-a-uuid", UserID: "nobody", Username: "mallory", ItemName: "x",
			Quantity: 1, Status: "pending", CreatedAt: time.Now()}, 1)
	}
	first := poison()
	recs := e.publish(
		event(t, events.UserRegistered{UserID: user, Username: "alice"}, 1),
		first,
		event(t, events.OrderCreated{OrderID: order, UserID: user, Username: "alice", ItemName: "x", Quantity: 1, Status: "pending", CreatedAt: time.Now()}, 1),
	)
	_, err := e.js.Publish(t.Context(), "orders.created.junk.junk", []byte("not an event"))
	require.NoError(t, err)

	// The live consumers' way: each event on its own; one refused is parked, leaving nothing.
	all := projection.Set{AuditLog: true, Orders: true}
	for _, rec := range recs {
		err := pgx.BeginFunc(t.Context(), e.pool, func(tx pgx.Tx) error {
			return projection.Apply(t.Context(), tx, projection.Live, all, []projection.Record{rec})
		})
		if rec.Env.ID == first.ID {
			require.Error(t, err, "the database refuses it")
		} else {
			require.NoError(t, err)
		}
	}

	late := poison() // arrives while the replay verifies: read by the catch-up
	p, err := e.r.Run(t.Context(), "all", true, func(p replay.Progress) {
		if p.State == "verifying" {
			e.publish(late)
		}
	})
	require.NoError(t, err, "a message that cannot be applied does not stop the replay")
	assert.Empty(t, p.Differences, "the live projection parked the same messages")
	assert.EqualValues(t, 3, p.Skipped)
	listed := strings.Join(p.SkippedMessages, "\n")
	assert.Len(t, p.SkippedMessages, 3)
	assert.Contains(t, listed, "ORDERS #1: event "+first.ID+" (OrderCreated) cannot be applied: audit log: ERROR: invalid input syntax for type uuid")
	assert.Contains(t, listed, "ORDERS #3: undecodable:")
	assert.Contains(t, listed, "ORDERS #4: event "+late.ID+" (OrderCreated) cannot be applied:")
	assert.Equal(t, p.Total, p.Done, "skipped messages count as done")

	var entries, orders int
	require.NoError(t, e.pool.QueryRow(t.Context(), `SELECT count(*) FROM audit_log`).Scan(&entries))
	require.NoError(t, e.pool.QueryRow(t.Context(), `SELECT count(*) FROM orders_view`).Scan(&orders))
	assert.Equal(t, 2, entries, "the registration and the good order")
	assert.Equal(t, 1, orders)

	last, err := e.r.Last(t.Context())
	require.NoError(t, err)
	assert.EqualValues(t, 3, last.Skipped, "the report is kept")
	assert.Equal(t, p.SkippedMessages, last.SkippedMessages)
}
