package replay_test

import (
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
			var delivered []projection.Record
			for _, r := range orderHistory(t, rng) {
				for range 1 + rng.IntN(3) {
					delivered = append(delivered, r)
				}
			}
			rng.Shuffle(len(delivered), func(i, j int) { delivered[i], delivered[j] = delivered[j], delivered[i] })

			all := projection.Set{AuditLog: true, Orders: true}
			for _, r := range delivered {
				err := pgx.BeginFunc(t.Context(), pool, func(tx pgx.Tx) error {
					return projection.Apply(t.Context(), tx, projection.Live, all, []projection.Record{r})
				})
				require.NoError(t, err)
			}
			for start := 0; start < len(delivered); {
				end := min(start+1+rng.IntN(40), len(delivered))
				err := pgx.BeginFunc(t.Context(), pool, func(tx pgx.Tx) error {
					return projection.ApplyBulk(t.Context(), tx, projection.Rebuild, all, delivered[start:end])
				})
				require.NoError(t, err)
				start = end
			}

			live, rebuilt := rows(t, pool, projection.Live), rows(t, pool, projection.Rebuild)
			for i, part := range strings.Split(rebuilt, "\n--\n")[:3] {
				require.NotEmpty(t, strings.TrimSpace(part), "table %d of the rebuild is empty", i)
			}
			assert.Equal(t, live, rebuilt)
		})
	}
}

// openDB is a fresh database with the audit tables and their rebuild tables.
func openDB(t *testing.T) *pgxpool.Pool {
	t.Helper()
	pool, err := postgres.Open(t.Context(), postgres.Config{URL: config.URL(testenv.PostgresURL(t)), ConnectTimeout: 5 * time.Second, MaxConns: 4},
		"audit-test", "audit", slog.New(slog.NewTextHandler(io.Discard, nil)), postgres.Migrations{FS: migrations.FS})
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	for _, table := range projection.Live.Of(projection.Set{AuditLog: true, Orders: true}) {
		_, err := pool.Exec(t.Context(), fmt.Sprintf("CREATE TABLE %s_rebuild (LIKE %s INCLUDING ALL)", table, table))
		require.NoError(t, err)
	}
	return pool
}

// orderHistory is a plausible stream of registrations, logins, orders and decisions, some
// decided twice (a later version overrides), each with its stream sequence.
func orderHistory(t *testing.T, rng *rand.Rand) []projection.Record {
	var recs []projection.Record
	seq := map[string]uint64{}
	add := func(stream string, p events.Payload, version int64, at time.Time) {
		env, err := events.New(p, events.Metadata{Source: "test", CorrelationID: "req", AggregateVersion: version, Time: at})
		require.NoError(t, err)
		raw, err := events.Encode(env)
		require.NoError(t, err)
		seq[stream]++
		rec, err := projection.NewRecord(raw, stream, seq[stream])
		require.NoError(t, err)
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
	for i := range 20 + rng.IntN(60) {
		at := now.Add(time.Duration(i) * time.Minute)
		u := users[rng.IntN(len(users))]
		switch rng.IntN(5) {
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

// rows is the content of the tables, every column, in key order.
func rows(t *testing.T, pool *pgxpool.Pool, tables projection.Tables) string {
	t.Helper()
	var b strings.Builder
	for _, q := range []struct{ table, order string }{
		{tables.AuditLog, "event_id"}, {tables.OrdersView, "order_id"}, {tables.UsersView, "user_id"},
	} {
		rs, err := pool.Query(t.Context(), fmt.Sprintf(`SELECT * FROM %s ORDER BY %s`, q.table, q.order))
		require.NoError(t, err)
		lines, err := pgx.CollectRows(rs, func(r pgx.CollectableRow) (string, error) {
			v, err := r.Values()
			return fmt.Sprint(v), err
		})
		require.NoError(t, err)
		b.WriteString(strings.Join(lines, "\n") + "\n--\n")
	}
	return b.String()
}
