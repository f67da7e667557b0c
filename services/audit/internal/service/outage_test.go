package service_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/caasdemo/orderdemo/events"
	"github.com/caasdemo/orderdemo/services/platform/testenv"
)

// startWithFaults starts the service on servers whose outages the test plays.
func startWithFaults(t *testing.T) (*harness, testenv.Faults) {
	t.Helper()
	f := testenv.StartFaults(t)
	h := start(t, f.Env()...)
	t.Cleanup(f.Restore)
	return h, f
}

// getWithin is get, failing the test when no answer comes within 5 s.
func (h *harness) getWithin(path, token string) (testenv.Response, time.Duration) {
	h.t.Helper()
	return testenv.OutageCall(h.t, http.MethodGet, h.url+path, "", "Authorization", "Bearer "+token)
}

// With Valkey (the revocation list) or PostgreSQL stalled or killed, every request is
// answered at once with 503 naming it — never a hang, never a 500 — and the service serves
// again as soon as the dependency is back.
func TestADependencyDownIsAnswered503NamingIt(t *testing.T) {
	t.Parallel()
	h, f := startWithFaults(t)
	s := h.scenario()

	for _, tc := range []struct {
		dependency string
		proxy      *testenv.Proxy
		fault      string
	}{
		{"valkey", f.Valkey, "stalled"}, {"valkey", f.Valkey, "killed"},
		{"postgres", f.Postgres, "stalled"}, {"postgres", f.Postgres, "killed"},
	} {
		if tc.fault == "stalled" {
			tc.proxy.Stall()
		} else {
			tc.proxy.Cut()
		}
		for _, path := range []string{"/audit/events", "/audit/events.csv", "/audit/stats", "/audit/orders/" + s.o1 + "/events", "/audit/dead-letters"} {
			r, elapsed := h.getWithin(path, h.admin)
			testenv.CheckUnavailable(t, r, elapsed, tc.dependency, tc.dependency+" "+tc.fault+": GET "+path)
		}
		r, elapsed := testenv.OutageCall(t, http.MethodPost, h.url+"/audit/dead-letters/1/redrive", "", "Authorization", "Bearer "+h.admin)
		testenv.CheckUnavailable(t, r, elapsed, tc.dependency, tc.dependency+" "+tc.fault+": POST a re-drive")
		tc.proxy.Restore()
		require.Eventually(t, func() bool {
			r, _ := h.getWithin("/audit/events", h.admin)
			return r.Status == http.StatusOK
		}, 10*time.Second, 100*time.Millisecond, "%s %s: served again once it is back", tc.dependency, tc.fault)
	}
}

// /ready means "send me traffic": the audit log stays readable while NATS is away (it only
// stops growing, and the consumers resume where they stopped), so NATS down only degrades
// the service; without PostgreSQL or Valkey it is useless and says so.
func TestReadyWhileNATSIsAwayButNotWithoutPostgresOrValkey(t *testing.T) {
	t.Parallel()
	h, f := startWithFaults(t)
	h.scenario()
	testenv.WaitReady(t, h.url, 0)

	f.NATS.Stop()
	testenv.CheckDegraded(t, h.url, "nats")
	r, _ := h.getWithin("/audit/events", h.admin)
	assert.Equal(t, http.StatusOK, r.Status)
	assert.EqualValues(t, 8, r.Body["total"])

	f.NATS.Start()
	testenv.WaitReady(t, h.url, 15*time.Second)
	require.Eventually(t, func() bool { return h.nc.IsConnected() }, 10*time.Second, 50*time.Millisecond)
	h.publish(events.UserRegistered{UserID: events.NewID(), Username: "carol"})
	h.waitApplied(9)

	f.CheckUnreadyWhileStalled(t, h.url)
}
