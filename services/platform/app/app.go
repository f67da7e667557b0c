// Package app is the shared main of the four services: it builds a signal-aware context,
// loads the typed configuration, makes the logger, runs the service and turns a start-up
// failure into one log line and a non-zero exit code.
//
// A service's main is one line:
//
//	func main() { app.Main("order", ":8002", service.Run) }
//
// The same binary answers `<binary> healthcheck`, which exits 0 when the running service's
// /ready answers 200: distroless images have no curl for container health checks.
package app

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"
	"time"

	"github.com/caasdemo/orderdemo/services/platform/config"
	"github.com/caasdemo/orderdemo/services/platform/httpserver"
	"github.com/caasdemo/orderdemo/services/platform/logging"
	"github.com/caasdemo/orderdemo/services/platform/telemetry"
)

// Base is embedded by every service's configuration.
type Base struct {
	LogLevel slog.Level `env:"LOG_LEVEL" default:"info"`
	HTTP     httpserver.Config
	Debug    DebugConfig
	// Metrics is where GET /metrics is served. The service opens it with its connections
	// (backend.Open), as what it measures is built there; Run only checks it.
	Metrics telemetry.MetricsConfig
}

// Platform returns the shared part of a configuration.
func (b *Base) Platform() *Base { return b }

// Configuration is a pointer to a service's config struct, which embeds Base.
type Configuration[C any] interface {
	*C
	Platform() *Base
}

// Runner runs a service until ctx ends. It returns nil after a clean shutdown.
type Runner[C any] func(ctx context.Context, cfg *C, log *slog.Logger) error

// DefaultMemoryLimit is the soft memory limit of a service when GOMEMLIMIT is not set: the
// garbage collector works harder as the process nears it, instead of letting the heap grow
// to twice what is live (GOGC=100), so a service stays well inside its container's budget.
// It is soft: a service that needs more gets more. A service whose footprint grows with its
// clients (the gateway's event streams) passes a larger one to Main.
const DefaultMemoryLimit = 32 << 20

// Main is the whole main function of a service; defaultAddr is its listen address when
// HTTP_ADDR is not set; memoryLimit, when given, replaces DefaultMemoryLimit. It exits the
// process.
func Main[C any, P Configuration[C]](service, defaultAddr string, run Runner[C], memoryLimit ...int64) {
	if _, set := os.LookupEnv("GOMEMLIMIT"); !set {
		limit := int64(DefaultMemoryLimit)
		if len(memoryLimit) > 0 {
			limit = memoryLimit[0]
		}
		debug.SetMemoryLimit(limit)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := Run[C, P](ctx, service, defaultAddr, os.Args[1:], os.LookupEnv, os.Stdout, run)
	stop()
	os.Exit(code)
}

// Run is Main without the process: tests call it with their own arguments, environment and
// output. It returns the exit code.
func Run[C any, P Configuration[C]](ctx context.Context, service, defaultAddr string, args []string, lookup config.Lookup, stdout io.Writer, run Runner[C]) int {
	cfg := P(new(C))
	if err := config.Load(lookup, cfg); err != nil {
		logging.New(stdout, service, slog.LevelInfo).Error("invalid configuration", "error", err.Error())
		return 2
	}
	base := cfg.Platform()
	if base.HTTP.Addr == "" {
		base.HTTP.Addr = defaultAddr
	}
	if err := base.Metrics.Apart(base.HTTP.Addr); err != nil { // known once the default is in
		logging.New(stdout, service, slog.LevelInfo).Error("invalid configuration", "error", err.Error())
		return 2
	}
	log := logging.New(stdout, service, base.LogLevel)
	if len(args) > 0 && args[0] == "healthcheck" {
		return healthcheck(ctx, base.HTTP.Addr, log)
	}
	log.Info("starting", "config", config.Describe(cfg))
	if err := serveDebug(ctx, base.Debug, log); err != nil {
		log.Error("cannot start", "error", err.Error())
		return 1
	}
	if err := run(ctx, (*C)(cfg), log); err != nil {
		log.Error("stopped with an error", "error", err.Error())
		return 1
	}
	log.Info("stopped")
	return 0
}

// healthcheck asks the service listening on addr whether it is ready.
func healthcheck(ctx context.Context, addr string, log *slog.Logger) int {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		log.Error("healthcheck", "error", fmt.Sprintf("HTTP_ADDR=%q: %v", addr, err))
		return 1
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+net.JoinHostPort(host, port)+"/ready", nil)
	if err != nil {
		return 1
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		log.Error("healthcheck", "error", err.Error())
		return 1
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		log.Error("healthcheck: not ready", "status", resp.StatusCode, "body", string(body))
		return 1
	}
	return 0
}
