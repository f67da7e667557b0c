package health_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/caasdemo/orderdemo/services/platform/health"
)

// readiness returns a function asking GET /ready of the checks, with its status and report.
func readiness(t *testing.T, checks ...health.Check) func() (int, health.Report) {
	h := health.ReadyHandler(slog.New(slog.NewTextHandler(io.Discard, nil)), checks...)
	return func() (int, health.Report) {
		rec := httptest.NewRecorder()
		h(rec, httptest.NewRequest(http.MethodGet, "/ready", nil))
		var rep health.Report
		require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &rep))
		return rec.Code, rep
	}
}

func TestReadyNamesWhatIsDownAndRecoversByItself(t *testing.T) {
	t.Parallel()
	var pgDown atomic.Bool
	checks := []health.Check{
		{Name: "postgres", Probe: func(context.Context) error {
			if pgDown.Load() {
				return errors.New("connection refused")
			}
			return nil
		}},
		{Name: "nats", Probe: func(context.Context) error { return nil }},
	}
	get := readiness(t, checks...)

	code, rep := get()
	assert.Equal(t, http.StatusOK, code)
	assert.Equal(t, "ready", rep.Status)

	pgDown.Store(true)
	code, rep = get()
	assert.Equal(t, http.StatusServiceUnavailable, code)
	assert.Equal(t, []string{"postgres"}, rep.Down)
	assert.Equal(t, "down: connection refused", rep.Checks["postgres"])
	assert.Equal(t, "ok", rep.Checks["nats"])

	pgDown.Store(false)
	code, _ = get()
	assert.Equal(t, http.StatusOK, code)
}

func TestAHangingProbeIsCutOffByTheTimeout(t *testing.T) {
	t.Parallel()
	start := time.Now()
	rep := health.Evaluate(t.Context(), []health.Check{{Name: "valkey", Probe: func(ctx context.Context) error {
		<-ctx.Done()
		return ctx.Err()
	}}})
	assert.Equal(t, []string{"valkey"}, rep.Down)
	assert.Less(t, time.Since(start), 3*health.Timeout)
}

func TestHTTPCheckFollowsTheOtherServicesHealth(t *testing.T) {
	t.Parallel()
	var down atomic.Bool
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		if down.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	defer upstream.Close()
	checks := []health.Check{health.HTTPCheck("order", upstream.Client(), upstream.URL)}

	assert.Empty(t, health.Evaluate(t.Context(), checks).Down)
	down.Store(true)
	rep := health.Evaluate(t.Context(), checks)
	assert.Equal(t, "down: GET /health answered 503 Service Unavailable", rep.Checks["order"])
	upstream.Close()
	assert.Equal(t, []string{"order"}, health.Evaluate(t.Context(), checks).Down)
}

func TestDetailsAreReportedWithoutDecidingReadiness(t *testing.T) {
	t.Parallel()
	rep := health.Evaluate(t.Context(), []health.Check{
		{Name: "outbox", Detail: func(context.Context) (any, error) { return map[string]int{"unpublished": 7}, nil }},
		{Name: "broken", Detail: func(context.Context) (any, error) { return nil, errors.New("no table") }},
	})
	assert.Empty(t, rep.Down)
	assert.Equal(t, "ok", rep.Checks["outbox"])
	assert.Equal(t, map[string]int{"unpublished": 7}, rep.Details["outbox"])
	assert.Equal(t, "unavailable: no table", rep.Details["broken"])
}

func TestADegradingCheckIsReportedWithoutFailingReadiness(t *testing.T) {
	t.Parallel()
	var valkeyDown atomic.Bool
	checks := []health.Check{
		{Name: "audit", Degrades: true, Probe: func(context.Context) error { return errors.New("connection refused") }},
		{Name: "valkey", Probe: func(context.Context) error {
			if valkeyDown.Load() {
				return errors.New("i/o timeout")
			}
			return nil
		}},
	}
	get := readiness(t, checks...)

	code, rep := get()
	assert.Equal(t, http.StatusOK, code, "a degrading dependency down still takes traffic")
	assert.Equal(t, "degraded", rep.Status)
	assert.Equal(t, []string{"audit"}, rep.Degraded)
	assert.Empty(t, rep.Down)
	assert.Equal(t, "degraded: connection refused", rep.Checks["audit"])

	valkeyDown.Store(true)
	code, rep = get()
	assert.Equal(t, http.StatusServiceUnavailable, code)
	assert.Equal(t, "unavailable", rep.Status)
	assert.Equal(t, []string{"valkey"}, rep.Down)
	assert.Equal(t, []string{"audit"}, rep.Degraded)
}
