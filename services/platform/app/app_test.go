package app_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/caasdemo/orderdemo/services/platform/app"
	"github.com/caasdemo/orderdemo/services/platform/authtoken"
)

type testConfig struct {
	app.Base
	Token authtoken.Config
}

func lookup(vars map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := vars[k]; return v, ok }
}

func TestRunStopsOnBadConfigurationWithOneLineNamingTheVariable(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	called := false
	code := app.Run(t.Context(), "order", ":8002", nil, lookup(map[string]string{"JWT_SECRET": "0123456789"}), &out,
		func(context.Context, *testConfig, *slog.Logger) error { called = true; return nil })
	assert.Equal(t, 2, code)
	assert.False(t, called)
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	assert.Len(t, lines, 1)
	assert.Contains(t, lines[0], "JWT_SECRET must be at least 32 bytes, got 10")
	assert.NotContains(t, lines[0], "0123456789")
}

func TestRunAppliesTheDefaultAddressAndMasksSecrets(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	var got *testConfig
	secret := "k7Jd0qWm3ZbLx9VtR2yHc5NpF8sGa4Ue1"
	code := app.Run(t.Context(), "order", ":8002", nil, lookup(map[string]string{"JWT_SECRET": secret}), &out,
		func(_ context.Context, cfg *testConfig, _ *slog.Logger) error { got = cfg; return nil })
	assert.Equal(t, 0, code)
	assert.Equal(t, ":8002", got.HTTP.Addr)
	assert.Equal(t, secret, got.Token.Secret.Reveal())
	assert.Contains(t, out.String(), `"JWT_SECRET":"***"`)
	assert.NotContains(t, out.String(), secret)
}

func TestRunReportsAFailedStartWithExitCodeOne(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	code := app.Run(t.Context(), "audit", ":8003", nil, lookup(map[string]string{"JWT_SECRET": "k7Jd0qWm3ZbLx9VtR2yHc5NpF8sGa4Ue1"}), &out,
		func(context.Context, *testConfig, *slog.Logger) error {
			return errors.New("DATABASE_URL: cannot reach PostgreSQL at db:5432/app")
		})
	assert.Equal(t, 1, code)
	assert.Contains(t, out.String(), `"error":"DATABASE_URL: cannot reach PostgreSQL at db:5432/app"`)
}

func TestClosersRunInReverseOrder(t *testing.T) {
	t.Parallel()
	var order []string
	var c app.Closers
	c.Add(func() { order = append(order, "pool") })
	c.Add(func() { order = append(order, "nats") })
	c.Close()
	c.Close()
	assert.Equal(t, []string{"nats", "pool"}, order)
}

func TestDebugAddrMustBeLoopback(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	code := app.Run(t.Context(), "order", ":8002", nil, lookup(map[string]string{
		"JWT_SECRET": "k7Jd0qWm3ZbLx9VtR2yHc5NpF8sGa4Ue1", "DEBUG_ADDR": "0.0.0.0:6060",
	}), &out, func(context.Context, *testConfig, *slog.Logger) error { return nil })
	assert.Equal(t, 2, code)
	assert.Contains(t, out.String(), `DEBUG_ADDR=\"0.0.0.0:6060\": must be a loopback address`)
}

func TestDebugAddrServesProfilesWhileTheServiceRuns(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	var out bytes.Buffer
	var status int
	code := app.Run(t.Context(), "order", ":8002", nil, lookup(map[string]string{
		"JWT_SECRET": "k7Jd0qWm3ZbLx9VtR2yHc5NpF8sGa4Ue1", "DEBUG_ADDR": addr,
	}), &out, func(context.Context, *testConfig, *slog.Logger) error {
		resp, err := http.Get("http://" + addr + "/debug/pprof/goroutine?debug=1")
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		status = resp.StatusCode
		return nil
	})
	assert.Equal(t, 0, code, out.String())
	assert.Equal(t, http.StatusOK, status)
}

func TestMetricsAddrIsCheckedAtStartUpNamingTheVariable(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]struct {
		vars map[string]string
		want string
	}{
		"not host:port":         {map[string]string{"METRICS_ADDR": "9102"}, `METRICS_ADDR=\"9102\": address 9102: missing port in address`},
		"no port number":        {map[string]string{"METRICS_ADDR": "127.0.0.1:metrics"}, `METRICS_ADDR=\"127.0.0.1:metrics\": the port must be a number`},
		"the default HTTP port": {map[string]string{"METRICS_ADDR": "0.0.0.0:8002"}, `METRICS_ADDR=\"0.0.0.0:8002\": must not be the port of HTTP_ADDR (\":8002\")`},
		"the HTTP_ADDR port": {map[string]string{"METRICS_ADDR": "127.0.0.1:9000", "HTTP_ADDR": "127.0.0.1:9000"},
			`METRICS_ADDR=\"127.0.0.1:9000\": must not be the port of HTTP_ADDR`},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			var out bytes.Buffer
			tc.vars["JWT_SECRET"] = "k7Jd0qWm3ZbLx9VtR2yHc5NpF8sGa4Ue1"
			called := false
			code := app.Run(t.Context(), "order", ":8002", nil, lookup(tc.vars), &out,
				func(context.Context, *testConfig, *slog.Logger) error { called = true; return nil })
			assert.Equal(t, 2, code)
			assert.False(t, called)
			assert.Contains(t, out.String(), tc.want)
		})
	}
}

func TestMetricsAddrOnAnotherPortStarts(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	var got *testConfig
	code := app.Run(t.Context(), "order", ":8002", nil, lookup(map[string]string{
		"JWT_SECRET": "k7Jd0qWm3ZbLx9VtR2yHc5NpF8sGa4Ue1", "METRICS_ADDR": "0.0.0.0:9102",
	}), &out, func(_ context.Context, cfg *testConfig, _ *slog.Logger) error { got = cfg; return nil })
	assert.Equal(t, 0, code, out.String())
	assert.Equal(t, "0.0.0.0:9102", got.Metrics.Addr, "a metrics address need not be loopback")
}
