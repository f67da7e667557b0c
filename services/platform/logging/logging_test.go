package logging_test

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/caasdemo/orderdemo/services/platform/logging"
	"github.com/caasdemo/orderdemo/services/platform/requestid"
)

func TestLinesCarryServiceAndRequestID(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	log := logging.New(&buf, "order", slog.LevelInfo)

	log.With("order_id", "o-1").InfoContext(requestid.With(t.Context(), "req-42"), "order created")
	log.Debug("hidden below the level")

	var line map[string]any
	require.NoError(t, json.Unmarshal(bytes.TrimSpace(buf.Bytes()), &line), "exactly one JSON line: %s", buf.String())
	assert.Equal(t, "order", line["service"])
	assert.Equal(t, "req-42", line["request_id"])
	assert.Equal(t, "o-1", line["order_id"])
	assert.Equal(t, "order created", line["msg"])
}
