// Package httpserver holds the HTTP side every service shares: a chi router with request ids,
// access logs, request metrics, panic recovery and the health endpoints already mounted, and
// Serve, which runs the server until the context ends and then shuts it down gracefully.
package httpserver

import (
	"log/slog"
	"net/http"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/semconv/v1.43.0/httpconv"

	"github.com/caasdemo/orderdemo/services/platform/health"
	"github.com/caasdemo/orderdemo/services/platform/requestid"
)

// scope is the instrumentation scope of the request metrics.
const scope = "github.com/caasdemo/orderdemo/services/platform/httpserver"

// NewRouter returns a router with the standard middleware and GET /health and GET /ready.
// The service mounts its own routes on it. meters (nil: not measured) receives the duration
// of every request as http.server.request.duration, by method, route pattern and status.
func NewRouter(service string, log *slog.Logger, meters metric.MeterProvider, checks ...health.Check) chi.Router {
	if meters == nil {
		meters = noop.NewMeterProvider()
	}
	duration, err := httpconv.NewServerRequestDuration(meters.Meter(scope))
	if err != nil {
		otel.Handle(err) // only a name the SDK refuses, which the metrics tests would show
	}
	r := chi.NewRouter()
	r.Use(requestid.Middleware, observe(log, duration), recoverer(log))
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

// observe logs one line per request and records its duration. Health probes are logged at
// debug level only, so orchestrators polling them do not drown the log. Query strings are not
// logged: they may carry search terms a user typed.
//
// The duration is labelled with the route pattern chi matched ("/orders/{id}"), never the
// path, so ids do not make a series each; a request no route matched has no http.route. An
// event stream (a text/event-stream answer) is not recorded: its duration is the life of the
// stream, hours, and would drown the requests' own; the gateway counts its streams apart.
func observe(log *slog.Logger, duration httpconv.ServerRequestDuration) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			start := time.Now()
			rec := &statusRecorder{ResponseWriter: w}
			next.ServeHTTP(rec, r)
			elapsed := time.Since(start)
			level := slog.LevelInfo
			if r.URL.Path == "/health" || r.URL.Path == "/ready" {
				level = slog.LevelDebug
			}
			log.Log(r.Context(), level, "http request",
				"method", r.Method, "path", r.URL.Path, "status", rec.status,
				"duration_ms", float64(elapsed.Microseconds())/1000)
			if isEventStream(rec.Header()) {
				return
			}
			duration.RecordSet(r.Context(), elapsed.Seconds(), requestAttributes(r, rec.status))
		})
	}
}

// requestAttributes are the labels of one request's duration, per the HTTP semantic
// conventions: method (an unknown one as _OTHER), scheme, status, route pattern and, for a
// 5xx, error.type.
func requestAttributes(r *http.Request, status int) attribute.Set {
	if status == 0 {
		status = http.StatusOK // the handler wrote nothing: net/http answers 200
	}
	method := r.Method
	if !knownMethods[method] {
		method = "_OTHER"
	}
	kvs := []attribute.KeyValue{
		attribute.String("http.request.method", method),
		attribute.String("url.scheme", "http"), // the services speak plain HTTP behind the proxy
		attribute.Int("http.response.status_code", status),
	}
	if rctx := chi.RouteContext(r.Context()); rctx != nil {
		if route := rctx.RoutePattern(); route != "" {
			kvs = append(kvs, attribute.String("http.route", route))
		}
	}
	if status >= 500 {
		kvs = append(kvs, attribute.String("error.type", strconv.Itoa(status)))
	}
	return attribute.NewSet(kvs...)
}

// knownMethods are the methods the conventions name; any other is recorded as _OTHER, so a
// client inventing methods cannot make series.
var knownMethods = map[string]bool{
	http.MethodGet: true, http.MethodHead: true, http.MethodPost: true, http.MethodPut: true, http.MethodPatch: true,
	http.MethodDelete: true, http.MethodConnect: true, http.MethodOptions: true, http.MethodTrace: true,
}

func isEventStream(h http.Header) bool {
	return strings.HasPrefix(h.Get("Content-Type"), "text/event-stream")
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
