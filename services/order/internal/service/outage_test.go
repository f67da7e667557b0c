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

// callWithin is call, failing the test when no answer comes within 5 s.
func (h *harness) callWithin(u *user, method, path, body string, headers ...string) (testenv.Response, time.Duration) {
	h.t.Helper()
	if u != nil {
		headers = append(headers, "Authorization", "Bearer "+u.token)
	}
	return testenv.OutageCall(h.t, method, h.url+path, body, headers...)
}

// With Valkey (the revocation list) or PostgreSQL stalled or killed, every request is
// answered at once with 503 naming it — never a hang, never a 500 — and the service serves
// again as soon as the dependency is back.
func TestADependencyDownIsAnswered503NamingIt(t *testing.T) {
	t.Parallel()
	h, f := startWithFaults(t)
	alice, admin := h.user("alice", false), h.user("root", true)
	id := h.order(alice, "Lamp", 1)

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
		for _, req := range []struct {
			who          *user
			method, path string
			body         string
		}{
			{&alice, http.MethodGet, "/orders/me", ""},
			{&alice, http.MethodPost, "/orders", `{"item_name":"Tea","quantity":1}`},
			{&alice, http.MethodGet, "/orders/" + id, ""},
			{&admin, http.MethodGet, "/orders", ""},
			{&admin, http.MethodGet, "/orders/export.csv", ""},
			{&admin, http.MethodPatch, "/orders/" + id, `{"status":"approved"}`},
		} {
			r, elapsed := h.callWithin(req.who, req.method, req.path, req.body)
			testenv.CheckUnavailable(t, r, elapsed, tc.dependency, tc.dependency+" "+tc.fault+": "+req.method+" "+req.path)
		}
		tc.proxy.Restore()
		require.Eventually(t, func() bool {
			r, _ := h.callWithin(&alice, http.MethodGet, "/orders/me", "")
			return r.Status == http.StatusOK
		}, 10*time.Second, 100*time.Millisecond, "%s %s: served again once it is back", tc.dependency, tc.fault)
	}
	mine := h.call(&alice, http.MethodGet, "/orders/me", "")
	assert.EqualValues(t, 1, mine.Body["total"], "no order was taken while a dependency was down")
}

// An order is committed only after the token check, so an outage of Valkey answers the
// request before anything is stored: the client's retry with the same Idempotency-Key then
// creates the order exactly once.
func TestAnOrderIsNeverCommittedWithoutItsAnswer(t *testing.T) {
	t.Parallel()
	h, f := startWithFaults(t)
	alice := h.user("alice", false)
	body := `{"item_name":"Tea","quantity":2}`

	f.Valkey.Stall()
	r, elapsed := h.callWithin(&alice, http.MethodPost, "/orders", body, "Idempotency-Key", "retry-1")
	testenv.CheckUnavailable(t, r, elapsed, "valkey", "POST /orders with Valkey stalled")
	f.Valkey.Restore()

	var created testenv.Response
	require.Eventually(t, func() bool {
		created, _ = h.callWithin(&alice, http.MethodPost, "/orders", body, "Idempotency-Key", "retry-1")
		return created.Status != http.StatusServiceUnavailable
	}, 10*time.Second, 100*time.Millisecond)
	assert.Equal(t, http.StatusCreated, created.Status, created.Raw)
	assert.Empty(t, created.Header.Get("Idempotent-Replayed"), "the refused attempt had stored nothing")
	mine := h.call(&alice, http.MethodGet, "/orders/me", "")
	assert.EqualValues(t, 1, mine.Body["total"])
}

// /ready means "send me traffic": the service keeps taking orders while NATS is away (they
// wait in the outbox), so NATS down only degrades it; without PostgreSQL or Valkey it is
// useless and says so.
func TestReadyWhileNATSIsAwayButNotWithoutPostgresOrValkey(t *testing.T) {
	t.Parallel()
	h, f := startWithFaults(t)
	alice := h.user("alice", false)
	testenv.WaitReady(t, h.url, 0)

	f.NATS.Stop()
	testenv.CheckDegraded(t, h.url, "nats")
	id := h.order(alice, "Kept in the outbox", 1)

	f.NATS.Start()
	testenv.WaitReady(t, h.url, 15*time.Second)
	assert.Len(t, h.streamEvents(events.OrderSubjectFilter(id), 1), 1, "the order taken meanwhile is published")

	f.CheckUnreadyWhileStalled(t, h.url)
}
