package service_test

import (
	"io"
	"log/slog"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/caasdemo/orderdemo/services/order/internal/config"
	"github.com/caasdemo/orderdemo/services/order/internal/service"
	pconfig "github.com/caasdemo/orderdemo/services/platform/config"
	"github.com/caasdemo/orderdemo/services/platform/testenv"
)

func TestServiceStartsMigratedAndReady(t *testing.T) {
	t.Parallel()
	dbURL := testenv.PostgresURL(t)
	natsURL := testenv.NATS(t)
	var cfg config.Config
	require.NoError(t, pconfig.Load(testenv.Lookup(map[string]string{
		"DATABASE_URL": dbURL,
		"NATS_URL":     natsURL,
		"JWT_SECRET":   testenv.JWTSecret,
	}), &cfg))

	svc, err := service.New(t.Context(), &cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	require.NoError(t, err)
	defer svc.Close()

	rep := testenv.RequireReady(t, svc.Handler)
	assert.Len(t, svc.Workers, 1, "the outbox relay")
	testenv.RequireStream(t, natsURL, "ORDERS")
	assert.Equal(t, map[string]string{"postgres": "ok", "nats": "ok", "outbox": "ok"}, rep.Checks)
	assert.Equal(t, map[string]any{"unpublished": float64(0), "oldest_age_seconds": float64(0)}, rep.Details["outbox"])
	assert.Equal(t, []string{"orders.orders", "orders.outbox"}, testenv.Tables(t, dbURL, service.Schema))
}
