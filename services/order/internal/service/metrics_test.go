package service_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/caasdemo/orderdemo/services/platform/telemetry/metricstest"
)

// TestMetricsCountWhatTheServiceDid scrapes GET /metrics on METRICS_ADDR before and after a
// known load: three orders, one more placed twice under one idempotency key, an approval, a
// rejection, the approval repeated, and two reads. Orders and decisions are counted once
// each, requests by route pattern and status, and the pool is reported.
func TestMetricsCountWhatTheServiceDid(t *testing.T) {
	t.Parallel()
	h := start(t)
	require.NotEmpty(t, h.metrics, "the harness serves the metrics on METRICS_ADDR")
	alice, admin := h.user("alice", false), h.user("root", true)
	before := metricstest.Scrape(t, h.metrics)

	ids := []string{h.order(alice, "Kettle", 1), h.order(alice, "Toaster", 2), h.order(alice, "Lamp", 3)}
	body := `{"item_name":"Fan","quantity":1,"notes":""}`
	for range 2 {
		r := h.call(&alice, http.MethodPost, "/orders", body, "Idempotency-Key", "metrics-1")
		require.Equal(t, http.StatusCreated, r.Status, r.Raw)
	}
	require.Equal(t, http.StatusOK, h.decide(admin, ids[0], "approved").Status)
	require.Equal(t, http.StatusOK, h.decide(admin, ids[1], "rejected").Status)
	require.Equal(t, http.StatusOK, h.decide(admin, ids[0], "approved").Status, "a retried decision")
	for _, id := range ids[:2] {
		require.Equal(t, http.StatusOK, h.call(&alice, http.MethodGet, "/orders/"+id, "").Status)
	}
	after := metricstest.Scrape(t, h.metrics)

	delta := func(name string, labels ...string) float64 {
		return after.Value(name, labels...) - before.Value(name, labels...)
	}
	assert.Equal(t, 4.0, delta("caas_orders_created_total"), "the keyed order placed twice is one order")
	assert.Equal(t, 1.0, delta("caas_orders_decided_total", "caas_order_status", "approved"), "the repeated approval is not a second one")
	assert.Equal(t, 1.0, delta("caas_orders_decided_total", "caas_order_status", "rejected"))

	const requests = "http_server_request_duration_seconds_count"
	assert.Equal(t, 5.0, delta(requests, "http_request_method", "POST", "http_route", "/orders", "http_response_status_code", "201"))
	assert.Equal(t, 3.0, delta(requests, "http_request_method", "PATCH", "http_route", "/orders/{id}", "http_response_status_code", "200"))
	assert.Equal(t, 2.0, delta(requests, "http_request_method", "GET", "http_route", "/orders/{id}", "http_response_status_code", "200"))
	for _, labels := range after.Series("http_server_request_duration_seconds") {
		for _, id := range ids {
			assert.False(t, strings.Contains(labels["http_route"], id), "an order id became a label: %v", labels)
		}
	}

	pool := []string{"db_client_connection_pool_name", "orders"}
	assert.Equal(t, 10.0, after.Value("db_client_connection_max", pool...), "DATABASE_MAX_CONNS by default")
	assert.Positive(t, after.Value("db_client_connection_count", pool...), "the pool holds connections, idle or used")
	assert.Positive(t, delta("caas_db_client_connection_acquires_total", pool...), "the load took connections")
	assert.Equal(t, 1.0, after.Value("target_info", "service_name", "order"))

	// The relay publishes the six events (four OrderCreated, one OrderApproved, one
	// OrderRejected; the repeated approval wrote none) and the outbox drains.
	const publishes = "messaging_client_operation_duration_seconds_count"
	published := []string{"messaging_system", "nats", "messaging_operation_name", "publish",
		"messaging_operation_type", "send", "messaging_destination_name", "ORDERS"}
	var drained metricstest.Snapshot
	require.Eventually(t, func() bool {
		drained = metricstest.Scrape(t, h.metrics)
		return drained.Value(publishes)-before.Value(publishes) >= 6 && drained.Value("caas_outbox_backlog") == 0
	}, 10*time.Second, 20*time.Millisecond, "the relay publishes what the load wrote")
	assert.Equal(t, 6.0, drained.Value(publishes, published...)-before.Value(publishes, published...))
	assert.Equal(t, 6.0, drained.Value(publishes)-before.Value(publishes), "no failed publish")
	assert.Equal(t, 0.0, drained.Value("caas_outbox_oldest_age_seconds"))
}
