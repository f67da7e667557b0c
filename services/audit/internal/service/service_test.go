package service_test

import (
	"io"
	"log/slog"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/caasdemo/orderdemo/services/audit/internal/config"
	"github.com/caasdemo/orderdemo/services/audit/internal/service"
	pconfig "github.com/caasdemo/orderdemo/services/platform/config"
	"github.com/caasdemo/orderdemo/services/platform/testenv"
)

func TestServiceStartsMigratedAndReady(t *testing.T) {
	t.Parallel()
	dbURL := testenv.PostgresURL(t)
	var cfg config.Config
	require.NoError(t, pconfig.Load(testenv.Lookup(map[string]string{
		"DATABASE_URL": dbURL,
		"NATS_URL":     testenv.NATS(t),
		"JWT_SECRET":   testenv.JWTSecret,
	}), &cfg))

	svc, err := service.New(t.Context(), &cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	require.NoError(t, err)
	defer svc.Close()

	rep := testenv.RequireReady(t, svc.Handler)
	assert.Equal(t, map[string]string{"postgres": "ok", "nats": "ok"}, rep.Checks)
	assert.Equal(t, []string{"audit.audit_log"}, testenv.Tables(t, dbURL, service.Schema))
}
