// Package telemetry gives each service its OpenTelemetry meter provider and serves what the
// service measures as Prometheus metrics, on a listener of its own (METRICS_ADDR).
//
// Instruments are made with the OpenTelemetry metrics API and named after the semantic
// conventions (http.server.request.duration, db.client.connection.count,
// messaging.client.consumed.messages); what the conventions do not name carries the caas.
// prefix (caas.orders.created). The Prometheus exporter turns the names into Prometheus form:
// dots become underscores, the unit becomes a suffix and counters end in _total, so
// http.server.request.duration in seconds is scraped as http_server_request_duration_seconds.
// docs/observability.md lists every metric with its labels.
//
// Every service builds one *Metrics and hands it, as a metric.MeterProvider, to what it
// instruments (the HTTP router, the pool, the consumers, its application). Nothing is global:
// two services in one test process count apart, and a test reads exactly what its own service
// counted. The resource that names the service (service.name, service.instance.id) is
// scraped as target_info.
package telemetry

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/otlptranslator"
	"go.opentelemetry.io/contrib/instrumentation/runtime"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	"go.opentelemetry.io/otel/metric"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/resource"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
)

// Path is where the metrics are served.
const Path = "/metrics"

// MetricsConfig turns on GET /metrics on a listener of its own. It is off unless METRICS_ADDR
// is set. The address may be any host:port a scraper can reach, but never the port of
// HTTP_ADDR: the service's port is the one browsers and clients reach, and what the metrics
// show (routes, rates, pool sizes) is for operators.
type MetricsConfig struct {
	Addr string `env:"METRICS_ADDR"`
}

// Validate refuses a METRICS_ADDR that is not host:port with a numeric port.
func (c MetricsConfig) Validate() error {
	if c.Addr == "" {
		return nil
	}
	_, port, err := net.SplitHostPort(c.Addr)
	if err != nil {
		return fmt.Errorf("METRICS_ADDR=%q: %w", c.Addr, err)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return fmt.Errorf("METRICS_ADDR=%q: the port must be a number from 0 to 65535, such as 127.0.0.1:9102", c.Addr)
	}
	return nil
}

// Apart refuses a METRICS_ADDR on the port of httpAddr, the service's own address (whatever
// the host: one interface or all). Port 0 (a free port, in tests) is never the same port.
func (c MetricsConfig) Apart(httpAddr string) error {
	if c.Addr == "" {
		return nil
	}
	_, metricsPort, err := net.SplitHostPort(c.Addr)
	if err != nil {
		return fmt.Errorf("METRICS_ADDR=%q: %w", c.Addr, err)
	}
	_, httpPort, err := net.SplitHostPort(httpAddr)
	if err != nil || metricsPort == "0" || metricsPort != httpPort {
		return nil // a bad HTTP_ADDR is reported when the service listens on it
	}
	return fmt.Errorf("METRICS_ADDR=%q: must not be the port of HTTP_ADDR (%q), which clients reach; choose another port", c.Addr, httpAddr)
}

// Metrics is one service's meter provider and its Prometheus endpoint. It is a
// metric.MeterProvider: pass it to whatever the service instruments. Close releases it.
type Metrics struct {
	metric.MeterProvider
	sdk        *sdkmetric.MeterProvider
	handler    http.Handler
	instanceID string
	addr       string
	srv        *http.Server
}

// OpenMetrics builds the meter provider of the named service, with the Go runtime metrics,
// and when cfg.Addr is set serves GET /metrics there until Close. A listen error names
// METRICS_ADDR. service.instance.id is a random UUID for each start, which tells replicas,
// and restarts, apart.
func OpenMetrics(service string, cfg MetricsConfig, log *slog.Logger) (*Metrics, error) {
	m := &Metrics{instanceID: uuid.NewString()}
	registry := prometheus.NewRegistry()
	exporter, err := otelprom.New(
		otelprom.WithRegisterer(registry),
		// Explicit: Prometheus-style names (underscores, unit suffixes, _total) whatever
		// validation scheme the client library defaults to.
		otelprom.WithTranslationStrategy(otlptranslator.UnderscoreEscapingWithSuffixes),
		// Every instrument's name is unique across the service's scopes; the scope labels
		// would only lengthen every series.
		otelprom.WithoutScopeInfo(),
		// go.schedule.duration: how long goroutines wait for a CPU (the runtime's histogram).
		otelprom.WithProducer(runtime.NewProducer()),
	)
	if err != nil {
		return nil, fmt.Errorf("metrics: %w", err)
	}
	res, err := resource.New(context.Background(),
		resource.WithTelemetrySDK(),
		resource.WithAttributes(semconv.ServiceName(service), semconv.ServiceInstanceID(m.instanceID)))
	if err != nil {
		return nil, fmt.Errorf("metrics: %w", err)
	}
	m.sdk = sdkmetric.NewMeterProvider(sdkmetric.WithReader(exporter), sdkmetric.WithResource(res))
	m.MeterProvider = m.sdk
	// The runtime's own metrics (runtime/metrics, read without stopping the world), under
	// their semantic-convention names (go.memory.used, go.goroutine.count, …): the same SDK
	// and naming as the rest, rather than the Prometheus client's go_memstats_* family.
	if err := runtime.Start(runtime.WithMeterProvider(m.sdk)); err != nil {
		_ = m.sdk.Shutdown(context.Background())
		return nil, fmt.Errorf("metrics: Go runtime: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET "+Path, promhttp.HandlerFor(registry, promhttp.HandlerOpts{
		ErrorLog:      slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		ErrorHandling: promhttp.ContinueOnError, // a bad metric must not hide the others
	}))
	m.handler = mux
	if cfg.Addr != "" {
		if err := m.serve(cfg.Addr, log); err != nil {
			_ = m.sdk.Shutdown(context.Background())
			return nil, err
		}
	}
	return m, nil
}

// serve listens on addr and serves the handler in the background until Close.
func (m *Metrics) serve(addr string, log *slog.Logger) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("METRICS_ADDR=%q: cannot listen: %w", addr, err)
	}
	m.addr = ln.Addr().String()
	m.srv = &http.Server{Handler: m.handler, ReadHeaderTimeout: 5 * time.Second, WriteTimeout: 30 * time.Second,
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
	go func() {
		if err := m.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Warn("metrics listener stopped", "error", err.Error())
		}
	}()
	log.Info("metrics on", "addr", m.addr, "path", Path, "service_instance_id", m.instanceID)
	return nil
}

// Handler serves GET /metrics (and answers 404 to anything else): what the listener serves,
// for a test or another mux.
func (m *Metrics) Handler() http.Handler { return m.handler }

// Addr is the address the listener is bound to (the free port chosen for port 0), or ""
// when METRICS_ADDR is not set.
func (m *Metrics) Addr() string { return m.addr }

// InstanceID is the service.instance.id of this start of the service.
func (m *Metrics) InstanceID() string { return m.instanceID }

// Close stops the listener and the meter provider; instruments made from it record nothing
// afterwards.
func (m *Metrics) Close() {
	if m.srv != nil {
		_ = m.srv.Close()
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_ = m.sdk.Shutdown(ctx)
}
