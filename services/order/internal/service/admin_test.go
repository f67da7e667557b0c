package service_test

import (
	"context"
	"encoding/csv"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/caasdemo/orderdemo/events"
)

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// listIDs returns the item names of GET /orders?query, and the total.
func (h *harness) list(admin user, query string) ([]string, float64) {
	h.t.Helper()
	r := h.call(&admin, http.MethodGet, "/orders?"+query, "")
	require.Equal(h.t, http.StatusOK, r.Status, r.Raw)
	var items []string
	for _, o := range r.Body["orders"].([]any) {
		items = append(items, o.(map[string]any)["item_name"].(string))
	}
	return items, r.Body["total"].(float64)
}

// backdate moves an order's creation time, to test date filters.
func (h *harness) backdate(id string, at time.Time) {
	h.t.Helper()
	conn, err := pgx.Connect(context.Background(), h.env["DATABASE_URL"])
	require.NoError(h.t, err)
	defer conn.Close(context.Background())
	_, err = conn.Exec(context.Background(), `UPDATE orders.orders SET created_at = $2 WHERE id = $1`, id, at)
	require.NoError(h.t, err)
}

func TestAdminListSearchFilterSortPage(t *testing.T) {
	t.Parallel()
	h := start(t)
	admin := h.user("root", true)
	alice, alicia, bob := h.user("alice", false), h.user("alicia", false), h.user("bob_99", false)
	a1 := h.order(alice, "a1", 1)
	h.order(alicia, "c1", 1)
	b1 := h.order(bob, "b1", 1)
	a2 := h.order(alice, "a2", 1)
	h.backdate(a1, time.Date(2026, 1, 10, 12, 0, 0, 0, time.UTC))
	h.backdate(b1, time.Date(2026, 1, 11, 23, 59, 0, 0, time.UTC))
	require.Equal(t, http.StatusOK, h.decide(admin, a2, "approved").Status)

	items, total := h.list(admin, "")
	assert.Equal(t, []string{"a2", "c1", "b1", "a1"}, items, "newest first by default")
	assert.EqualValues(t, 4, total)

	items, _ = h.list(admin, "search=ALI")
	assert.ElementsMatch(t, []string{"a1", "c1", "a2"}, items, "partial, case-insensitive")
	items, _ = h.list(admin, "search=alice")
	assert.ElementsMatch(t, []string{"a1", "a2"}, items, "exact")
	items, _ = h.list(admin, "search="+url.QueryEscape("b_b")) // as a wildcard, _ would match bob
	assert.Empty(t, items, "underscore is a literal, not a wildcard")
	items, _ = h.list(admin, "search=bob_")
	assert.Equal(t, []string{"b1"}, items)

	items, _ = h.list(admin, "user_id="+alice.id)
	assert.Equal(t, []string{"a2", "a1"}, items)
	items, _ = h.list(admin, "status=approved")
	assert.Equal(t, []string{"a2"}, items)
	items, _ = h.list(admin, "status=pending&search=ali&sort=created_at&order=asc")
	assert.Equal(t, []string{"a1", "c1"}, items)

	items, _ = h.list(admin, "from=2026-01-10&to=2026-01-11")
	assert.Equal(t, []string{"b1", "a1"}, items, "to includes the whole day")
	items, _ = h.list(admin, "from=2026-01-11")
	assert.NotContains(t, items, "a1")
	items, _ = h.list(admin, "to=2026-01-10T13:00:00Z")
	assert.Equal(t, []string{"a1"}, items)

	items, _ = h.list(admin, "sort=username&order=asc")
	assert.Equal(t, []string{"a2", "a1", "c1", "b1"}, items, "alice (newest first), alicia, bob_99")
	items, _ = h.list(admin, "sort=status&order=desc")
	assert.Equal(t, "a2", items[len(items)-1], "approved sorts before pending ascending, so last descending")

	items, total = h.list(admin, "limit=2&offset=2")
	assert.Equal(t, []string{"b1", "a1"}, items)
	assert.EqualValues(t, 4, total)
	items, total = h.list(admin, "offset=10")
	assert.Empty(t, items)
	assert.EqualValues(t, 4, total, "the total does not depend on the page")

	for q, param := range map[string]string{
		"user_id=42": "user_id", "from=yesterday": "from", "to=2026-13-01": "to", "sort=price": "sort",
		"order=sideways": "order", "limit=500": "limit", "search=" + strings.Repeat("x", 101): "search",
	} {
		r := h.call(&admin, http.MethodGet, "/orders?"+q, "")
		assert.Equal(t, http.StatusBadRequest, r.Status, q)
		assert.Contains(t, r.Body["detail"], param+":", q)
	}
}

func TestCSVExportQuotesAndNeutralisesFormulas(t *testing.T) {
	t.Parallel()
	h := start(t)
	admin := h.user("root", true)
	alice, bob := h.user("alice", false), h.user("bob_99", false)
	h.call(&alice, http.MethodPost, "/orders", `{"item_name":"=SUM(A1:A9)","quantity":1,"notes":"line one\nline two, with \"quotes\""}`)
	h.call(&alice, http.MethodPost, "/orders", `{"item_name":"+cmd|' /C calc'!A0","quantity":2,"notes":"@import"}`)
	h.call(&alice, http.MethodPost, "/orders", `{"item_name":"-2+3","quantity":3,"notes":"plain"}`)
	h.order(bob, "Bob's thing", 4)

	r := h.call(&admin, http.MethodGet, "/orders/export.csv?search=alice&sort=created_at&order=asc", "")
	require.Equal(t, http.StatusOK, r.Status, r.Raw)
	assert.Equal(t, "text/csv; charset=utf-8", r.Header.Get("Content-Type"))
	assert.Contains(t, r.Header.Get("Content-Disposition"), "attachment")
	assert.True(t, strings.HasSuffix(strings.SplitN(r.Raw, "\n", 2)[0], "\r"), "CRLF line ends (RFC 4180)")

	rows, err := csv.NewReader(strings.NewReader(r.Raw)).ReadAll()
	require.NoError(t, err)
	require.Len(t, rows, 4, "header and alice's three orders")
	assert.Equal(t, []string{"order_id", "created_at", "username", "user_id", "item_name", "quantity", "notes", "status", "decided_by", "decided_at"}, rows[0])
	assert.Equal(t, "'=SUM(A1:A9)", rows[1][4])
	assert.Equal(t, "line one\nline two, with \"quotes\"", rows[1][6], "embedded newline, comma and quotes survive")
	assert.Equal(t, "'+cmd|' /C calc'!A0", rows[2][4])
	assert.Equal(t, "'@import", rows[2][6])
	assert.Equal(t, "'-2+3", rows[3][4])
	assert.Equal(t, "alice", rows[1][2])
	assert.Equal(t, "pending", rows[1][7])

	// The export and the list agree on the same filter.
	items, total := h.list(admin, "search=alice&sort=created_at&order=asc")
	assert.EqualValues(t, len(rows)-1, total)
	assert.Equal(t, "-2+3", items[2])
}

func TestExportStreamsAHundredThousandOrders(t *testing.T) {
	t.Parallel()
	h := start(t)
	admin := h.user("root", true)
	conn, err := pgx.Connect(context.Background(), h.env["DATABASE_URL"])
	require.NoError(t, err)
	defer conn.Close(context.Background())
	_, err = conn.Exec(context.Background(), `INSERT INTO orders.orders (id, user_id, username, item_name, quantity)
		SELECT gen_random_uuid(), gen_random_uuid(), 'user' || (i % 500), 'item ' || i, 1 + i % 100
		FROM generate_series(1, 100000) AS i`)
	require.NoError(t, err)

	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, h.url+"/orders/export.csv", nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+admin.token)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	rd := csv.NewReader(resp.Body)
	n := 0
	for {
		_, err := rd.Read()
		if err == io.EOF {
			break
		}
		require.NoError(t, err)
		n++
	}
	assert.Equal(t, 100001, n, "header and every row")
}

func TestEventsOfAnOrder(t *testing.T) {
	t.Parallel()
	h := start(t)
	alice, admin := h.user("alice", false), h.user("root", true)
	r := h.call(&alice, http.MethodPost, "/orders", `{"item_name":"Tea","quantity":5,"notes":"green"}`, "X-Request-ID", "req-create")
	require.Equal(t, http.StatusCreated, r.Status)
	id := r.Body["order_id"].(string)
	require.Equal(t, http.StatusOK, h.call(&admin, http.MethodPatch, "/orders/"+id, `{"status":"approved"}`, "X-Request-ID", "req-approve").Status)
	rejected := h.order(alice, "Coffee", 1)
	require.Equal(t, http.StatusOK, h.decide(admin, rejected, "rejected").Status)

	got := h.streamEvents(events.OrderSubjectFilter(id), 2)
	require.Len(t, got, 2)
	created, err := got[0].Payload()
	require.NoError(t, err)
	c := created.(*events.OrderCreated)
	assert.Equal(t, events.OrderCreated{OrderID: id, UserID: alice.id, Username: "alice", ItemName: "Tea", Quantity: 5,
		Notes: "green", Status: "pending", CreatedAt: c.CreatedAt}, *c)
	assert.Equal(t, "req-create", got[0].CorrelationID)
	assert.EqualValues(t, 1, got[0].AggregateVersion)

	approved, err := got[1].Payload()
	require.NoError(t, err)
	a := approved.(*events.OrderApproved)
	assert.Equal(t, id, a.OrderID)
	assert.Equal(t, alice.id, a.UserID, "the owner, so the subject routes to their page")
	assert.Equal(t, admin.id, a.AdminID)
	assert.Equal(t, "root", a.AdminUsername)
	assert.Equal(t, "req-approve", got[1].CorrelationID)
	assert.EqualValues(t, 2, got[1].AggregateVersion)

	rej := h.streamEvents("orders.rejected."+alice.id+"."+rejected, 1)
	assert.Equal(t, events.TypeOrderRejected, rej[0].Type)
	assert.Len(t, h.streamEvents(events.UserOrdersSubjectFilter(alice.id), 4), 4, "everything that happened to alice's orders")
}

func TestAnAdminListTotalIsReusedWhileItsRowsAreFresh(t *testing.T) {
	t.Parallel()
	h := start(t, "COUNT_MAX_AGE", "1h")
	admin, alice := h.user("root", true), h.user("alice", false)
	h.order(alice, "first", 1)
	items, total := h.list(admin, "status=pending")
	assert.Equal(t, []string{"first"}, items)
	assert.EqualValues(t, 1, total)

	h.order(alice, "second", 1)
	items, total = h.list(admin, "status=pending")
	assert.Equal(t, []string{"second", "first"}, items, "the rows are read fresh")
	assert.EqualValues(t, 1, total, "the total of the same filter is reused")
	_, total = h.list(admin, "status=pending&search=ali")
	assert.EqualValues(t, 2, total, "another filter counts afresh")

	mine := h.call(&alice, http.MethodGet, "/orders/me", "")
	require.Equal(t, http.StatusOK, mine.Status, mine.Raw)
	assert.EqualValues(t, 2, mine.Body["total"], "a user's own total is never reused")
}
