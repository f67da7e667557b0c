package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"time"
)

// DebugConfig turns on the profiling endpoints (net/http/pprof) on a listener of their own.
// It is off unless DEBUG_ADDR is set, and the address must be a loopback one: profiles show
// the program's internals and are never served on the service's own port.
type DebugConfig struct {
	Addr string `env:"DEBUG_ADDR"`
}

// Validate refuses a DEBUG_ADDR that is not host:port on a loopback address.
func (c DebugConfig) Validate() error {
	if c.Addr == "" {
		return nil
	}
	host, _, err := net.SplitHostPort(c.Addr)
	if err != nil {
		return fmt.Errorf("DEBUG_ADDR=%q: %w", c.Addr, err)
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return fmt.Errorf("DEBUG_ADDR=%q: must be a loopback address such as 127.0.0.1:6060", c.Addr)
	}
	return nil
}

// serveDebug serves /debug/pprof/ on cfg.Addr until ctx ends. It returns at once; a listen
// error is returned before anything is served.
func serveDebug(ctx context.Context, cfg DebugConfig, log *slog.Logger) error {
	if cfg.Addr == "" {
		return nil
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("DEBUG_ADDR=%q: cannot listen: %w", cfg.Addr, err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		<-ctx.Done()
		_ = srv.Close()
	}()
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Warn("debug listener stopped", "error", err.Error())
		}
	}()
	log.Info("profiling endpoints on", "addr", ln.Addr().String())
	return nil
}
