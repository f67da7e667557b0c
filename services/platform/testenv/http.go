package testenv

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/caasdemo/orderdemo/services/platform/health"
)

// RequireReady fails the test unless h answers GET /health and GET /ready with 200, and
// returns the readiness report.
func RequireReady(t testing.TB, h http.Handler) health.Report {
	t.Helper()
	for _, path := range []string{"/health", "/ready"} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		if rec.Code != http.StatusOK {
			t.Fatalf("GET %s = %d: %s", path, rec.Code, rec.Body.String())
		}
		if path == "/ready" {
			var rep health.Report
			if err := json.Unmarshal(rec.Body.Bytes(), &rep); err != nil {
				t.Fatalf("GET /ready body: %v", err)
			}
			return rep
		}
	}
	return health.Report{}
}

// RateLimitSlack is how many seconds a RateLimit t (or a Retry-After) read on the real clock
// may fall short of the value due when its quota was last counted: time passes between the
// requests that set it and the one that reads it, more of it on a loaded machine.
const RateLimitSlack = 30

// CheckRateLimit asserts a RateLimit field (`"<policy>";r=<remaining>;t=<seconds>`) against
// want in the same form: the same policy and remaining requests exactly, t at most
// RateLimitSlack seconds below want's.
func CheckRateLimit(t testing.TB, field, want, what string) {
	t.Helper()
	policy, rest, _ := strings.Cut(want, ";")
	var wantR, wantT, r, sec int
	if _, err := fmt.Sscanf(rest, "r=%d;t=%d", &wantR, &wantT); err != nil {
		t.Fatalf("%s: bad expectation %q", what, want)
	}
	gotPolicy, gotRest, _ := strings.Cut(field, ";")
	if _, err := fmt.Sscanf(gotRest, "r=%d;t=%d", &r, &sec); err != nil || gotPolicy != policy || r != wantR ||
		sec > wantT || sec < wantT-RateLimitSlack {
		t.Errorf("%s: RateLimit %q, want %q (t at most %d s less)", what, field, want, RateLimitSlack)
	}
}
