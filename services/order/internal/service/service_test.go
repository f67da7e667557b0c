package service_test

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/caasdemo/orderdemo/events"
	"github.com/caasdemo/orderdemo/services/order/internal/service"
	"github.com/caasdemo/orderdemo/services/platform/testenv"
)

func TestServiceStartsMigratedAndReady(t *testing.T) {
	t.Parallel()
	h := start(t)
	r := h.call(nil, http.MethodGet, "/ready", "")
	require.Equal(t, http.StatusOK, r.Status, r.Raw)
	assert.Equal(t, map[string]any{"postgres": "ok", "nats": "ok", "outbox": "ok", "valkey": "ok"}, r.Body["checks"])
	assert.Equal(t, []string{"orders.idempotency_keys", "orders.orders", "orders.outbox"}, testenv.Tables(t, h.env["DATABASE_URL"], service.Schema))
	testenv.RequireStream(t, h.env["NATS_URL"], "ORDERS")
}

func TestCreateAndHistoryNewestFirst(t *testing.T) {
	t.Parallel()
	h := start(t)
	alice := h.user("alice", false)
	r := h.call(&alice, http.MethodPost, "/orders", `{"item_name":"  Desk lamp  ","quantity":2,"notes":"for the study"}`)
	require.Equal(t, http.StatusCreated, r.Status, r.Raw)
	assert.Equal(t, "pending", r.Body["status"])
	assert.NotEmpty(t, r.Body["created_at"])
	first := r.Body["order_id"].(string)
	second := h.order(alice, "Chair", 1)
	third := h.order(alice, "Monitor", 3)
	admin := h.user("root", true)
	require.Equal(t, http.StatusOK, h.decide(admin, second, "approved").Status)

	mine := h.call(&alice, http.MethodGet, "/orders/me", "")
	require.Equal(t, http.StatusOK, mine.Status, mine.Raw)
	assert.EqualValues(t, 3, mine.Body["total"])
	orders := mine.Body["orders"].([]any)
	var ids []string
	for _, o := range orders {
		ids = append(ids, o.(map[string]any)["id"].(string))
	}
	assert.Equal(t, []string{third, second, first}, ids, "newest first")
	lamp := orders[2].(map[string]any)
	assert.Equal(t, "Desk lamp", lamp["item_name"], "trimmed")
	assert.Equal(t, "for the study", lamp["notes"])
	assert.Nil(t, lamp["decided_by"])
	chair := orders[1].(map[string]any)
	assert.Equal(t, "root", chair["decided_by"])
	assert.NotNil(t, chair["decided_at"])

	approved := h.call(&alice, http.MethodGet, "/orders/me?status=approved", "")
	assert.EqualValues(t, 1, approved.Body["total"])
	page := h.call(&alice, http.MethodGet, "/orders/me?limit=1&offset=1", "")
	assert.EqualValues(t, 3, page.Body["total"])
	require.Len(t, page.Body["orders"], 1)
	assert.Equal(t, second, page.Body["orders"].([]any)[0].(map[string]any)["id"])

	for q, param := range map[string]string{"limit=0": "limit", "limit=101": "limit", "limit=x": "limit", "offset=-1": "offset", "status=shipped": "status"} {
		r := h.call(&alice, http.MethodGet, "/orders/me?"+q, "")
		assert.Equal(t, http.StatusBadRequest, r.Status, q)
		assert.Contains(t, r.Body["detail"], param+":", q)
	}
}

func TestCreateRefusesBadInputNamingTheField(t *testing.T) {
	t.Parallel()
	h := start(t)
	alice := h.user("alice", false)
	for _, tc := range []struct {
		name, body string
		status     int
		detail     string
	}{
		{"empty item", `{"item_name":"","quantity":1}`, 400, "item_name: is required"},
		{"blank item", `{"item_name":"   ","quantity":1}`, 400, "item_name: is required"},
		{"long item", `{"item_name":"` + strings.Repeat("x", 256) + `","quantity":1}`, 400, "item_name: must be at most 255 characters"},
		{"angle bracket", `{"item_name":"<script>","quantity":1}`, 400, `item_name: must not contain <, > or "`},
		{"double quote", `{"item_name":"24\" screen","quantity":1}`, 400, "item_name: must not contain"},
		{"zero", `{"item_name":"x","quantity":0}`, 400, "quantity: must be a whole number from 1 to 100"},
		{"too many", `{"item_name":"x","quantity":101}`, 400, "quantity: must be a whole number from 1 to 100"},
		{"fraction", `{"item_name":"x","quantity":1.5}`, 400, "quantity: must be an integer"},
		{"string quantity", `{"item_name":"x","quantity":"2"}`, 400, "quantity: must be an integer"},
		{"long notes", `{"item_name":"x","quantity":1,"notes":"` + strings.Repeat("n", 1001) + `"}`, 400, "notes: must be at most 1000 characters"},
		{"missing item", `{"quantity":1}`, 400, "item_name: is required"},
		{"missing quantity", `{"item_name":"x"}`, 400, "quantity: is required"},
		{"unknown field", `{"item_name":"x","quantity":1,"price":10}`, 400, "price: is not a known field"},
		{"malformed", `{"item_name":"x",`, 400, "not valid JSON"},
		{"not an object", `[1,2]`, 400, "the body must be a JSON object"},
		{"over 16 KiB", `{"item_name":"x","quantity":1,"notes":"` + strings.Repeat("n", 17<<10) + `"}`, 413, "larger than 16384 bytes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := h.call(&alice, http.MethodPost, "/orders", tc.body)
			assert.Equal(t, tc.status, r.Status, r.Raw)
			assert.Contains(t, r.Body["detail"], tc.detail)
		})
	}
	assert.EqualValues(t, 0, h.call(&alice, http.MethodGet, "/orders/me", "").Body["total"], "nothing was created")
}

func TestIdempotencyKey(t *testing.T) {
	t.Parallel()
	h := start(t)
	alice, bob := h.user("alice", false), h.user("bob", false)
	body := `{"item_name":"Kettle","quantity":1,"notes":""}`

	first := h.call(&alice, http.MethodPost, "/orders", body, "Idempotency-Key", "key-1")
	require.Equal(t, http.StatusCreated, first.Status)
	again := h.call(&alice, http.MethodPost, "/orders", body, "Idempotency-Key", "key-1")
	require.Equal(t, http.StatusCreated, again.Status)
	assert.Equal(t, first.Body["order_id"], again.Body["order_id"])
	assert.Equal(t, "true", again.Header.Get("Idempotent-Replayed"))

	other := h.call(&alice, http.MethodPost, "/orders", `{"item_name":"Toaster","quantity":1}`, "Idempotency-Key", "key-1")
	assert.Equal(t, http.StatusUnprocessableEntity, other.Status)
	bobs := h.call(&bob, http.MethodPost, "/orders", body, "Idempotency-Key", "key-1")
	require.Equal(t, http.StatusCreated, bobs.Status)
	assert.NotEqual(t, first.Body["order_id"], bobs.Body["order_id"], "keys are per user")
	bad := h.call(&alice, http.MethodPost, "/orders", body, "Idempotency-Key", "has space")
	assert.Equal(t, http.StatusBadRequest, bad.Status)

	// Concurrent retries with one key make one order.
	ids := make(chan any, 8)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			ids <- h.call(&alice, http.MethodPost, "/orders", body, "Idempotency-Key", "key-2").Body["order_id"]
		})
	}
	wg.Wait()
	close(ids)
	seen := map[any]bool{}
	for id := range ids {
		seen[id] = true
	}
	assert.Len(t, seen, 1)

	assert.EqualValues(t, 2, h.call(&alice, http.MethodGet, "/orders/me", "").Body["total"])
	h.streamEvents("orders.created."+bob.id+".*", 1) // the relay has caught up with alice's too
	assert.Len(t, h.streamEvents("orders.created."+alice.id+".*", 2), 2, "one event per order, none for the replays")
}

func TestFiftyConcurrentDecisionsOneWinner(t *testing.T) {
	t.Parallel()
	h := start(t)
	alice := h.user("alice", false)
	id := h.order(alice, "Bike", 1)
	admins := make([]user, 50)
	for i := range admins {
		admins[i] = h.user(fmt.Sprintf("admin%02d", i), true)
	}
	statuses := make(chan int, len(admins))
	var wg sync.WaitGroup
	for i, a := range admins {
		status := "approved"
		if i%2 == 1 {
			status = "rejected"
		}
		wg.Go(func() { statuses <- h.decide(a, id, status).Status })
	}
	wg.Wait()
	close(statuses)
	count := map[int]int{}
	for s := range statuses {
		count[s]++
	}
	assert.Equal(t, map[int]int{http.StatusOK: 1, http.StatusConflict: 49}, count)

	got := h.streamEvents(events.OrderSubjectFilter(id), 2)
	require.Len(t, got, 2, "created, and exactly one decision")
	assert.Contains(t, []string{events.TypeOrderApproved, events.TypeOrderRejected}, got[1].Type)
}

func TestDecideErrors(t *testing.T) {
	t.Parallel()
	h := start(t)
	alice, admin := h.user("alice", false), h.user("root", true)
	id := h.order(alice, "Desk", 1)
	for _, tc := range []struct {
		id, body string
		status   int
		detail   string
	}{
		{id, `{"status":"shipped"}`, 400, `status: must be "approved" or "rejected"`},
		{id, `{"status":"pending"}`, 400, "status: must be"},
		{id, `{}`, 400, "status: must be"},
		{id, `{"status":"approved","note":"x"}`, 400, "note: is not a known field"},
		{events.NewID(), `{"status":"approved"}`, 404, "no such order"},
		{"not-a-uuid", `{"status":"approved"}`, 404, "no such order"},
	} {
		r := h.call(&admin, http.MethodPatch, "/orders/"+tc.id, tc.body)
		assert.Equal(t, tc.status, r.Status, r.Raw)
		assert.Contains(t, r.Body["detail"], tc.detail)
	}
	ok := h.decide(admin, id, "rejected")
	require.Equal(t, http.StatusOK, ok.Status)
	assert.Equal(t, "rejected", ok.Body["status"])
	assert.Equal(t, "root", ok.Body["decided_by"])
	assert.Equal(t, id, ok.Body["order_id"])
	assert.NotEmpty(t, ok.Body["updated_at"])
	again := h.decide(admin, id, "approved")
	assert.Equal(t, http.StatusConflict, again.Status)
	assert.Equal(t, "the order was already decided", again.Body["detail"])
}
