// Package httpserver holds the HTTP side every service shares: a chi router with request ids,
// access logs, panic recovery and the health endpoints already mounted, and Serve, which runs
// the server until the context ends and then shuts it down gracefully.
package httpserver

import (
	"log/slog"
	"net/http"
	"runtime/debug"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/caasdemo/orderdemo/services/platform/health"
	"github.com/caasdemo/orderdemo/services/platform/requestid"
)

// NewRouter returns a router with the standard middleware and GET /health and GET /ready.
// The service mounts its own routes on it.
func NewRouter(service string, log *slog.Logger, checks ...health.Check) chi.Router {
	r := chi.NewRouter()
	r.Use(requestid.Middleware, accessLog(log), recoverer(log))
	r.Get("/health", health.LiveHandler(service))
	r.Get("/ready", health.ReadyHandler(log, checks...))
	return r
}

// statusRecorder remembers the status code written; Unwrap keeps http.ResponseController
// (flushing, deadlines for SSE) working through it.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// accessLog logs one line per request. Health probes are logged at debug level only, so
// orchestrators polling them do not drown the log. Query strings are not logged: they may
// carry search terms a user typed.
func accessLog(log *slog.Logger) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			start := time.Now()
			rec := &statusRecorder{ResponseWriter: w}
			next.ServeHTTP(rec, r)
			level := slog.LevelInfo
			if r.URL.Path == "/health" || r.URL.Path == "/ready" {
				level = slog.LevelDebug
			}
			log.Log(r.Context(), level, "http request",
				"method", r.Method, "path", r.URL.Path, "status", rec.status,
				"duration_ms", float64(time.Since(start).Microseconds())/1000)
		})
	}
}

// recoverer turns a panic in a handler into a logged error and a plain 500, instead of a
// dropped connection.
func recoverer(log *slog.Logger) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			defer func() {
				v := recover()
				if v == nil {
					return
				}
				if v == http.ErrAbortHandler { // net/http's own signal to abort quietly
					panic(v)
				}
				log.ErrorContext(r.Context(), "handler panic", "panic", v, "stack", string(debug.Stack()))
				http.Error(w, "internal error, request id "+requestid.FromContext(r.Context()), http.StatusInternalServerError)
			}()
			next.ServeHTTP(w, r)
		})
	}
}
