package localstack

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"time"

	"github.com/valkey-io/valkey-go"
)

// ValkeyURL is the URL of a Valkey/Redis server on 127.0.0.1:port.
func ValkeyURL(port int) string { return fmt.Sprintf("redis://127.0.0.1:%d/0", port) }

// PingValkey reports whether a Valkey or Redis server answers at url.
func PingValkey(ctx context.Context, url string) error {
	opt, err := valkey.ParseURL(url)
	if err != nil {
		return err
	}
	opt.DisableCache = true
	opt.Dialer.Timeout = time.Second
	client, err := valkey.NewClient(opt)
	if err != nil {
		return err
	}
	defer client.Close()
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	return client.Do(ctx, client.B().Ping().Build()).Error()
}

// ValkeyBinary finds valkey-server, or redis-server, which speaks the same protocol.
func ValkeyBinary() (string, error) {
	for _, name := range []string{"valkey-server", "redis-server"} {
		if p, err := exec.LookPath(name); err == nil {
			return p, nil
		}
	}
	return "", errors.New("neither valkey-server nor redis-server is installed: install one (Debian/Ubuntu: apt-get install redis-server) or set VALKEY_URL")
}

// StartValkey runs a private Valkey/Redis server on 127.0.0.1:port with an append-only file
// in dir, so sessions survive a restart of the stack.
func StartValkey(ctx context.Context, dir string, port int, log io.Writer) (*Process, error) {
	bin, err := ValkeyBinary()
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("valkey data dir: %w", err)
	}
	p, err := start(spec{
		name: "valkey",
		path: bin,
		args: []string{"--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--dir", dir,
			"--appendonly", "yes", "--save", "", "--daemonize", "no", "--protected-mode", "yes"},
		out: log,
	})
	if err != nil {
		return nil, err
	}
	url := ValkeyURL(port)
	if err := waitFor(ctx, 15*time.Second, p, func(ctx context.Context) error { return PingValkey(ctx, url) }); err != nil {
		_ = p.Stop(syscall.SIGTERM, 5*time.Second)
		return nil, fmt.Errorf("private %s on port %d did not start: %w", bin, port, err)
	}
	return p, nil
}
