package service_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/caasdemo/orderdemo/events"
	"github.com/caasdemo/orderdemo/services/audit/internal/replay"
)

// orderService answers GET /orders?status= like the order service, with fixed totals.
func orderService(t *testing.T, totals map[string]int) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasPrefix(r.Header.Get("Authorization"), "Bearer ") || r.URL.Path != "/orders" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		fmt.Fprintf(w, `{"orders":[],"total":%d}`, totals[r.URL.Query().Get("status")])
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// snapshot is the live projection's content, to compare before and after.
func (h *harness) snapshot() string {
	h.t.Helper()
	conn, err := pgx.Connect(context.Background(), h.env["DATABASE_URL"])
	require.NoError(h.t, err)
	defer conn.Close(context.Background())
	var b strings.Builder
	for _, q := range []string{
		`SELECT event_id, event_type, subject, stream, stream_seq FROM audit.audit_log ORDER BY event_id`,
		`SELECT order_id, status, username, version FROM audit.orders_view ORDER BY order_id`,
		`SELECT user_id, username FROM audit.users_view ORDER BY user_id`,
	} {
		rows, err := conn.Query(context.Background(), q)
		require.NoError(h.t, err)
		for rows.Next() {
			v, err := rows.Values()
			require.NoError(h.t, err)
			fmt.Fprintln(&b, v...)
		}
		require.NoError(h.t, rows.Err())
		b.WriteString("--\n")
	}
	return b.String()
}

func TestReplayRebuildsWhatTheEventsExplainAndNothingElse(t *testing.T) {
	t.Parallel()
	h := start(t, "ORDER_URL", orderService(t, map[string]int{"pending": 1, "approved": 1, "rejected": 1}))
	h.scenario()
	before := h.snapshot()
	statsBefore := h.get("/audit/stats", h.admin).Body

	// Rows no event explains: an audit entry and an order.
	planted := events.NewID()
	h.exec(`INSERT INTO audit.audit_log (event_id, event_type, subject, occurred_at, stream, stream_seq, event)
		VALUES ($1, 'OrderCreated', 'x', now(), 'ORDERS', 999, '{}')`, planted)
	h.exec(`INSERT INTO audit.orders_view (order_id, user_id, status, version) VALUES ($1, $1, 'approved', 2)`, planted)

	var reports []replay.Progress
	p, err := h.svc.Replayer.Run(t.Context(), "all", true, func(p replay.Progress) { reports = append(reports, p) })
	require.NoError(t, err)
	assert.Equal(t, "done", p.State)
	assert.EqualValues(t, 8, p.Total)
	assert.Equal(t, p.Total, p.Done, "the bar reaches 100%")
	assert.Equal(t, "done", reports[len(reports)-1].State)
	assert.ElementsMatch(t, []string{
		"audit_log: row " + planted + " only in the live projection (no event explains it)",
		"orders_view: row " + planted + " only in the live projection (no event explains it)",
	}, p.Differences)

	assert.Equal(t, before, h.snapshot(), "the planted rows are gone; everything else is as it was")
	statsAfter := h.get("/audit/stats", h.admin).Body
	for _, k := range []string{"total_orders", "pending", "approved", "rejected", "approval_rate", "registered_users", "failed_logins_24h"} {
		assert.Equal(t, statsBefore[k], statsAfter[k], k)
	}

	// The live consumers go on, with no gap and no double count.
	h.publish(events.OrderCreated{OrderID: events.NewID(), UserID: events.NewID(), Username: "dave", ItemName: "after",
		Quantity: 1, Status: "pending", CreatedAt: time.Now()})
	h.waitApplied(9)
	assert.Equal(t, 9, h.count(`SELECT count(*) FROM audit.audit_log`))
	assert.EqualValues(t, 4, h.get("/audit/stats", h.admin).Body["total_orders"])
}

func TestVerifyReportsStatisticsThatDisagreeWithTheOrderService(t *testing.T) {
	t.Parallel()
	h := start(t, "ORDER_URL", orderService(t, map[string]int{"pending": 5, "approved": 1, "rejected": 1}))
	h.scenario()
	p, err := h.svc.Replayer.Run(t.Context(), "orders", true, func(replay.Progress) {})
	require.NoError(t, err)
	assert.Equal(t, []string{"statistics: 1 pending orders, the order service has 5"}, p.Differences)
}

func TestAReplayKilledMidwayLeavesTheLiveProjectionAndCanBeRerun(t *testing.T) {
	t.Parallel()
	h := start(t, "ORDER_URL", orderService(t, map[string]int{}))
	const n = 2200 // two batches of the rebuild
	h.publishMany(n, func(int) events.Payload {
		return events.UserRegistered{UserID: events.NewID(), Username: "bulk_user"}
	})
	h.waitApplied(n)
	before := h.snapshot()

	ctx, kill := context.WithCancel(t.Context())
	_, err := h.svc.Replayer.Run(ctx, "all", false, func(p replay.Progress) {
		if p.Done > 0 && p.Done < p.Total {
			kill() // the process dies halfway
		}
	})
	require.Error(t, err)
	assert.Equal(t, before, h.snapshot(), "the live projection is untouched")
	assert.Positive(t, h.count(`SELECT count(*) FROM audit.audit_log_rebuild`), "a partial rebuild was left behind")

	p, err := h.svc.Replayer.Run(t.Context(), "all", true, func(replay.Progress) {})
	require.NoError(t, err)
	assert.Empty(t, p.Differences)
	assert.EqualValues(t, n, p.Done)
	assert.Equal(t, before, h.snapshot())
	last := h.get("/audit/replay", h.admin)
	require.Equal(t, http.StatusOK, last.Status)
	assert.Equal(t, "done", last.Body["state"])
}

func TestASecondReplayIsRefused(t *testing.T) {
	t.Parallel()
	h := start(t)
	h.scenario()
	// Another process is replaying: it holds the replay lock.
	conn, err := pgx.Connect(context.Background(), h.env["DATABASE_URL"])
	require.NoError(t, err)
	defer conn.Close(context.Background())
	_, err = conn.Exec(context.Background(), `SELECT pg_advisory_lock($1)`, replay.RunLock)
	require.NoError(t, err)

	r := h.post("/audit/replay", `{"projection":"all"}`, h.admin)
	assert.Equal(t, http.StatusConflict, r.Status, r.Raw)
	assert.Contains(t, r.Body["detail"], "already running")
	_, err = h.svc.Replayer.Run(t.Context(), "all", false, func(replay.Progress) {})
	assert.ErrorIs(t, err, replay.ErrRunning)

	_, err = conn.Exec(context.Background(), `SELECT pg_advisory_unlock($1)`, replay.RunLock)
	require.NoError(t, err)
	started := h.post("/audit/replay", `{"projection":"audit-log"}`, h.admin)
	require.Equal(t, http.StatusAccepted, started.Status, started.Raw)
	require.Eventually(t, func() bool { return h.get("/audit/replay", h.admin).Body["state"] == "done" }, 10*time.Second, 50*time.Millisecond)
	assert.Equal(t, http.StatusBadRequest, h.post("/audit/replay", `{"projection":"everything"}`, h.admin).Status)
}

// A message that decodes but cannot be applied (its ids are not UUIDs) is parked by the live
// consumer after its attempts; a replay with verification afterwards skips it the same way,
// reports it, and stays green.
func TestAReplayAfterAParkedPoisonMessageVerifiesClean(t *testing.T) {
	t.Parallel()
	h := start(t, "ORDER_URL", orderService(t, map[string]int{"pending": 2, "approved": 1, "rejected": 1}))
	h.scenario()
	poison := h.publish(events.OrderCreated{OrderID: "not-a-uuid", UserID: "nobody", Username: "mallory", ItemName: "x",
		Quantity: 1, Status: "pending", CreatedAt: time.Now()})[0]
	h.publish(events.OrderCreated{OrderID: events.NewID(), UserID: events.NewID(), Username: "dave", ItemName: "after",
		Quantity: 1, Status: "pending", CreatedAt: time.Now()})
	require.Eventually(t, func() bool {
		return h.count(`SELECT count(*) FROM audit.dead_letters WHERE event_id = $1 AND redriven_at IS NULL`, poison.ID) == 1
	}, 30*time.Second, 20*time.Millisecond, "the live consumer parks it")
	h.waitApplied(9)
	before := h.snapshot()

	p, err := h.svc.Replayer.Run(t.Context(), "all", true, func(replay.Progress) {})
	require.NoError(t, err)
	assert.Equal(t, "done", p.State)
	assert.Empty(t, p.Differences)
	assert.EqualValues(t, 1, p.Skipped)
	require.Len(t, p.SkippedMessages, 1)
	assert.Contains(t, p.SkippedMessages[0], "event "+poison.ID+" (OrderCreated) cannot be applied")
	assert.Equal(t, p.Total, p.Done)
	assert.Equal(t, before, h.snapshot())

	last := h.get("/audit/replay", h.admin)
	require.Equal(t, http.StatusOK, last.Status)
	assert.EqualValues(t, 1, last.Body["skipped"])
	assert.Len(t, last.Body["skipped_messages"], 1)
}
