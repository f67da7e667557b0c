package service_test

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/caasdemo/orderdemo/services/platform/telemetry/metricstest"
)

// TestMetricsCountRefusedLoginsByReason scrapes GET /metrics on METRICS_ADDR before and
// after a known series of logins: three wrong passwords for robert (his limit), a fourth refused
// by the limit, two names no account has (one with a control character, refused without a
// look-up) and two good logins.
func TestMetricsCountRefusedLoginsByReason(t *testing.T) {
	t.Parallel()
	env := baseEnv(t)
	env["LOGIN_MAX_FAILURES_PER_USERNAME"] = "3"
	h := start(t, env)
	require.Equal(t, http.StatusCreated, h.register("robert", "roberts-password").Status)
	before := metricstest.Scrape(t, h.metrics)

	for range 3 {
		require.Equal(t, http.StatusUnauthorized, h.login("robert", "not-his-password").Status)
	}
	require.Equal(t, http.StatusTooManyRequests, h.login("robert", "not-his-password").Status)
	require.Equal(t, http.StatusUnauthorized, h.login("nobody", "whatever-pw").Status)
	require.Equal(t, http.StatusUnauthorized, h.login("no\x00body", "whatever-pw").Status)
	require.Equal(t, http.StatusOK, h.login("admin", adminPassword).Status)
	require.Equal(t, http.StatusOK, h.login("admin", adminPassword).Status)
	after := metricstest.Scrape(t, h.metrics)

	delta := func(name string, labels ...string) float64 {
		return after.Value(name, labels...) - before.Value(name, labels...)
	}
	assert.Equal(t, 3.0, delta("caas_logins_failed_total", "caas_login_reason", "bad_password"))
	assert.Equal(t, 1.0, delta("caas_logins_failed_total", "caas_login_reason", "rate_limited"))
	assert.Equal(t, 2.0, delta("caas_logins_failed_total", "caas_login_reason", "unknown_user"))
	assert.Equal(t, 6.0, delta("caas_logins_failed_total"), "a good login is no failure")

	const requests = "http_server_request_duration_seconds_count"
	token := []string{"http_request_method", "POST", "http_route", "/auth/token"}
	assert.Equal(t, 2.0, delta(requests, append(token, "http_response_status_code", "200")...))
	assert.Equal(t, 5.0, delta(requests, append(token, "http_response_status_code", "401")...))
	assert.Equal(t, 1.0, delta(requests, append(token, "http_response_status_code", "429")...))
	assert.Equal(t, 10.0, after.Value("db_client_connection_max", "db_client_connection_pool_name", "auth"),
		"the pool is reported, DATABASE_MAX_CONNS by default")
	assert.Equal(t, 1.0, after.Value("target_info", "service_name", "auth"))
}
