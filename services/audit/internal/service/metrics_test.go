package service_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/caasdemo/orderdemo/events"
	"github.com/caasdemo/orderdemo/services/platform/telemetry/metricstest"
)

// TestMetricsCountWhatTheConsumersDid scrapes GET /metrics on METRICS_ADDR before and after
// a known load: the scenario's eight events (three on AUTH, five on ORDERS), one more order
// and a second copy of it under another message id, then an event whose every delivery
// fails (CONSUMER_MAX_ATTEMPTS=3) until it is parked. Each delivery is counted once, by
// stream, consumer and outcome.
func TestMetricsCountWhatTheConsumersDid(t *testing.T) {
	t.Parallel()
	h := start(t)
	require.NotEmpty(t, h.metrics, "the harness serves the metrics on METRICS_ADDR")
	before := metricstest.Scrape(t, h.metrics)

	h.scenario()
	extra := h.publish(events.OrderCreated{OrderID: events.NewID(), UserID: events.NewID(), Username: "dave",
		ItemName: "thing", Quantity: 1, Status: "pending", CreatedAt: time.Now()})[0]
	b, err := events.Encode(extra)
	require.NoError(t, err)
	subject, err := extra.NATSSubject()
	require.NoError(t, err)
	_, err = h.js.Publish(t.Context(), subject, b, jetstream.WithMsgID("copy-"+extra.ID)) // past the stream's dedupe
	require.NoError(t, err)
	h.waitApplied(9)

	h.exec(`ALTER TABLE audit.audit_log RENAME TO audit_log_broken`) // every delivery of the next event fails
	h.publish(events.OrderCreated{OrderID: events.NewID(), UserID: events.NewID(), Username: "erin",
		ItemName: "late", Quantity: 1, Status: "pending", CreatedAt: time.Now()})

	consumed := func(m metricstest.Snapshot, stream, durable, outcome string) float64 {
		return m.Value("messaging_client_consumed_messages_total", "messaging_system", "nats",
			"messaging_operation_name", "process", "messaging_destination_name", stream,
			"messaging_consumer_group_name", durable, "caas_consumer_outcome", outcome)
	}
	type key struct{ stream, durable, outcome string }
	want := map[key]float64{
		{"AUTH", "audit-auth", "applied"}:       3,
		{"ORDERS", "audit-orders", "applied"}:   6,
		{"ORDERS", "audit-orders", "duplicate"}: 1,
		{"ORDERS", "audit-orders", "failed"}:    2,
		{"ORDERS", "audit-orders", "parked"}:    1,
		{"AUTH", "audit-auth", "duplicate"}:     0,
		{"AUTH", "audit-auth", "failed"}:        0,
		{"AUTH", "audit-auth", "parked"}:        0,
	}
	moved := func() map[key]float64 {
		after := metricstest.Scrape(t, h.metrics)
		got := map[key]float64{}
		for k := range want {
			got[k] = consumed(after, k.stream, k.durable, k.outcome) - consumed(before, k.stream, k.durable, k.outcome)
		}
		return got
	}
	// A delivery is counted a moment after its effect is visible (the parked row, the log).
	if !assert.Eventually(t, func() bool { return assert.ObjectsAreEqual(want, moved()) }, 20*time.Second, 20*time.Millisecond) {
		require.Equal(t, want, moved(), "deliveries counted by stream, consumer and outcome")
	}

	require.Equal(t, http.StatusOK, h.get("/audit/dead-letters", h.admin).Status)
	after := metricstest.Scrape(t, h.metrics)
	delta := func(name string, labels ...string) float64 {
		return after.Value(name, labels...) - before.Value(name, labels...)
	}
	orders := []string{"messaging_system", "nats", "messaging_destination_name", "ORDERS", "messaging_consumer_group_name", "audit-orders"}
	auth := []string{"messaging_system", "nats", "messaging_destination_name", "AUTH", "messaging_consumer_group_name", "audit-auth"}
	const applies = "messaging_process_duration_seconds_count"
	assert.Equal(t, 10.0, delta(applies, orders...), "six applied, one duplicate, three failed applies of the broken event")
	assert.Equal(t, 3.0, delta(applies, append(orders, "error_type", "_OTHER")...))
	assert.Equal(t, 3.0, delta(applies, auth...))
	assert.Equal(t, 2.0, delta("caas_consumer_redeliveries_total", orders...), "the broken event's second and third deliveries")
	assert.Equal(t, 0.0, delta("caas_consumer_redeliveries_total", auth...))
	assert.Equal(t, 1.0, delta("caas_consumer_dead_letters", orders...), "the parked event is open")
	assert.Equal(t, 0.0, after.Value("caas_consumer_dead_letters", auth...))
	assert.Len(t, after.Series("caas_consumer_pending"), 2, "the lag of each durable is reported")
	assert.Equal(t, 1.0, after.Value("http_server_request_duration_seconds_count", "http_request_method", "GET",
		"http_route", "/audit/dead-letters", "http_response_status_code", "200")-
		before.Value("http_server_request_duration_seconds_count", "http_route", "/audit/dead-letters"))
	assert.Equal(t, 10.0, after.Value("db_client_connection_max", "db_client_connection_pool_name", "audit"))
	assert.Equal(t, 1.0, after.Value("target_info", "service_name", "audit"))
}
