package localstack

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Ports are the services' HTTP ports on 127.0.0.1.
type Ports struct {
	Gateway int `env:"GATEWAY_PORT" default:"8000"`
	Auth    int `env:"AUTH_PORT" default:"8001"`
	Order   int `env:"ORDER_PORT" default:"8002"`
	Audit   int `env:"AUDIT_PORT" default:"8003"`
}

// MetricsPorts are the services' metrics ports (GET /metrics, METRICS_ADDR) on 127.0.0.1;
// 0 starts a service without one.
type MetricsPorts struct {
	Gateway int `env:"GATEWAY_METRICS_PORT" default:"9100"`
	Auth    int `env:"AUTH_METRICS_PORT" default:"9101"`
	Order   int `env:"ORDER_METRICS_PORT" default:"9102"`
	Audit   int `env:"AUDIT_METRICS_PORT" default:"9103"`
}

// Port returns the metrics port of the named service (0: none).
func (p MetricsPorts) Port(name string) int {
	return map[string]int{"gateway": p.Gateway, "auth": p.Auth, "order": p.Order, "audit": p.Audit}[name]
}

// MetricsURL is where the named service's metrics are scraped, or "" when it has none.
func (s *Stack) MetricsURL(name string) string {
	port := s.cfg.Metrics.Port(name)
	if port == 0 {
		return ""
	}
	return "http://127.0.0.1:" + strconv.Itoa(port) + "/metrics"
}

// ServiceNames lists the services in start order; the gateway comes last, as it is ready
// only when the others are.
var ServiceNames = []string{"auth", "order", "audit", "gateway"}

// Port returns the port of the named service.
func (p Ports) Port(name string) int {
	return map[string]int{"gateway": p.Gateway, "auth": p.Auth, "order": p.Order, "audit": p.Audit}[name]
}

// GatewayURL is where a browser opens the system.
func (s *Stack) GatewayURL() string {
	return "http://127.0.0.1:" + strconv.Itoa(s.cfg.Services.Gateway)
}

// AdminLogin returns the admin's username and password.
func (s *Stack) AdminLogin() (string, string) {
	return s.cfg.Secrets.AdminUsername, s.cfg.Secrets.AdminPassword.Reveal()
}

// SecretsPath is the file holding the generated secrets.
func (s *Stack) SecretsPath() string { return filepath.Join(s.cfg.DataDir, SecretsFile) }

// RepoRoot finds the repository root (the directory holding go.work) from the working
// directory upwards.
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.work")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("go.work not found: run this from inside the repository")
		}
		dir = parent
	}
}

// BuildServices compiles the four service binaries, and the commands of extra (package
// paths relative to root), into binDir. It uses go install, which leaves a binary that is up
// to date alone: a second start does not link again.
func BuildServices(ctx context.Context, root, binDir string, extra ...string) error {
	args := []string{"install"}
	for _, name := range ServiceNames {
		args = append(args, "./services/"+name+"/cmd/"+name)
	}
	args = append(args, extra...)
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = root
	abs, err := filepath.Abs(binDir)
	if err != nil {
		return err
	}
	cmd.Env = append(withoutVars(os.Environ(), "GOWORK", "GOBIN"), "GOWORK="+filepath.Join(root, "go.work"), "GOBIN="+abs)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go build of the services failed: %w", err)
	}
	return nil
}

// StartServices starts the four services from binDir, their logs going to the stack's
// output, and waits until each answers /ready with 200.
func (s *Stack) StartServices(ctx context.Context, binDir string, timeout time.Duration) error {
	if err := fillSecrets(s.cfg.DataDir, &s.cfg.Secrets); err != nil {
		return err
	}
	for _, name := range ServiceNames {
		p, err := start(spec{
			name: name,
			path: filepath.Join(binDir, name),
			env:  s.serviceEnv(name),
			out:  os.Stdout,
		})
		if err != nil {
			return err
		}
		s.processes = append(s.processes, p)
	}
	deadline := time.Now().Add(timeout)
	for _, p := range s.processes {
		port := s.cfg.Services.Port(p.Name)
		if port == 0 {
			continue // not a service
		}
		url := "http://127.0.0.1:" + strconv.Itoa(port) + "/ready"
		if err := waitFor(ctx, time.Until(deadline), p, func(ctx context.Context) error { return getOK(ctx, url) }); err != nil {
			return fmt.Errorf("%s did not become ready at %s: %w", p.Name, url, err)
		}
		s.say("%s: ready on 127.0.0.1:%d", p.Name, port)
	}
	return nil
}

// Exited is closed as soon as any service started by the stack exits.
func (s *Stack) Exited() <-chan *Process {
	ch := make(chan *Process, 1)
	for _, p := range s.processes {
		if s.cfg.Services.Port(p.Name) == 0 {
			continue
		}
		go func() {
			<-p.Done()
			select {
			case ch <- p:
			default:
			}
		}()
	}
	return ch
}

// ServiceEnv is the environment a service of this stack runs with, secrets included.
func (s *Stack) ServiceEnv(name string) ([]string, error) {
	if err := fillSecrets(s.cfg.DataDir, &s.cfg.Secrets); err != nil {
		return nil, err
	}
	return s.serviceEnv(name), nil
}

// serviceEnv is the environment of one service: the runner's own, with the connection URLs,
// secrets and listen address set for it.
func (s *Stack) serviceEnv(name string) []string {
	sec := s.cfg.Secrets
	vars := map[string]string{
		"HTTP_ADDR": "127.0.0.1:" + strconv.Itoa(s.cfg.Services.Port(name)),
		"NATS_URL":  s.NATSURL,
	}
	if port := s.DebugPorts[name]; port != 0 {
		vars["DEBUG_ADDR"] = "127.0.0.1:" + strconv.Itoa(port)
	}
	// Always set, empty when off: a METRICS_ADDR in the runner's own environment would give
	// the four services one port.
	vars["METRICS_ADDR"] = ""
	if port := s.cfg.Metrics.Port(name); port != 0 {
		vars["METRICS_ADDR"] = "127.0.0.1:" + strconv.Itoa(port)
	}
	switch name {
	case "auth":
		vars["DATABASE_URL"] = s.DatabaseURL
		vars["VALKEY_URL"] = s.ValkeyURL
		vars["JWT_SECRET"] = sec.JWTSecret.Reveal()
		vars["ADMIN_USERNAME"] = sec.AdminUsername
		vars["ADMIN_PASSWORD"] = sec.AdminPassword.Reveal()
	case "order", "audit":
		vars["DATABASE_URL"] = s.DatabaseURL
		vars["VALKEY_URL"] = s.ValkeyURL // the token revocation list
		vars["JWT_SECRET"] = sec.JWTSecret.Reveal()
		if name == "audit" {
			vars["ORDER_URL"] = "http://127.0.0.1:" + strconv.Itoa(s.cfg.Services.Order)
		}
	case "gateway":
		vars["VALKEY_URL"] = s.ValkeyURL
		vars["COOKIE_SECURE"] = "false" // plain http on 127.0.0.1
		vars["AUTH_URL"] = "http://127.0.0.1:" + strconv.Itoa(s.cfg.Services.Auth)
		vars["ORDER_URL"] = "http://127.0.0.1:" + strconv.Itoa(s.cfg.Services.Order)
		vars["AUDIT_URL"] = "http://127.0.0.1:" + strconv.Itoa(s.cfg.Services.Audit)
	}
	keys := make([]string, 0, len(vars))
	for k := range vars {
		keys = append(keys, k)
	}
	env := withoutVars(os.Environ(), keys...)
	for k, v := range vars {
		env = append(env, k+"="+v)
	}
	return env
}

func withoutVars(env []string, names ...string) []string {
	out := env[:0:0]
	for _, kv := range env {
		k, _, _ := strings.Cut(kv, "=")
		drop := false
		for _, n := range names {
			if k == n {
				drop = true
				break
			}
		}
		if !drop {
			out = append(out, kv)
		}
	}
	return out
}

func getOK(ctx context.Context, url string) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return errors.New(resp.Status)
	}
	return nil
}

// Pid is the process id of the named process this stack started, or 0.
func (s *Stack) Pid(name string) int {
	for _, p := range s.processes {
		if p.Name == name {
			return p.Pid()
		}
	}
	return 0
}

// ServiceURL is the base URL of the named service.
func (s *Stack) ServiceURL(name string) string {
	return "http://127.0.0.1:" + strconv.Itoa(s.cfg.Services.Port(name))
}

// LoadGeneratorEnv lifts the limits meant for scripts (registrations and requests per
// address and per user): a load generator registers and signs in its users from one
// address and has them call as fast as it can. The limits have tests of their own.
var LoadGeneratorEnv = []string{"REGISTER_MAX_PER_CLIENT=1000000", "RATE_LIMIT_PER_CLIENT=1000000", "RATE_LIMIT_PER_USER=1000000"}
