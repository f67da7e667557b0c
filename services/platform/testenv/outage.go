package testenv

import (
	"encoding/json"
	"net/http"
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

// Env are the variables that point a service at f, name then value.
func (f Faults) Env() []string {
	return []string{"DATABASE_URL", f.Postgres.URL(), "VALKEY_URL", f.Valkey.URL(), "NATS_URL", f.NATS.URL()}
}

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
