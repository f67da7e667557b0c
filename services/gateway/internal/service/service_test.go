package service_test

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/caasdemo/orderdemo/services/gateway/internal/config"
	"github.com/caasdemo/orderdemo/services/gateway/internal/service"
	pconfig "github.com/caasdemo/orderdemo/services/platform/config"
	"github.com/caasdemo/orderdemo/services/platform/health"
	"github.com/caasdemo/orderdemo/services/platform/requestid"
	"github.com/caasdemo/orderdemo/services/platform/testenv"
)

func TestGatewayIsReadyWhenEverythingBehindItIs(t *testing.T) {
	t.Parallel()
	seenIDs := make(chan string, 10)
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seenIDs <- r.Header.Get(requestid.Header)
		if r.URL.Path != "/health" {
			w.WriteHeader(http.StatusNotFound)
		}
	}))
	defer backend.Close()
	down := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	defer down.Close()

	env := map[string]string{
		"NATS_URL":   testenv.NATS(t),
		"VALKEY_URL": testenv.ValkeyURL(t),
		"AUTH_URL":   backend.URL,
		"ORDER_URL":  backend.URL,
		"AUDIT_URL":  backend.URL,
	}
	var cfg config.Config
	require.NoError(t, pconfig.Load(testenv.Lookup(env), &cfg))
	svc, err := service.New(t.Context(), &cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	require.NoError(t, err)
	defer svc.Close()

	rep := testenv.RequireReady(t, svc.Handler)
	assert.Len(t, rep.Checks, 5)
	assert.Empty(t, rep.Down)

	// The readiness probes of the services carry the gateway's request id.
	req := httptest.NewRequest(http.MethodGet, "/ready", nil)
	req.Header.Set(requestid.Header, "probe-77")
	svc.Handler.ServeHTTP(httptest.NewRecorder(), req)
	for range 3 {
		<-seenIDs // drain the first round
	}
	for range 3 {
		assert.Equal(t, "probe-77", <-seenIDs)
	}

	// With the order service down, the gateway says so by name.
	env["ORDER_URL"] = down.URL
	require.NoError(t, pconfig.Load(testenv.Lookup(env), &cfg))
	svc2, err := service.New(t.Context(), &cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	require.NoError(t, err)
	defer svc2.Close()
	rec := httptest.NewRecorder()
	svc2.Handler.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/ready", nil))
	assert.Equal(t, http.StatusServiceUnavailable, rec.Code)
	var body health.Report
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &body))
	assert.Equal(t, []string{"order"}, body.Down)
}
