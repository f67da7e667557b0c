// Package health serves GET /health (the process is alive) and GET /ready ("send me traffic":
// every dependency the service cannot work without answers). Readiness runs each check
// concurrently with a short timeout on every request, so a dependency that comes back turns
// the service ready again by itself, with no restart. A dependency the service keeps working
// without (Check.Degrades) is reported as degraded in the body and never fails readiness.
package health

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"sort"
	"sync"
	"time"
)

// Check probes one dependency. Probe returns nil when the dependency is usable; a check
// without Probe never fails. Detail, when set, adds figures to the report (such as the outbox
// lag) without deciding readiness. Degrades marks a dependency the service still serves
// without: its failure is reported (Degraded, status "degraded") but readiness holds.
type Check struct {
	Name     string
	Probe    func(ctx context.Context) error
	Detail   func(ctx context.Context) (any, error)
	Degrades bool
}

// Timeout bounds each probe of a readiness request.
const Timeout = time.Second

// Report is the body of /ready.
type Report struct {
	Status   string            `json:"status"`             // "ready", "degraded" or "unavailable"
	Down     []string          `json:"down,omitempty"`     // failing checks that fail readiness, sorted
	Degraded []string          `json:"degraded,omitempty"` // failing checks with Degrades, sorted
	Checks   map[string]string `json:"checks"`             // "ok" or the failure
	Details  map[string]any    `json:"details,omitempty"`  // figures from checks with Detail
}

// Evaluate runs every check at once, each bounded by Timeout.
func Evaluate(ctx context.Context, checks []Check) Report {
	rep := Report{Status: "ready", Checks: make(map[string]string, len(checks))}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, c := range checks {
		wg.Go(func() {
			pctx, cancel := context.WithTimeout(ctx, Timeout)
			defer cancel()
			var err error
			if c.Probe != nil {
				err = c.Probe(pctx)
			}
			var detail any
			if c.Detail != nil {
				d, derr := c.Detail(pctx)
				detail = d
				if derr != nil {
					detail = "unavailable: " + derr.Error()
				}
			}
			mu.Lock()
			defer mu.Unlock()
			if detail != nil {
				if rep.Details == nil {
					rep.Details = map[string]any{}
				}
				rep.Details[c.Name] = detail
			}
			switch {
			case err != nil && c.Degrades:
				rep.Checks[c.Name] = "degraded: " + err.Error()
				rep.Degraded = append(rep.Degraded, c.Name)
				return
			case err != nil:
				rep.Checks[c.Name] = "down: " + err.Error()
				rep.Down = append(rep.Down, c.Name)
				return
			}
			rep.Checks[c.Name] = "ok"
		})
	}
	wg.Wait()
	sort.Strings(rep.Down)
	sort.Strings(rep.Degraded)
	switch {
	case len(rep.Down) > 0:
		rep.Status = "unavailable"
	case len(rep.Degraded) > 0:
		rep.Status = "degraded"
	}
	return rep
}

// LiveHandler answers GET /health: 200 while the process serves HTTP.
func LiveHandler(service string) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok", "service": service})
	}
}

// ReadyHandler answers GET /ready: 503 naming the failing checks when one without Degrades
// fails, 200 otherwise (its status "degraded" when a check with Degrades fails).
func ReadyHandler(log *slog.Logger, checks ...Check) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		rep := Evaluate(r.Context(), checks)
		status := http.StatusOK
		if len(rep.Down) > 0 {
			status = http.StatusServiceUnavailable
			log.WarnContext(r.Context(), "not ready", "down", rep.Down)
		} else if len(rep.Degraded) > 0 {
			log.WarnContext(r.Context(), "ready but degraded", "degraded", rep.Degraded)
		}
		writeJSON(w, status, rep)
	}
}

func writeJSON(w http.ResponseWriter, status int, body any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body)
}

// HTTPCheck probes another service's GET <baseURL>/health with client.
func HTTPCheck(name string, client *http.Client, baseURL string) Check {
	return Check{Name: name, Probe: func(ctx context.Context) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, baseURL+"/health", nil)
		if err != nil {
			return err
		}
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return errors.New("GET /health answered " + resp.Status)
		}
		return nil
	}}
}
