package service_test

import (
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/caasdemo/orderdemo/events"
	"github.com/caasdemo/orderdemo/services/platform/telemetry"
	"github.com/caasdemo/orderdemo/services/platform/telemetry/metricstest"
)

// TestMetricsCountTheOrdersPlacedAndTheEventsSent scrapes GET /metrics on METRICS_ADDR
// before and after a known load: three orders placed through the form, two event streams
// open, three decisions sent to each. The streams are counted while open, the events once
// each per stream, and the streams stay out of the request durations.
func TestMetricsCountTheOrdersPlacedAndTheEventsSent(t *testing.T) {
	t.Parallel()
	h := start(t, "METRICS_ADDR", "127.0.0.1:0")
	require.NotEmpty(t, h.svc.Metrics.Addr())
	scrape := func() metricstest.Snapshot {
		return metricstest.Scrape(t, "http://"+h.svc.Metrics.Addr()+telemetry.Path)
	}
	before := scrape()

	csrf := h.login()
	for _, item := range []string{"Lamp", "Kettle", "Fan"} {
		_, body, _ := h.page("/orders/new")
		form := url.Values{"csrf_token": {csrf}, "idempotency_key": {formKey(t, body)}, "item_name": {item}, "quantity": {"1"}, "notes": {""}}
		resp, body := h.post("/orders", form, "HX-Request", "true")
		require.Equal(t, http.StatusCreated, resp.StatusCode, body)
	}
	streams := []*sse{h.events(""), h.events("")} // each subscribed when it returns
	assert.Equal(t, 2.0, scrape().Value("caas_sse_streams_open"))
	for range 3 {
		h.publish(events.OrderApproved(events.OrderDecision{OrderID: events.NewID(), UserID: userID, AdminID: events.NewID(),
			AdminUsername: "root", DecidedAt: time.Now()}), 2)
	}
	for _, s := range streams {
		for range 3 {
			_, name, _ := s.next(t)
			require.Contains(t, name, "order-")
		}
	}
	sent := func() float64 {
		return scrape().Value("caas_sse_events_sent_total") - before.Value("caas_sse_events_sent_total")
	}
	// An event is counted once flushed, a moment after the browser may have read it.
	if !assert.Eventually(t, func() bool { return sent() == 6 }, 10*time.Second, 10*time.Millisecond) {
		require.Equal(t, 6.0, sent(), "three events to each of two streams; the retry field and heartbeats are not events")
	}
	for _, s := range streams {
		s.resp.Body.Close()
	}
	require.Eventually(t, func() bool { return scrape().Value("caas_sse_streams_open") == 0 }, 10*time.Second, 10*time.Millisecond,
		"closed streams are no longer counted")

	after := scrape()
	const requests = "http_server_request_duration_seconds_count"
	assert.Equal(t, 3.0, after.Value(requests, "http_request_method", "POST", "http_route", "/orders", "http_response_status_code", "201")-
		before.Value(requests, "http_request_method", "POST", "http_route", "/orders", "http_response_status_code", "201"))
	assert.Zero(t, after.Value(requests, "http_route", "/events"), "a stream's life is not a request duration")
	assert.Positive(t, after.Value(requests, "http_route", "/orders/new"))
	assert.Equal(t, 1.0, after.Value("target_info", "service_name", "gateway", "service_instance_id", h.svc.Metrics.InstanceID()))
	assert.Empty(t, after.Series("db_client_connection_count"), "the gateway has no database pool")
}
