package testenv

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/caasdemo/orderdemo/services/platform/health"
	"github.com/caasdemo/orderdemo/services/platform/problem"
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

// CheckRateLimited asserts a refusal by a rate limit: 429, Retry-After (seconds) and the
// RateLimit field's t both about retryAfter (at most RateLimitSlack less), the policy
// announced, and a problem body whose detail starts with detail.
func CheckRateLimited(t testing.TB, r Response, policy string, retryAfter int, detail string) {
	t.Helper()
	if r.Status != http.StatusTooManyRequests {
		t.Fatalf("want 429, got %d: %s", r.Status, r.Raw)
	}
	retry, err := strconv.Atoi(r.Header.Get("Retry-After"))
	if err != nil || retry > retryAfter || retry < retryAfter-RateLimitSlack {
		t.Errorf("Retry-After %q, want at most %d s less than %d", r.Header.Get("Retry-After"), RateLimitSlack, retryAfter)
	}
	if got := r.Header.Get("RateLimit-Policy"); got != policy {
		t.Errorf("RateLimit-Policy %q, want %q", got, policy)
	}
	name, _, _ := strings.Cut(policy, ";")
	CheckRateLimit(t, r.Header.Get("RateLimit"), fmt.Sprintf("%s;r=0;t=%d", name, retryAfter), "the refusal")
	if got := r.Header.Get("Content-Type"); got != problem.ContentType {
		t.Errorf("Content-Type %q, want %q", got, problem.ContentType)
	}
	if got, _ := r.Body["detail"].(string); !strings.HasPrefix(got, detail) {
		t.Errorf("detail %q, want it to start with %q", got, detail)
	}
}
