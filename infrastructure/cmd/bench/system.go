package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/caasdemo/orderdemo/infrastructure/localstack"
	"github.com/caasdemo/orderdemo/services/platform/config"
)

// system is the whole system, started as `make run` starts it, on free ports with its own
// database and data directory.
type system struct {
	stack   *localstack.Stack
	dataDir string
	natsURL string
	adminDB string
	dbName  string
	admin   [2]string
	client  *http.Client
}

func freePort() int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func startSystem(ctx context.Context) (*system, error) {
	var cfg localstack.Config
	if err := config.Load(os.LookupEnv, &cfg); err != nil {
		return nil, err
	}
	cfg.DataDir = filepath.Join(cfg.DataDir, "bench")
	cfg.DatabaseName = "bench_" + strconv.FormatInt(time.Now().Unix(), 36)
	cfg.NATSPort = freePort()
	cfg.Services = localstack.Ports{Gateway: freePort(), Auth: freePort(), Order: freePort(), Audit: freePort()}
	cfg.Metrics = localstack.MetricsPorts{Gateway: freePort(), Auth: freePort(), Order: freePort(), Audit: freePort()}
	os.Setenv("LOG_LEVEL", "warn")
	for _, kv := range localstack.LoadGeneratorEnv {
		name, value, _ := strings.Cut(kv, "=")
		os.Setenv(name, value)
	}
	stack, err := localstack.New(cfg, os.Stderr)
	if err != nil {
		return nil, err
	}
	s := &system{stack: stack, dataDir: cfg.DataDir, dbName: cfg.DatabaseName,
		client: &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 1000, MaxConnsPerHost: 0}}}
	stack.DebugPorts = map[string]int{"auth": freePort(), "order": freePort(), "audit": freePort(), "gateway": freePort()}
	if err := stack.EnsureServers(ctx, true); err != nil {
		stack.Stop()
		return nil, err
	}
	root, err := localstack.RepoRoot()
	if err == nil {
		err = localstack.BuildServices(ctx, root, filepath.Join(cfg.DataDir, "bin"))
	}
	if err == nil {
		err = stack.StartServices(ctx, filepath.Join(cfg.DataDir, "bin"), 60*time.Second)
	}
	if err != nil {
		stack.Stop()
		return nil, err
	}
	s.natsURL, s.adminDB = stack.NATSURL, stack.AdminPostgresURL
	s.admin[0], s.admin[1] = stack.AdminLogin()
	return s, nil
}

// stop stops what the bench started and drops its database.
func (s *system) stop() {
	s.stack.Stop()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, s.adminDB)
	if err != nil {
		return
	}
	defer conn.Close(ctx)
	_, _ = conn.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{s.dbName}.Sanitize()+" WITH (FORCE)")
}

func (s *system) pid(name string) int { return s.stack.Pid(name) }

func (s *system) url(service, path string) string { return s.stack.ServiceURL(service) + path }

// user is a registered user with a token.
type user struct{ name, token string }

// users registers n users and logs each in, retrying while the bcrypt pool is busy.
func (s *system) users(ctx context.Context, n int) ([]user, error) {
	out := make([]user, n)
	errs := make(chan error, n)
	var wg sync.WaitGroup
	sem := make(chan struct{}, 8)
	stamp := strconv.FormatInt(time.Now().UnixNano()%1_000_000, 36)
	for i := range n {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			name := fmt.Sprintf("b%s_%d", stamp, i)
			body := fmt.Sprintf(`{"username":%q,"password":"bench password"}`, name)
			if err := s.retry(ctx, func() (*http.Response, error) {
				return s.client.Post(s.url("auth", "/auth/register"), "application/json", strings.NewReader(body))
			}); err != nil {
				errs <- err
				return
			}
			token, err := s.login(ctx, name, "bench password")
			if err != nil {
				errs <- err
				return
			}
			out[i] = user{name: name, token: token}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		return nil, err
	}
	return out, nil
}

// retry repeats a call answered 503 (the bcrypt pool is full).
func (s *system) retry(ctx context.Context, call func() (*http.Response, error)) error {
	for {
		resp, err := call()
		if err != nil {
			return err
		}
		resp.Body.Close()
		switch {
		case resp.StatusCode < 300:
			return nil
		case resp.StatusCode == http.StatusServiceUnavailable:
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(100 * time.Millisecond):
			}
		default:
			return fmt.Errorf("%s", resp.Status)
		}
	}
}

func (s *system) login(ctx context.Context, name, password string) (string, error) {
	for {
		resp, err := s.client.PostForm(s.url("auth", "/auth/token"), url.Values{"username": {name}, "password": {password}})
		if err != nil {
			return "", err
		}
		var body struct {
			AccessToken string `json:"access_token"`
		}
		err = decodeJSON(resp, &body)
		if resp.StatusCode == http.StatusServiceUnavailable {
			select {
			case <-ctx.Done():
				return "", ctx.Err()
			case <-time.After(100 * time.Millisecond):
			}
			continue
		}
		if resp.StatusCode != http.StatusOK || err != nil {
			return "", fmt.Errorf("login %s: %s %v", name, resp.Status, err)
		}
		return body.AccessToken, nil
	}
}
