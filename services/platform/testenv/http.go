package testenv

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
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
