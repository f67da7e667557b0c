package service_test

import (
	"encoding/csv"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/caasdemo/orderdemo/events"
	"github.com/caasdemo/orderdemo/services/audit/internal/service"
	"github.com/caasdemo/orderdemo/services/platform/testenv"
)

func TestServiceStartsMigratedAndReady(t *testing.T) {
	t.Parallel()
	h := start(t)
	testenv.RequireReady(t, h.svc.Handler)
	assert.Equal(t, []string{"audit.audit_log", "audit.dead_letters", "audit.orders_view", "audit.processed_events",
		"audit.replay_runs", "audit.users_view"}, testenv.Tables(t, h.env["DATABASE_URL"], service.Schema))
}

func TestStatisticsFollowTheEvents(t *testing.T) {
	t.Parallel()
	h := start(t)
	updates := make(chan *nats.Msg, 16)
	sub, err := h.nc.ChanSubscribe(service.StatsSubject, updates)
	require.NoError(t, err)
	defer sub.Unsubscribe()
	h.scenario()

	r := h.get("/audit/stats", h.admin)
	require.Equal(t, http.StatusOK, r.Status, r.Raw)
	for field, want := range map[string]float64{"total_orders": 3, "pending": 1, "approved": 1, "rejected": 1,
		"approval_rate": 0.5, "registered_users": 2, "failed_logins_24h": 1, "avg_decision_seconds": 60} {
		assert.InDelta(t, want, r.Body[field], 0.01, field)
	}
	assert.Len(t, r.Body["orders_per_day"], 14)

	// Dashboards are told without polling.
	require.Eventually(t, func() bool {
		select {
		case msg := <-updates:
			var s map[string]any
			return json.Unmarshal(msg.Data, &s) == nil && s["total_orders"] == float64(3)
		default:
			return false
		}
	}, 5*time.Second, 50*time.Millisecond)
}

func TestAuditLogFiltersAndExport(t *testing.T) {
	t.Parallel()
	h := start(t)
	s := h.scenario()

	all := h.get("/audit/events", h.admin)
	require.Equal(t, http.StatusOK, all.Status, all.Raw)
	assert.EqualValues(t, 8, all.Body["total"])
	first := all.Body["events"].([]any)[0].(map[string]any)
	for _, k := range []string{"event_id", "type", "actor_id", "actor_username", "subject", "occurred_at", "correlation_id", "stream", "stream_seq", "event"} {
		assert.Contains(t, first, k)
	}

	for query, want := range map[string]float64{
		"type=OrderCreated":                3,
		"actor=ALICE":                      4, // registered, failed login, two orders created
		"actor=" + s.bob.UserID:            2,
		"subject=" + s.o1:                  2,
		"actor=root":                       2,
		"from=2000-01-01&to=2999-12-31":    8,
		"to=2000-01-01":                    0,
		"type=UserLoginFailed&actor=alice": 1,
		"limit=3":                          8,
	} {
		r := h.get("/audit/events?"+query, h.admin)
		require.Equal(t, http.StatusOK, r.Status, query)
		assert.Equal(t, want, r.Body["total"], query)
	}
	assert.Len(t, h.get("/audit/events?limit=3", h.admin).Body["events"], 3)
	bad := h.get("/audit/events?limit=0&from=soon", h.admin)
	assert.Equal(t, http.StatusBadRequest, bad.Status)
	assert.Contains(t, bad.Body["detail"], "limit:")
	assert.Contains(t, bad.Body["detail"], "from:")

	csvResp := h.get("/audit/events.csv?subject="+s.o1, h.admin)
	require.Equal(t, http.StatusOK, csvResp.Status)
	rows, err := csv.NewReader(strings.NewReader(csvResp.Raw)).ReadAll()
	require.NoError(t, err)
	require.Len(t, rows, 3)
	assert.Equal(t, "correlation_id", rows[0][5])
	assert.ElementsMatch(t, []string{"OrderCreated", "OrderApproved"}, []string{rows[1][1], rows[2][1]})
}

func TestOrderHistory(t *testing.T) {
	t.Parallel()
	h := start(t)
	s := h.scenario()
	r := h.get("/audit/orders/"+s.o2+"/events", h.admin)
	require.Equal(t, http.StatusOK, r.Status, r.Raw)
	evs := r.Body["events"].([]any)
	require.Len(t, evs, 2)
	assert.Equal(t, "OrderCreated", evs[0].(map[string]any)["type"])
	assert.Equal(t, "OrderRejected", evs[1].(map[string]any)["type"])
	assert.Equal(t, "root", evs[1].(map[string]any)["actor_username"])
	assert.Equal(t, "req-OrderRejected", evs[1].(map[string]any)["correlation_id"])
	assert.Less(t, evs[0].(map[string]any)["stream_seq"], evs[1].(map[string]any)["stream_seq"])
	assert.Equal(t, "nats stream view ORDERS --subject 'orders.*.*."+s.o2+"'", r.Body["nats_command"])
	assert.Equal(t, http.StatusNotFound, h.get("/audit/orders/"+events.NewID()+"/events", h.admin).Status)
}

func TestOnlyAdminsMayRead(t *testing.T) {
	t.Parallel()
	h := start(t)
	for _, path := range []string{"/audit/events", "/audit/events.csv", "/audit/stats", "/audit/dead-letters", "/audit/replay",
		"/audit/orders/" + events.NewID() + "/events"} {
		assert.Equal(t, http.StatusUnauthorized, h.get(path, "").Status, path)
		assert.Equal(t, http.StatusForbidden, h.get(path, h.user).Status, path)
	}
	assert.Equal(t, http.StatusForbidden, h.post("/audit/replay", `{}`, h.user).Status)
	assert.Equal(t, http.StatusForbidden, h.post("/audit/dead-letters/1/redrive", ``, h.user).Status)
}

func TestAPoisonEventIsParkedVisibleAndRedrivable(t *testing.T) {
	t.Parallel()
	h := start(t)
	h.scenario()
	// A projection bug: its table is gone. Every delivery of the next event fails.
	h.exec(`ALTER TABLE audit.audit_log RENAME TO audit_log_broken`)
	late := h.publish(events.OrderCreated{OrderID: events.NewID(), UserID: events.NewID(), Username: "carol",
		ItemName: "late", Quantity: 1, Status: "pending", CreatedAt: time.Now()})[0]

	var parked []any
	require.Eventually(t, func() bool {
		r := h.get("/audit/dead-letters", h.admin)
		parked, _ = r.Body["dead_letters"].([]any)
		return len(parked) == 1
	}, 10*time.Second, 50*time.Millisecond)
	dl := parked[0].(map[string]any)
	assert.Equal(t, late.ID, dl["event_id"])
	assert.Equal(t, "audit-orders", dl["consumer"])
	assert.EqualValues(t, 3, dl["deliveries"])
	assert.Contains(t, dl["error"], "audit_log")

	failed := h.post("/audit/dead-letters/"+jsonNumber(dl["id"])+"/redrive", "", h.admin)
	assert.Equal(t, http.StatusUnprocessableEntity, failed.Status, "still broken: it stays parked")

	h.exec(`ALTER TABLE audit.audit_log_broken RENAME TO audit_log`)
	ok := h.post("/audit/dead-letters/"+jsonNumber(dl["id"])+"/redrive", "", h.admin)
	require.Equal(t, http.StatusOK, ok.Status, ok.Raw)
	assert.Equal(t, 1, h.count(`SELECT count(*) FROM audit.audit_log WHERE event_id = $1`, late.ID))
	assert.EqualValues(t, 0, h.get("/audit/dead-letters", h.admin).Body["total"])
	assert.Equal(t, http.StatusNotFound, h.post("/audit/dead-letters/999999/redrive", "", h.admin).Status)
}

func jsonNumber(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
