package localstack

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	natsserver "github.com/nats-io/nats-server/v2/server"

	"github.com/caasdemo/orderdemo/services/platform/config"
	"github.com/caasdemo/orderdemo/services/platform/natsembed"
)

// Config is what the stack runner reads from the environment. Connection URLs that are set
// are used as they are; the rest is found or started.
type Config struct {
	DataDir        string     `env:"LOCAL_DATA_DIR" default:".data"`
	PrivateServers bool       `env:"LOCAL_PRIVATE_SERVERS" default:"false"` // never reuse the machine's PostgreSQL/Valkey
	PostgresPort   int        `env:"LOCAL_POSTGRES_PORT" default:"55432"`   // for a private PostgreSQL
	ValkeyPort     int        `env:"LOCAL_VALKEY_PORT" default:"56379"`     // for a private Valkey
	NATSPort       int        `env:"NATS_PORT" default:"14222"`             // for the embedded JetStream server
	DatabaseURL    config.URL `env:"DATABASE_URL"`
	DatabaseName   string     `env:"DATABASE_NAME" default:"caas_demo"`
	ValkeyURL      config.URL `env:"VALKEY_URL"`
	NATSURL        config.URL `env:"NATS_URL"`
	Services       Ports
	Metrics        MetricsPorts
	Secrets        Secrets
}

// Validate checks the ports.
func (c Config) Validate() error {
	var errs []error
	for name, port := range map[string]int{"LOCAL_POSTGRES_PORT": c.PostgresPort, "LOCAL_VALKEY_PORT": c.ValkeyPort, "NATS_PORT": c.NATSPort} {
		if port < 1 || port > 65535 {
			errs = append(errs, fmt.Errorf("%s=%d: not a TCP port", name, port))
		}
	}
	for name, port := range map[string]int{"GATEWAY_METRICS_PORT": c.Metrics.Gateway, "AUTH_METRICS_PORT": c.Metrics.Auth,
		"ORDER_METRICS_PORT": c.Metrics.Order, "AUDIT_METRICS_PORT": c.Metrics.Audit} {
		if port < 0 || port > 65535 {
			errs = append(errs, fmt.Errorf("%s=%d: not a TCP port (0 turns the service's metrics off)", name, port))
		}
	}
	return errors.Join(errs...)
}

// Stack is what one stack runner found or started. Stop stops what it started, and only that.
type Stack struct {
	cfg  Config
	out  io.Writer // one human-readable line per step
	logs string    // directory of the private servers' logs

	AdminPostgresURL string // the server's maintenance database, for tests
	DatabaseURL      string // the application database
	ValkeyURL        string
	NATSURL          string

	// DebugPorts, when set before StartServices, gives each named service a profiling
	// listener (DEBUG_ADDR) on that port of 127.0.0.1; the bench uses it.
	DebugPorts map[string]int

	processes []*Process
	nats      *natsserver.Server
}

// New prepares a stack; nothing starts until EnsureServers.
func New(cfg Config, out io.Writer) (*Stack, error) {
	dir, err := filepath.Abs(cfg.DataDir)
	if err != nil {
		return nil, fmt.Errorf("LOCAL_DATA_DIR: %w", err)
	}
	cfg.DataDir = dir
	logs := filepath.Join(dir, "logs")
	if err := os.MkdirAll(logs, 0o755); err != nil {
		return nil, fmt.Errorf("LOCAL_DATA_DIR=%s: %w", dir, err)
	}
	return &Stack{cfg: cfg, out: out, logs: logs}, nil
}

func (s *Stack) say(format string, args ...any) { fmt.Fprintf(s.out, "stack: "+format+"\n", args...) }

// EnsureServers finds or starts PostgreSQL and Valkey, and with withNATS also NATS, and
// creates the application database.
func (s *Stack) EnsureServers(ctx context.Context, withNATS bool) error {
	if err := s.ensurePostgres(ctx); err != nil {
		return err
	}
	if err := s.ensureValkey(ctx); err != nil {
		return err
	}
	if withNATS {
		return s.ensureNATS()
	}
	return nil
}

func (s *Stack) ensurePostgres(ctx context.Context) error {
	if s.cfg.DatabaseURL != "" {
		s.DatabaseURL = s.cfg.DatabaseURL.Reveal()
		u, err := url.Parse(s.DatabaseURL)
		if err != nil {
			return fmt.Errorf("DATABASE_URL: %w", err)
		}
		u.Path = "/postgres"
		s.AdminPostgresURL = u.String()
		s.say("postgres: using DATABASE_URL (%s)", s.cfg.DatabaseURL)
	} else {
		port, err := s.findOrStartPostgres(ctx)
		if err != nil {
			return err
		}
		s.AdminPostgresURL = PostgresURL(port, "postgres")
		s.DatabaseURL = PostgresURL(port, s.cfg.DatabaseName)
	}
	if err := EnsureDatabase(ctx, s.DatabaseURL); err != nil {
		return fmt.Errorf("DATABASE_URL: cannot open the database at %s: %w", config.URL(s.DatabaseURL), err)
	}
	return nil
}

func (s *Stack) findOrStartPostgres(ctx context.Context) (int, error) {
	candidates := []int{s.cfg.PostgresPort}
	if !s.cfg.PrivateServers {
		candidates = []int{5432, s.cfg.PostgresPort}
	}
	for _, port := range candidates {
		if err := PingPostgres(ctx, PostgresURL(port, "postgres")); err == nil {
			s.say("postgres: reusing the server on 127.0.0.1:%d", port)
			return port, nil
		}
	}
	dir := filepath.Join(s.cfg.DataDir, "postgres")
	s.say("postgres: starting a private server on 127.0.0.1:%d (data in %s)", s.cfg.PostgresPort, dir)
	log, err := s.logFile("postgres")
	if err != nil {
		return 0, err
	}
	p, err := StartPostgres(ctx, dir, s.cfg.PostgresPort, log)
	if err != nil {
		return 0, err
	}
	s.processes = append(s.processes, p)
	return s.cfg.PostgresPort, nil
}

func (s *Stack) ensureValkey(ctx context.Context) error {
	if s.cfg.ValkeyURL != "" {
		s.ValkeyURL = s.cfg.ValkeyURL.Reveal()
		s.say("valkey: using VALKEY_URL (%s)", s.cfg.ValkeyURL)
		if err := PingValkey(ctx, s.ValkeyURL); err != nil {
			return fmt.Errorf("VALKEY_URL: no answer from %s: %w", s.cfg.ValkeyURL, err)
		}
		return nil
	}
	candidates := []int{s.cfg.ValkeyPort}
	if !s.cfg.PrivateServers {
		candidates = []int{6379, s.cfg.ValkeyPort}
	}
	for _, port := range candidates {
		if err := PingValkey(ctx, ValkeyURL(port)); err == nil {
			s.say("valkey: reusing the server on 127.0.0.1:%d", port)
			s.ValkeyURL = ValkeyURL(port)
			return nil
		}
	}
	dir := filepath.Join(s.cfg.DataDir, "valkey")
	s.say("valkey: starting a private server on 127.0.0.1:%d (data in %s)", s.cfg.ValkeyPort, dir)
	log, err := s.logFile("valkey")
	if err != nil {
		return err
	}
	p, err := StartValkey(ctx, dir, s.cfg.ValkeyPort, log)
	if err != nil {
		return err
	}
	s.processes = append(s.processes, p)
	s.ValkeyURL = ValkeyURL(s.cfg.ValkeyPort)
	return nil
}

// ensureNATS starts the embedded JetStream server unless NATS_URL names another one. It
// never falls back to a NATS found on the machine: that may be too old for this system.
func (s *Stack) ensureNATS() error {
	if s.cfg.NATSURL != "" {
		s.NATSURL = s.cfg.NATSURL.Reveal()
		s.say("nats: using NATS_URL (%s)", s.cfg.NATSURL)
		return nil
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(s.cfg.NATSPort))
	if ln, err := net.Listen("tcp", addr); err != nil {
		return fmt.Errorf("NATS_PORT=%d: the port is in use (another `make run`?); choose another NATS_PORT or set NATS_URL", s.cfg.NATSPort)
	} else {
		_ = ln.Close()
	}
	dir := filepath.Join(s.cfg.DataDir, "nats")
	srv, err := natsembed.Start(natsembed.Options{Port: s.cfg.NATSPort, StoreDir: dir})
	if err != nil {
		return fmt.Errorf("NATS_PORT=%d: %w", s.cfg.NATSPort, err)
	}
	s.nats = srv
	s.NATSURL = srv.ClientURL()
	s.say("nats: embedded JetStream %s on %s (data in %s)", natsserver.VERSION, s.NATSURL, dir)
	return nil
}

// UseRunningNATS points the stack at the JetStream server a running `devstack run` embeds
// (or NATS_URL), failing with a sentence when none answers.
func (s *Stack) UseRunningNATS() error {
	if s.cfg.NATSURL != "" {
		s.NATSURL = s.cfg.NATSURL.Reveal()
		return nil
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(s.cfg.NATSPort))
	conn, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return fmt.Errorf("no NATS answers on %s: start the system with `make run` first, or set NATS_URL", addr)
	}
	_ = conn.Close()
	s.NATSURL = "nats://" + addr
	return nil
}

func (s *Stack) logFile(name string) (*os.File, error) {
	f, err := os.OpenFile(filepath.Join(s.logs, name+".log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("log file: %w", err)
	}
	return f, nil
}

// Stop stops, in reverse order, every process this stack started and the embedded NATS.
func (s *Stack) Stop() {
	for i := len(s.processes) - 1; i >= 0; i-- {
		p := s.processes[i]
		sig := syscall.SIGTERM
		if p.Name == "postgres" {
			sig = syscall.SIGINT // PostgreSQL's "fast" shutdown
		}
		if err := p.Stop(sig, 20*time.Second); err != nil {
			s.say("%v", err)
		} else {
			s.say("%s: stopped", p.Name)
		}
	}
	s.processes = nil
	if s.nats != nil {
		s.nats.Shutdown()
		s.nats.WaitForShutdown()
		s.nats = nil
		s.say("nats: stopped")
	}
}
