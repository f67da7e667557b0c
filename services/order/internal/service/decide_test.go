package service_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/caasdemo/orderdemo/events"
)

// A decision that committed but whose answer was lost (the connection dropped, the database
// died right after the commit) is retried by the admin's client: the retry gets 200 and the
// order as it is, and no second event. Anything else on a decided order is still 409.
func TestARetriedDecisionGetsTheOrderAsItIs(t *testing.T) {
	t.Parallel()
	h := start(t)
	alice, root, other := h.user("alice", false), h.user("root", true), h.user("other", true)
	id := h.order(alice, "Kettle", 1)
	first := h.decide(root, id, "approved")
	require.Equal(t, http.StatusOK, first.Status, first.Raw)

	retry := h.decide(root, id, "approved")
	require.Equal(t, http.StatusOK, retry.Status, retry.Raw)
	assert.Equal(t, first.Body, retry.Body, "the order as the first answer had it")

	changed := h.decide(root, id, "rejected")
	assert.Equal(t, http.StatusConflict, changed.Status, "another decision")
	assert.Equal(t, "the order was already decided", changed.Body["detail"])
	assert.Equal(t, http.StatusConflict, h.decide(other, id, "approved").Status,
		"another admin: told someone else decided, not that they did")

	got := h.call(&root, http.MethodGet, "/orders/"+id, "")
	require.Equal(t, http.StatusOK, got.Status)
	assert.Equal(t, "approved", got.Body["status"])
	assert.Equal(t, "root", got.Body["decided_by"])
	conn, err := pgx.Connect(context.Background(), h.env["DATABASE_URL"])
	require.NoError(t, err)
	defer conn.Close(context.Background())
	var decisions, version int
	require.NoError(t, conn.QueryRow(context.Background(), `SELECT count(*) FROM orders.outbox
		WHERE event_type IN ($1, $2) AND subject LIKE '%.' || $3`, events.TypeOrderApproved, events.TypeOrderRejected, id).Scan(&decisions))
	require.NoError(t, conn.QueryRow(context.Background(), `SELECT version FROM orders.orders WHERE id = $1`, id).Scan(&version))
	assert.Equal(t, 1, decisions, "one decision event")
	assert.Equal(t, 2, version)
}
