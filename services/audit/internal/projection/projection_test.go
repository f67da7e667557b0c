package projection_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/caasdemo/orderdemo/events"
	"github.com/caasdemo/orderdemo/services/audit/internal/migrations"
	"github.com/caasdemo/orderdemo/services/audit/internal/projection"
	"github.com/caasdemo/orderdemo/services/platform/config"
	"github.com/caasdemo/orderdemo/services/platform/postgres"
	"github.com/caasdemo/orderdemo/services/platform/testenv"
)

func openDB(t *testing.T) *pgxpool.Pool {
	t.Helper()
	pool, err := postgres.Open(t.Context(), postgres.Config{URL: config.URL(testenv.PostgresURL(t)), ConnectTimeout: 5 * time.Second, MaxConns: 4, CallTimeout: testenv.DatabaseCallTimeout},
		"audit-test", "audit", slog.New(slog.NewTextHandler(io.Discard, nil)), postgres.Migrations{FS: migrations.FS})
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	for _, table := range projection.Live.Of(projection.Set{AuditLog: true, Orders: true}) {
		_, err := pool.Exec(t.Context(), fmt.Sprintf("CREATE TABLE %s_rebuild (LIKE %s INCLUDING ALL)", table, table))
		require.NoError(t, err)
	}
	return pool
}

// history makes a plausible stream of about n events: registrations, logins, orders and
// their decisions (some decided twice: the later version wins), each with its stream sequence.
func history(rng *rand.Rand, n int) []projection.Record {
	var recs []projection.Record
	seq := map[string]uint64{}
	add := func(stream string, p events.Payload, version int64, at time.Time) {
		env, err := events.New(p, events.Metadata{Source: "test", CorrelationID: "req", AggregateVersion: version, Time: at})
		if err != nil {
			panic(err)
		}
		raw, _ := events.Encode(env)
		seq[stream]++
		rec, err := projection.NewRecord(raw, stream, seq[stream])
		if err != nil {
			panic(err)
		}
		recs = append(recs, rec)
	}
	now := time.Date(2026, 11, 29, 8, 0, 0, 0, time.UTC)
	var users []events.UserRegistered
	for i := range 2 + rng.IntN(4) {
		u := events.UserRegistered{UserID: events.NewID(), Username: fmt.Sprintf("user%d", i), IsAdmin: i == 0}
		users = append(users, u)
		add("AUTH", u, 1, now)
	}
	admin := users[0]
	for i := range n {
		at := now.Add(time.Duration(i) * time.Minute)
		u := users[rng.IntN(len(users))]
		switch rng.IntN(4) {
		case 0:
			add("AUTH", events.UserLoginFailed{Username: u.Username, UserID: u.UserID, Reason: events.ReasonBadPassword}, 2, at)
		case 1:
			add("AUTH", events.UserLoggedIn{UserID: u.UserID, Username: u.Username}, 2, at)
		default:
			o := events.OrderCreated{OrderID: events.NewID(), UserID: u.UserID, Username: u.Username, ItemName: "item",
				Quantity: 1 + rng.IntN(100), Status: "pending", CreatedAt: at}
			add("ORDERS", o, 1, at)
			for version := range int64(rng.IntN(3)) {
				d := events.OrderDecision{OrderID: o.OrderID, UserID: u.UserID, AdminID: admin.UserID, AdminUsername: admin.Username,
					DecidedAt: at.Add(time.Duration(1+rng.IntN(600)) * time.Second)}
				if rng.IntN(2) == 0 {
					add("ORDERS", events.OrderApproved(d), 2+version, d.DecidedAt)
				} else {
					add("ORDERS", events.OrderRejected(d), 2+version, d.DecidedAt)
				}
			}
		}
	}
	return recs
}

func dump(t *testing.T, pool *pgxpool.Pool, tables projection.Tables) string {
	t.Helper()
	var b strings.Builder
	for _, q := range []string{
		`SELECT event_id, event_type, actor_id, actor_username, subject, occurred_at, correlation_id, stream, stream_seq, event FROM %s ORDER BY event_id`,
		`SELECT * FROM %s ORDER BY order_id`,
		`SELECT * FROM %s ORDER BY user_id`,
	} {
		table := []string{tables.AuditLog, tables.OrdersView, tables.UsersView}[strings.Count(b.String(), "\n---\n")]
		rows, err := pool.Query(t.Context(), fmt.Sprintf(q, table))
		require.NoError(t, err)
		vals, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (string, error) {
			v, err := r.Values()
			return fmt.Sprint(v), err
		})
		require.NoError(t, err)
		b.WriteString(strings.Join(vals, "\n") + "\n---\n")
	}
	return b.String()
}

func apply(t *testing.T, pool *pgxpool.Pool, tables projection.Tables, recs []projection.Record) {
	t.Helper()
	err := pgx.BeginFunc(context.Background(), pool, func(tx pgx.Tx) error {
		return projection.Apply(t.Context(), tx, tables, projection.Set{AuditLog: true, Orders: true}, recs)
	})
	require.NoError(t, err)
}

// Property: whatever the duplicates and the order of delivery, applying events one at a time
// to the live tables gives exactly the rows a rebuild from the stream in order gives.
func TestLiveWithDuplicatesAndReorderingEqualsRebuild(t *testing.T) {
	t.Parallel()
	for seed := range uint64(12) {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			t.Parallel()
			rng := rand.New(rand.NewPCG(seed, 42))
			pool := openDB(t)
			recs := history(rng, 5+rng.IntN(20))

			for _, r := range deliver(rng, recs) {
				apply(t, pool, projection.Live, []projection.Record{r})
			}
			for start := 0; start < len(recs); start += 7 {
				apply(t, pool, projection.Rebuild, recs[start:min(start+7, len(recs))])
			}

			live, rebuilt := dump(t, pool, projection.Live), dump(t, pool, projection.Rebuild)
			for i, part := range strings.Split(rebuilt, "\n---\n")[:3] {
				require.NotEmpty(t, strings.TrimSpace(part), "table %d of the rebuild is empty", i)
			}
			assert.Equal(t, rebuilt, live)
		})
	}
}

// deliver repeats each event one to three times and shuffles them all, as redeliveries and
// concurrent consumers would.
func deliver(rng *rand.Rand, recs []projection.Record) []projection.Record {
	var delivered []projection.Record
	for _, r := range recs {
		for range 1 + rng.IntN(3) {
			delivered = append(delivered, r)
		}
	}
	rng.Shuffle(len(delivered), func(i, j int) { delivered[i], delivered[j] = delivered[j], delivered[i] })
	return delivered
}

// Property: whatever the duplicates, the order of delivery and the cut into batches,
// ApplyBulk (a replay's writer: COPY, creations and decisions merged) gives exactly the rows
// Apply gives one event at a time (the live consumers' writer).
func TestApplyBulkWritesWhatApplyWrites(t *testing.T) {
	t.Parallel()
	for seed := range uint64(8) {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			t.Parallel()
			rng := rand.New(rand.NewPCG(seed, 7))
			pool := openDB(t)
			delivered := deliver(rng, history(rng, 20+rng.IntN(60)))
			for _, r := range delivered {
				apply(t, pool, projection.Live, []projection.Record{r})
			}
			for start := 0; start < len(delivered); {
				end := min(start+1+rng.IntN(40), len(delivered))
				err := pgx.BeginFunc(t.Context(), pool, func(tx pgx.Tx) error {
					return projection.ApplyBulk(t.Context(), tx, projection.Rebuild, projection.Set{AuditLog: true, Orders: true}, delivered[start:end])
				})
				require.NoError(t, err)
				start = end
			}

			live, rebuilt := dump(t, pool, projection.Live), dump(t, pool, projection.Rebuild)
			for i, part := range strings.Split(rebuilt, "\n---\n")[:3] {
				require.NotEmpty(t, strings.TrimSpace(part), "table %d of the rebuild is empty", i)
			}
			assert.Equal(t, live, rebuilt)
		})
	}
}

func TestStatsAreDerivedFromTheRows(t *testing.T) {
	t.Parallel()
	pool := openDB(t)
	now := time.Now().UTC()
	u := events.UserRegistered{UserID: events.NewID(), Username: "alice"}
	admin := events.UserRegistered{UserID: events.NewID(), Username: "root", IsAdmin: true}
	mk := func(stream string, seq uint64, p events.Payload, v int64) projection.Record {
		env, err := events.New(p, events.Metadata{Source: "test", AggregateVersion: v, Time: now})
		require.NoError(t, err)
		raw, _ := events.Encode(env)
		rec, err := projection.NewRecord(raw, stream, seq)
		require.NoError(t, err)
		return rec
	}
	order := func(id string) events.OrderCreated {
		return events.OrderCreated{OrderID: id, UserID: u.UserID, Username: "alice", ItemName: "x", Quantity: 1, Status: "pending", CreatedAt: now.Add(-time.Hour)}
	}
	o1, o2, o3 := events.NewID(), events.NewID(), events.NewID()
	decision := func(id string) events.OrderDecision {
		return events.OrderDecision{OrderID: id, UserID: u.UserID, AdminID: admin.UserID, AdminUsername: "root", DecidedAt: now}
	}
	recs := []projection.Record{
		mk("AUTH", 1, u, 1), mk("AUTH", 2, admin, 1),
		mk("AUTH", 3, events.UserLoginFailed{Username: "ghost", Reason: events.ReasonUnknownUser}, 1),
		mk("ORDERS", 1, order(o1), 1), mk("ORDERS", 2, order(o2), 1), mk("ORDERS", 3, order(o3), 1),
		mk("ORDERS", 4, events.OrderApproved(decision(o1)), 2), mk("ORDERS", 5, events.OrderRejected(decision(o2)), 2),
	}
	apply(t, pool, projection.Live, recs)
	apply(t, pool, projection.Live, recs) // delivered twice: the same statistics

	s, err := projection.ReadStats(t.Context(), pool)
	require.NoError(t, err)
	assert.EqualValues(t, 3, s.TotalOrders)
	assert.EqualValues(t, 1, s.Pending)
	assert.EqualValues(t, 1, s.Approved)
	assert.EqualValues(t, 1, s.Rejected)
	require.NotNil(t, s.ApprovalRate)
	assert.InDelta(t, 0.5, *s.ApprovalRate, 1e-9)
	require.NotNil(t, s.AvgDecisionSeconds)
	assert.InDelta(t, 3600, *s.AvgDecisionSeconds, 1)
	assert.EqualValues(t, 2, s.RegisteredUsers)
	assert.EqualValues(t, 1, s.FailedLogins24h)
	require.Len(t, s.OrdersPerDay, 14)
	var sum int64
	for _, d := range s.OrdersPerDay {
		sum += d.Orders
	}
	assert.EqualValues(t, 3, sum)
}
