package natsconn_test

import (
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/caasdemo/orderdemo/services/platform/config"
	"github.com/caasdemo/orderdemo/services/platform/health"
	"github.com/caasdemo/orderdemo/services/platform/natsconn"
	"github.com/caasdemo/orderdemo/services/platform/testenv"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func TestConnectGivesAWorkingJetStream(t *testing.T) {
	t.Parallel()
	url := testenv.NATS(t)
	nc, js, err := natsconn.Connect(t.Context(), natsconn.Config{URL: config.URL(url), ConnectTimeout: time.Second}, "test", quiet)
	require.NoError(t, err)
	defer nc.Close()

	rep := health.Evaluate(t.Context(), []health.Check{natsconn.Check(nc, js)})
	assert.Empty(t, rep.Down)

	nc.Close()
	rep = health.Evaluate(t.Context(), []health.Check{natsconn.Check(nc, js)})
	assert.Equal(t, []string{"nats"}, rep.Down)
}

func TestConnectGivesUpNamingTheVariable(t *testing.T) {
	t.Parallel()
	_, _, err := natsconn.Connect(t.Context(), natsconn.Config{URL: "nats://user:pw1234@127.0.0.1:1", ConnectTimeout: 200 * time.Millisecond}, "test", quiet)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "NATS_URL: cannot reach NATS")
	assert.NotContains(t, err.Error(), "pw1234")
}

func TestAZeroCallTimeoutIsRefusedNamingTheVariable(t *testing.T) {
	t.Parallel()
	var cfg natsconn.Config
	err := config.Load(testenv.Lookup(map[string]string{"NATS_URL": "nats://127.0.0.1:4222", "NATS_CALL_TIMEOUT": "0s"}), &cfg)
	assert.ErrorContains(t, err, "NATS_CALL_TIMEOUT must be positive")
	require.NoError(t, config.Load(testenv.Lookup(map[string]string{"NATS_URL": "nats://127.0.0.1:4222"}), &cfg))
	assert.Equal(t, 2*time.Second, cfg.CallTimeout)
}
