package service_test

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/caasdemo/orderdemo/services/platform/authtoken"
	"github.com/caasdemo/orderdemo/services/platform/testenv"
)

// With Valkey (sessions, limits, revocations) or PostgreSQL (accounts) stalled or killed,
// every endpoint that needs it is answered at once with 503 naming it — never a hang, never
// a 500 — and the service serves again as soon as the dependency is back.
func TestADependencyDownIsAnswered503NamingIt(t *testing.T) {
	t.Parallel()
	env := baseEnv(t)
	proxies := map[string]*testenv.Proxy{
		"postgres": testenv.StartProxy(t, env["DATABASE_URL"]),
		"valkey":   testenv.StartProxy(t, env["VALKEY_URL"]),
	}
	env["DATABASE_URL"], env["VALKEY_URL"] = proxies["postgres"].URL(), proxies["valkey"].URL()
	env["DATABASE_CALL_TIMEOUT"] = "1s" // the production deadline: this test is about it
	h := start(t, env)
	t.Cleanup(func() { proxies["postgres"].Restore(); proxies["valkey"].Restore() }) // before the service stops, should the test fail mid-outage
	tokens := h.mustLogin("ivan", "ivan password")
	formType := []string{"Content-Type", "application/x-www-form-urlencoded"}
	requests := []struct {
		needs              string // "both", or the one dependency the endpoint uses
		method, path, body string
		headers            []string
	}{
		{"both", http.MethodPost, "/auth/token", url.Values{"username": {"ivan"}, "password": {"ivan password"}}.Encode(), formType},
		{"valkey", http.MethodPost, "/auth/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tokens["refresh_token"].(string)}}.Encode(), formType},
		{"both", http.MethodPost, "/auth/register", `{"username":"judy_1","password":"judy password"}`, nil},
		{"valkey", http.MethodGet, "/auth/verify", "", []string{"Authorization", "Bearer " + tokens["access_token"].(string)}},
		// Logout needs PostgreSQL too, for its event, but only after revoking: a logout that
		// got that far has taken effect, and its retry is refused as a revoked token.
		{"valkey", http.MethodPost, "/auth/logout", "", []string{"Authorization", "Bearer " + tokens["access_token"].(string)}},
	}

	for _, dependency := range []string{"valkey", "postgres"} {
		for _, fault := range []string{"stalled", "killed"} {
			if fault == "stalled" {
				proxies[dependency].Stall()
			} else {
				proxies[dependency].Cut()
			}
			for _, req := range requests {
				if req.needs != "both" && req.needs != dependency {
					continue
				}
				r, elapsed := testenv.OutageCall(t, req.method, h.srv.URL+req.path, req.body, req.headers...)
				testenv.CheckUnavailable(t, r, elapsed, dependency, dependency+" "+fault+": "+req.method+" "+req.path)
			}
			proxies[dependency].Restore()
			require.Eventually(t, func() bool {
				r, _ := testenv.OutageCall(t, http.MethodGet, h.srv.URL+"/ready", "")
				return r.Status == http.StatusOK
			}, 10*time.Second, 100*time.Millisecond, "%s %s: ready again once it is back", dependency, fault)
		}
	}
}

// A logout ends the login everywhere: the access tokens a refresh handed out for the same
// login are refused as well — by the auth service and by the middleware the order and audit
// services run — while another login of the same user keeps working.
func TestLogoutRevokesEveryAccessTokenOfTheLogin(t *testing.T) {
	t.Parallel()
	h := start(t, baseEnv(t))
	first := h.mustLogin("kate", "kate password")
	refreshed := h.token(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {first["refresh_token"].(string)}})
	require.Equal(t, http.StatusOK, refreshed.Status, refreshed.Raw)
	second := refreshed.Body["access_token"].(string)
	other := h.login("kate", "kate password")
	require.Equal(t, http.StatusOK, other.Status, other.Raw)
	elsewhere := other.Body["access_token"].(string)

	orders := otherServiceVerifier(t, h).Require(authtoken.ScopeUserOrders, quietLog())(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusOK)
	}))
	atOrders := func(token string) int {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest(http.MethodGet, "/orders/me", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		orders.ServeHTTP(rec, req)
		return rec.Code
	}
	require.Equal(t, http.StatusOK, atOrders(second))

	r := h.withBearer(http.MethodPost, "/auth/logout", first["access_token"].(string))
	require.Equal(t, http.StatusOK, r.Status, r.Raw)

	assert.Equal(t, http.StatusUnauthorized, atOrders(second), "the renewed token of the logged-out login, at the order service")
	assert.Equal(t, http.StatusUnauthorized, h.withBearer(http.MethodGet, "/auth/verify", second).Status, "and at the auth service")
	assert.Equal(t, http.StatusOK, atOrders(elsewhere), "another login of the same user")
	assert.Equal(t, http.StatusOK, h.withBearer(http.MethodGet, "/auth/verify", elsewhere).Status)
}

// Auth writes its events through an outbox too: without NATS it keeps registering and
// logging users in, so /ready stays 200 and says "degraded"; the events follow when NATS is
// back.
func TestReadyWhileNATSIsAway(t *testing.T) {
	t.Parallel()
	env := baseEnv(t)
	nats := testenv.StartNATS(t)
	env["NATS_URL"] = nats.URL()
	h := start(t, env)

	nats.Stop()
	testenv.CheckDegraded(t, h.srv.URL, "nats")
	require.Equal(t, http.StatusCreated, h.register("kept_in_outbox", "outbox password").Status)

	nats.Start()
	testenv.WaitReady(t, h.srv.URL, 15*time.Second)
}
