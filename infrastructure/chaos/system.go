// Package chaos is the fault suite behind `make chaos` (and its short form in `make test`):
// it runs the whole system as separate processes on loopback — its own PostgreSQL, Valkey
// and a standalone JetStream server, and the four services — puts a steady load on it, and
// during the load kills, stops or poisons one piece at a time. After each fault it counts
// what the system promised never to do: lose or double an order, a decision or an event,
// leave an event unpublished, let the projection drift from the order table, miss a live
// update in a watching browser, or leave a client hanging.
package chaos

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/caasdemo/orderdemo/infrastructure/localstack"
	"github.com/caasdemo/orderdemo/services/platform/config"
)

// The pieces besides the four services (localstack.ServiceNames).
const (
	Postgres = "postgres"
	Valkey   = "valkey"
	NATS     = "nats"
)

// System is the whole system as separate processes, each of which can be killed and started
// again on the same data and port.
type System struct {
	dir   string
	bin   string
	log   *os.File // every child's output
	stack *localstack.Stack
	ports localstack.Ports
	env   []string // added to every service's environment

	pgPort, valkeyPort, natsPort int

	DatabaseURL string
	ValkeyURL   string
	NATSURL     string
	Admin       [2]string // username, password

	mu    sync.Mutex
	procs map[string]*localstack.Process
}

// freePort returns a port on 127.0.0.1 that was free a moment ago.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

func freePorts(n int) ([]int, error) {
	out := make([]int, 0, n)
	seen := map[int]bool{}
	for len(out) < n {
		p, err := freePort()
		if err != nil {
			return nil, err
		}
		if !seen[p] {
			seen[p] = true
			out = append(out, p)
		}
	}
	return out, nil
}

// Start builds the services and the standalone JetStream server into dir/bin, starts a
// private PostgreSQL, Valkey and JetStream server with their data under dir, and the four
// services, and waits until every service is ready. serviceEnv is added to each service's
// environment (limits the load must not trip). The caller calls Stop.
func Start(ctx context.Context, dir string, serviceEnv []string) (*System, error) {
	ports, err := freePorts(7)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	if err := os.Chmod(dir, 0o755); err != nil { // the postgres user enters it when we are root
		return nil, err
	}
	log, err := os.OpenFile(filepath.Join(dir, "system.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	s := &System{dir: dir, bin: filepath.Join(dir, "bin"), log: log, env: serviceEnv,
		pgPort: ports[0], valkeyPort: ports[1], natsPort: ports[2],
		ports: localstack.Ports{Gateway: ports[3], Auth: ports[4], Order: ports[5], Audit: ports[6]},
		procs: map[string]*localstack.Process{}}
	if err := s.start(ctx); err != nil {
		s.Stop()
		return nil, err
	}
	return s, nil
}

func (s *System) start(ctx context.Context) error {
	root, err := localstack.RepoRoot()
	if err != nil {
		return err
	}
	if err := localstack.BuildServices(ctx, root, s.bin, "./infrastructure/cmd/natsnode"); err != nil {
		return err
	}
	for _, piece := range []string{Postgres, Valkey, NATS} {
		if err := s.Restart(ctx, piece); err != nil {
			return err
		}
	}
	s.DatabaseURL = localstack.PostgresURL(s.pgPort, "caas_chaos")
	s.ValkeyURL = localstack.ValkeyURL(s.valkeyPort)
	s.NATSURL = "nats://127.0.0.1:" + strconv.Itoa(s.natsPort)
	var cfg localstack.Config // the defaults, then this system's own servers, ports and data
	if err := config.Load(func(string) (string, bool) { return "", false }, &cfg); err != nil {
		return err
	}
	cfg.DataDir = s.dir
	cfg.DatabaseURL, cfg.ValkeyURL, cfg.NATSURL = config.URL(s.DatabaseURL), config.URL(s.ValkeyURL), config.URL(s.NATSURL)
	cfg.Services = s.ports
	cfg.Metrics = localstack.MetricsPorts{} // no listeners: the suite reads none, and 9100–9103 may be `make run`'s
	stack, err := localstack.New(cfg, io.Discard)
	if err != nil {
		return err
	}
	if err := stack.EnsureServers(ctx, true); err != nil { // creates the database
		return err
	}
	s.stack = stack
	for _, name := range localstack.ServiceNames {
		if err := s.Restart(ctx, name); err != nil {
			return err
		}
	}
	_, err = s.WaitReady(ctx, 90*time.Second)
	if err == nil {
		s.Admin[0], s.Admin[1] = stack.AdminLogin() // filled in by the first ServiceEnv
	}
	return err
}

// URL is the base URL of a service.
func (s *System) URL(service string) string { return s.stack.ServiceURL(service) }

// Restart starts piece (a service, Postgres, Valkey or NATS) on its port and data. It waits
// for PostgreSQL and Valkey to answer and for NATS to accept connections; a service is
// waited for by WaitReady.
func (s *System) Restart(ctx context.Context, piece string) error {
	var p *localstack.Process
	var err error
	switch piece {
	case Postgres:
		p, err = localstack.StartPostgres(ctx, filepath.Join(s.dir, "postgres"), s.pgPort, s.log)
	case Valkey:
		p, err = localstack.StartValkey(ctx, filepath.Join(s.dir, "valkey"), s.valkeyPort, s.log)
	case NATS:
		p, err = localstack.StartProcess(NATS, filepath.Join(s.bin, "natsnode"),
			[]string{"-port", strconv.Itoa(s.natsPort), "-store", filepath.Join(s.dir, "nats")}, nil, s.log)
		if err == nil {
			err = waitDial(ctx, "127.0.0.1:"+strconv.Itoa(s.natsPort), 30*time.Second)
		}
	default:
		var env []string
		if env, err = s.stack.ServiceEnv(piece); err == nil {
			env = append(env, s.env...)
			p, err = localstack.StartProcess(piece, filepath.Join(s.bin, piece), nil, env, s.log)
		}
	}
	if err != nil {
		return fmt.Errorf("start %s: %w", piece, err)
	}
	s.mu.Lock()
	s.procs[piece] = p
	s.mu.Unlock()
	return nil
}

func waitDial(ctx context.Context, addr string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			return c.Close()
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("nothing listens on %s after %s: %w", addr, timeout, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func (s *System) proc(piece string) *localstack.Process {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.procs[piece]
}

// Signal sends sig to piece. For SIGKILL and SIGQUIT it waits until the process is gone
// (SIGQUIT is PostgreSQL's immediate shutdown).
func (s *System) Signal(piece string, sig syscall.Signal) error {
	p := s.proc(piece)
	if p == nil {
		return fmt.Errorf("%s is not running", piece)
	}
	if err := p.Signal(sig); err != nil {
		return err
	}
	if sig == syscall.SIGKILL || sig == syscall.SIGQUIT {
		select {
		case <-p.Done():
		case <-time.After(30 * time.Second):
			return fmt.Errorf("%s still running 30 s after %v", piece, sig)
		}
	}
	return nil
}

// Exited lists the services whose process has ended although nobody stopped it.
func (s *System) Exited() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, name := range localstack.ServiceNames {
		if p := s.procs[name]; p != nil {
			select {
			case <-p.Done():
				out = append(out, name)
			default:
			}
		}
	}
	return out
}

// WaitReady waits until every service answers /ready with 200 and says how long it took.
func (s *System) WaitReady(ctx context.Context, timeout time.Duration) (time.Duration, error) {
	start := time.Now()
	client := &http.Client{Timeout: 2 * time.Second}
	for _, name := range localstack.ServiceNames {
		for {
			resp, err := client.Get(s.URL(name) + "/ready")
			if err == nil {
				_ = resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					break
				}
				err = errors.New(resp.Status)
			}
			if time.Since(start) > timeout {
				return time.Since(start), fmt.Errorf("%s not ready after %s: %v", name, timeout, err)
			}
			select {
			case <-ctx.Done():
				return time.Since(start), ctx.Err()
			case <-time.After(50 * time.Millisecond):
			}
		}
	}
	return time.Since(start), nil
}

// AuditEnv is the audit service's environment, for `audit replay`.
func (s *System) AuditEnv() ([]string, error) { return s.stack.ServiceEnv("audit") }

// Bin is the path of a built binary.
func (s *System) Bin(name string) string { return filepath.Join(s.bin, name) }

// Stop stops every process, services first.
func (s *System) Stop() {
	s.mu.Lock()
	procs := s.procs
	s.procs = map[string]*localstack.Process{}
	s.mu.Unlock()
	order := slices.Clone(localstack.ServiceNames)
	slices.Reverse(order) // the gateway first
	for _, name := range append(order, NATS, Valkey, Postgres) {
		if p := procs[name]; p != nil {
			_ = p.Signal(syscall.SIGCONT) // a stopped process cannot handle SIGTERM
			sig := syscall.SIGTERM
			if name == Postgres {
				sig = syscall.SIGINT
			}
			_ = p.Stop(sig, 15*time.Second)
		}
	}
	_ = s.log.Close()
}
