package telemetry_test

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/metric"

	"github.com/caasdemo/orderdemo/services/platform/telemetry"
	"github.com/caasdemo/orderdemo/services/platform/telemetry/metricstest"
)

func discard() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// scrape reads m through its handler (m has no listener).
func scrape(t *testing.T, m *telemetry.Metrics) metricstest.Snapshot {
	t.Helper()
	srv := httptest.NewServer(m.Handler())
	defer srv.Close()
	return metricstest.Scrape(t, srv.URL+telemetry.Path)
}

func TestMetricsAreServedOnTheirOwnListenerInPrometheusForm(t *testing.T) {
	t.Parallel()
	m, err := telemetry.OpenMetrics("order", telemetry.MetricsConfig{Addr: "127.0.0.1:0"}, discard())
	require.NoError(t, err)
	t.Cleanup(m.Close)
	require.NotEmpty(t, m.Addr())

	orders, err := m.Meter("test").Int64Counter("caas.orders.created", metric.WithUnit("{order}"))
	require.NoError(t, err)
	orders.Add(context.Background(), 3)

	got := metricstest.Scrape(t, "http://"+m.Addr()+"/metrics")
	assert.Equal(t, 3.0, got.Value("caas_orders_created_total"), "OpenTelemetry names in Prometheus form: %s", got)
	assert.Equal(t, 1.0, got.Value("target_info", "service_name", "order", "service_instance_id", m.InstanceID()),
		"the resource names the service and this start of it")
	assert.Positive(t, got.Value("go_goroutine_count"), "the Go runtime's metrics are included")
	assert.Positive(t, got.Value("go_memory_used_bytes"))
	assert.Contains(t, got, "go_schedule_duration_seconds", "and the scheduler's latency histogram")

	resp, err := http.Get("http://" + m.Addr() + "/")
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusNotFound, resp.StatusCode, "the listener serves /metrics only")

	m.Close()
	_, err = net.Dial("tcp", m.Addr())
	assert.Error(t, err, "Close stops the listener")
}

func TestEachServiceCountsApart(t *testing.T) {
	t.Parallel()
	a, err := telemetry.OpenMetrics("order", telemetry.MetricsConfig{}, discard())
	require.NoError(t, err)
	t.Cleanup(a.Close)
	b, err := telemetry.OpenMetrics("order", telemetry.MetricsConfig{}, discard())
	require.NoError(t, err)
	t.Cleanup(b.Close)
	assert.Empty(t, a.Addr(), "no METRICS_ADDR: no listener")
	assert.NotEqual(t, a.InstanceID(), b.InstanceID())

	c, _ := a.Meter("test").Int64Counter("caas.orders.created")
	c.Add(context.Background(), 1)
	assert.Equal(t, 1.0, scrape(t, a).Value("caas_orders_created_total"))
	assert.Zero(t, scrape(t, b).Value("caas_orders_created_total"), "another provider saw nothing")
}

func TestAMetricsAddrThatCannotBeUsedNamesTheVariable(t *testing.T) {
	t.Parallel()
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer taken.Close()
	_, err = telemetry.OpenMetrics("order", telemetry.MetricsConfig{Addr: taken.Addr().String()}, discard())
	require.Error(t, err)
	assert.Contains(t, err.Error(), `METRICS_ADDR="`+taken.Addr().String()+`": cannot listen`)

	for addr, want := range map[string]string{
		"":               "",
		"127.0.0.1:9102": "",
		":0":             "",
		"9102":           `METRICS_ADDR="9102": address 9102: missing port in address`,
		"localhost:http": `METRICS_ADDR="localhost:http": the port must be a number`,
		"[::1]:70000":    `METRICS_ADDR="[::1]:70000": the port must be a number from 0 to 65535`,
	} {
		err := telemetry.MetricsConfig{Addr: addr}.Validate()
		if want == "" {
			assert.NoError(t, err, addr)
		} else if assert.Error(t, err, addr) {
			assert.Contains(t, err.Error(), want)
		}
	}
}

func TestTheMetricsPortIsNeverTheServicePort(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		metrics, http string
		refused       bool
	}{
		{"127.0.0.1:9102", ":8002", false},
		{"127.0.0.1:8002", ":8002", true},
		{"10.0.0.5:8002", "127.0.0.1:8002", true}, // another interface is still the same port
		{"127.0.0.1:0", "127.0.0.1:0", false},     // free ports, in tests
		{"", ":8002", false},
	} {
		err := telemetry.MetricsConfig{Addr: tc.metrics}.Apart(tc.http)
		if tc.refused {
			if assert.Error(t, err, tc) {
				assert.Contains(t, err.Error(), "METRICS_ADDR=")
				assert.Contains(t, err.Error(), "must not be the port of HTTP_ADDR")
			}
		} else {
			assert.NoError(t, err, tc)
		}
	}
}
