package valkeyconn_test

import (
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/caasdemo/orderdemo/services/platform/config"
	"github.com/caasdemo/orderdemo/services/platform/health"
	"github.com/caasdemo/orderdemo/services/platform/testenv"
	"github.com/caasdemo/orderdemo/services/platform/valkeyconn"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func TestConnectAndCheck(t *testing.T) {
	t.Parallel()
	client, err := valkeyconn.Connect(t.Context(), valkeyconn.Config{URL: config.URL(testenv.ValkeyURL(t)), ConnectTimeout: time.Second}, quiet)
	require.NoError(t, err)
	defer client.Close()
	rep := health.Evaluate(t.Context(), []health.Check{valkeyconn.Check(client)})
	assert.Empty(t, rep.Down)
}

func TestConnectGivesUpNamingTheVariable(t *testing.T) {
	t.Parallel()
	_, err := valkeyconn.Connect(t.Context(), valkeyconn.Config{URL: "redis://:hunter22@127.0.0.1:1/0", ConnectTimeout: 200 * time.Millisecond}, quiet)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "VALKEY_URL: cannot reach Valkey")
	assert.NotContains(t, err.Error(), "hunter22")

	_, err = valkeyconn.Connect(t.Context(), valkeyconn.Config{URL: "http://example"}, quiet)
	assert.ErrorContains(t, err, "VALKEY_URL: not a valid Valkey URL")
}
