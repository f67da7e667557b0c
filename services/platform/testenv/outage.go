package testenv

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/caasdemo/orderdemo/services/platform/health"
	"github.com/caasdemo/orderdemo/services/platform/problem"
)

// OutageBound is the longest a request may take while a dependency is down: the answer is
// due within 2 s; the rest is slack for a loaded test machine. A request that hangs (the
// failure it guards against) takes as long as its client waits.
const OutageBound = 2500 * time.Millisecond

// Faults are the servers of a service under test started so that the test can play their
// outages: PostgreSQL and Valkey behind a Proxy each, and a JetStream server of its own.
type Faults struct {
	Postgres, Valkey *Proxy
	NATS             *NATSServer
}

// StartFaults starts a fresh database and the Valkey server behind proxies, and a JetStream
// server. Env points a service at them.
func StartFaults(t testing.TB) Faults {
	t.Helper()
	return Faults{Postgres: StartProxy(t, PostgresURL(t)), Valkey: StartProxy(t, ValkeyURL(t)), NATS: StartNATS(t)}
}

// Env are the variables that point a service at f, name then value, with the default
// deadline of a PostgreSQL call (the harnesses lengthen it for tests not about outages).
func (f Faults) Env() []string {
	return []string{"DATABASE_URL", f.Postgres.URL(), "VALKEY_URL", f.Valkey.URL(), "NATS_URL", f.NATS.URL(),
		"DATABASE_CALL_TIMEOUT", "1s"}
}

// DatabaseCallTimeout is the deadline of a PostgreSQL call in tests that are not about a
// failing database: a loaded test machine may take seconds for a statement the production
// deadline (1 s) would cut off, and such a test must not fail for it.
const DatabaseCallTimeout = 30 * time.Second

// Restore relays to PostgreSQL and Valkey again. A test registers it as a cleanup after
// starting the service, so that it runs first: a request still waiting on a stalled server
// when the test failed then finishes instead of holding up the service's shutdown.
func (f Faults) Restore() {
	f.Postgres.Restore()
	f.Valkey.Restore()
}

// OutageCall is CallWithin with a client that waits 5 s, twice OutageBound.
func OutageCall(t testing.TB, method, url, body string, headers ...string) (Response, time.Duration) {
	t.Helper()
	return CallWithin(t, 5*time.Second, method, url, body, headers...)
}

// CheckUnavailable checks the answer r, which took elapsed, to a request made while
// dependency was down: 503 within OutageBound, with Retry-After and a problem naming the
// dependency and carrying the request id. what names the case in failures.
func CheckUnavailable(t testing.TB, r Response, elapsed time.Duration, dependency, what string) {
	t.Helper()
	t.Logf("%s: %d in %s", what, r.Status, elapsed.Round(time.Millisecond))
	if r.Status != http.StatusServiceUnavailable {
		t.Errorf("%s: status %d, want 503: %s", what, r.Status, r.Raw)
		return
	}
	if got := r.Header.Get("Retry-After"); got == "" {
		t.Errorf("%s: no Retry-After", what)
	}
	if got := r.Header.Get("Content-Type"); got != problem.ContentType {
		t.Errorf("%s: Content-Type %q, want %q", what, got, problem.ContentType)
	}
	if want := dependency + " is unavailable; please try again shortly"; r.Body["detail"] != want {
		t.Errorf("%s: detail %q, want %q", what, r.Body["detail"], want)
	}
	if r.Body["request_id"] == nil || r.Body["request_id"] == "" {
		t.Errorf("%s: no request id", what)
	}
	if elapsed >= OutageBound {
		t.Errorf("%s: answered after %s, want under %s", what, elapsed.Round(time.Millisecond), OutageBound)
	}
}

// Ready asks baseURL's GET /ready (failing the test if it hangs) and returns its status,
// its report and how long it took.
func Ready(t testing.TB, baseURL string) (int, health.Report, time.Duration) {
	t.Helper()
	r, elapsed := OutageCall(t, http.MethodGet, baseURL+"/ready", "")
	var rep health.Report
	if err := json.Unmarshal([]byte(r.Raw), &rep); err != nil {
		t.Fatalf("GET /ready body %q: %v", r.Raw, err)
	}
	return r.Status, rep, elapsed
}

// CheckDegraded asserts that baseURL's /ready answers 200 "degraded", naming only
// dependency as degraded and nothing as down: the service keeps serving without it.
func CheckDegraded(t testing.TB, baseURL, dependency string) {
	t.Helper()
	status, rep, _ := Ready(t, baseURL)
	if status != http.StatusOK || rep.Status != "degraded" || len(rep.Down) != 0 ||
		len(rep.Degraded) != 1 || rep.Degraded[0] != dependency || !strings.HasPrefix(rep.Checks[dependency], "degraded: ") {
		t.Errorf("/ready without %s: want 200 degraded naming only it, got %d %+v", dependency, status, rep)
	}
}

// WaitReady waits until baseURL's /ready answers 200 "ready" again, without a restart.
func WaitReady(t testing.TB, baseURL string, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		status, rep, _ := Ready(t, baseURL)
		if status == http.StatusOK && rep.Status == "ready" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("/ready not 200 ready within %s: %d %+v", within, status, rep)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// CheckUnreadyWhileStalled stalls PostgreSQL, then Valkey, and asserts that baseURL's /ready
// answers 503 naming the stalled one within OutageBound: without either the service is
// useless and says so.
func (f Faults) CheckUnreadyWhileStalled(t testing.TB, baseURL string) {
	t.Helper()
	for _, c := range []struct {
		name  string
		proxy *Proxy
	}{{"postgres", f.Postgres}, {"valkey", f.Valkey}} {
		c.proxy.Stall()
		status, rep, elapsed := Ready(t, baseURL)
		c.proxy.Restore()
		if elapsed >= OutageBound || status != http.StatusServiceUnavailable || rep.Status != "unavailable" ||
			len(rep.Down) != 1 || rep.Down[0] != c.name {
			t.Errorf("/ready with %s stalled: want 503 unavailable naming it within %s, got %d %+v after %s",
				c.name, OutageBound, status, rep, elapsed)
		}
	}
}
