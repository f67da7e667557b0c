package outbox_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/caasdemo/orderdemo/services/platform/outbox"
	"github.com/caasdemo/orderdemo/services/platform/telemetry"
	"github.com/caasdemo/orderdemo/services/platform/telemetry/metricstest"
)

// TestRelayMetrics scrapes the backlog while three events wait with no relay running, then
// starts the relay: the backlog drains to 0 and the three publishes are counted on ORDERS.
func TestRelayMetrics(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	m, err := telemetry.OpenMetrics("shop", telemetry.MetricsConfig{Addr: "127.0.0.1:0"}, quiet)
	require.NoError(t, err)
	t.Cleanup(m.Close)
	url := "http://" + m.Addr() + telemetry.Path
	r := outbox.NewRelay(f.pool, f.js, "shop", quiet, outbox.Options{Meters: m})

	const publishes = "messaging_client_operation_duration_seconds_count"
	published := []string{"messaging_system", "nats", "messaging_operation_name", "publish",
		"messaging_operation_type", "send", "messaging_destination_name", "ORDERS"}
	before := metricstest.Scrape(t, url)
	assert.Equal(t, 0.0, before.Value("caas_outbox_backlog"))
	assert.Equal(t, 0.0, before.Value("caas_outbox_oldest_age_seconds"), "0 when nothing waits")
	assert.Equal(t, 0.0, before.Value(publishes))

	for range 3 {
		f.placeOrder(t.Context(), t, false)
	}
	f.placeOrder(t.Context(), t, true) // rolled back: never in the outbox
	waiting := metricstest.Scrape(t, url)
	assert.Equal(t, 3.0, waiting.Value("caas_outbox_backlog"))
	assert.Positive(t, waiting.Value("caas_outbox_oldest_age_seconds"))

	f.run(t, r)
	var after metricstest.Snapshot
	require.Eventually(t, func() bool {
		after = metricstest.Scrape(t, url)
		return after.Value("caas_outbox_backlog") == 0 && after.Value(publishes) >= 3
	}, 10*time.Second, 20*time.Millisecond, "the relay publishes the three events")
	assert.Equal(t, 3.0, after.Value(publishes, published...), "one publish per event, acknowledged by ORDERS")
	assert.Equal(t, 3.0, after.Value(publishes), "no failed publish")
	assert.Equal(t, 0.0, after.Value("caas_outbox_oldest_age_seconds"))
	assert.Equal(t, uint64(3), f.streamMsgs(t))
}
