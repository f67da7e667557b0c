package httpserver_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/caasdemo/orderdemo/services/platform/httpserver"
	"github.com/caasdemo/orderdemo/services/platform/telemetry"
	"github.com/caasdemo/orderdemo/services/platform/telemetry/metricstest"
)

const duration = "http_server_request_duration_seconds"

// TestRequestDurationsAreLabelledByRoutePatternNeverByPath: two orders' ids make one series,
// a path no route matches makes none of its own, a panic is a 500 with its error.type, and
// an event stream stays out of the histogram.
func TestRequestDurationsAreLabelledByRoutePatternNeverByPath(t *testing.T) {
	t.Parallel()
	m, err := telemetry.OpenMetrics("order", telemetry.MetricsConfig{}, discard())
	require.NoError(t, err)
	t.Cleanup(m.Close)
	scrape := httptest.NewServer(m.Handler())
	t.Cleanup(scrape.Close)

	r := httpserver.NewRouter("order", discard(), m)
	r.Get("/orders/{id}", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "{}") })
	r.Patch("/orders/{id}", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusConflict) })
	r.Get("/boom", func(http.ResponseWriter, *http.Request) { panic("kaboom") })
	r.Get("/events", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		_, _ = io.WriteString(w, ": hello\n\n")
	})
	srv := httptest.NewServer(r)
	t.Cleanup(srv.Close)
	call := func(method, path string) int {
		req, _ := http.NewRequest(method, srv.URL+path, nil)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}

	before := metricstest.Scrape(t, scrape.URL+"/metrics")
	for _, id := range []string{"7c0e5d3a-0001", "7c0e5d3a-0002", "7c0e5d3a-0003"} {
		require.Equal(t, http.StatusOK, call(http.MethodGet, "/orders/"+id))
	}
	require.Equal(t, http.StatusConflict, call(http.MethodPatch, "/orders/7c0e5d3a-0001"))
	require.Equal(t, http.StatusInternalServerError, call(http.MethodGet, "/boom"))
	require.Equal(t, http.StatusNotFound, call(http.MethodGet, "/no/such/7c0e5d3a-0009"))
	require.Equal(t, http.StatusOK, call(http.MethodGet, "/events"))
	require.Equal(t, http.StatusMethodNotAllowed, call("BREW", "/orders/7c0e5d3a-0001"))
	after := metricstest.Scrape(t, scrape.URL+"/metrics")

	delta := func(labels ...string) float64 {
		return after.Value(duration+"_count", labels...) - before.Value(duration+"_count", labels...)
	}
	assert.Equal(t, 3.0, delta("http_route", "/orders/{id}", "http_request_method", "GET", "http_response_status_code", "200"))
	assert.Equal(t, 1.0, delta("http_route", "/orders/{id}", "http_request_method", "PATCH", "http_response_status_code", "409"))
	assert.Equal(t, 1.0, delta("http_route", "/boom", "http_response_status_code", "500", "error_type", "500"))
	assert.Equal(t, 1.0, delta("http_request_method", "_OTHER"), "an invented method is not a label value")
	assert.Zero(t, delta("http_route", "/events"), "an event stream's life is not a request duration")
	assert.Equal(t, 1.0, delta("http_response_status_code", "404"))

	for _, labels := range after.Series(duration) {
		assert.NotContains(t, labels["http_route"], "7c0e5d3a", "a path became a label: %v", labels)
		assert.Equal(t, "http", labels["url_scheme"])
		if labels["http_response_status_code"] == "404" {
			assert.NotContains(t, labels, "http_route", "no route matched: no route label")
		}
		if labels["http_response_status_code"] == "200" {
			assert.NotContains(t, labels, "error_type", "only a 5xx carries error.type")
		}
	}
}
