package e2e

import (
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// `make run` on a machine with nothing running: it starts private servers and the services,
// Ctrl-C stops every process it started, and the next run finds the same data.
func TestStackRunnerStartsStopsAndKeepsItsData(t *testing.T) {
	t.Parallel()
	data := filepath.Join(sharedDir(t), "data")
	ports := map[string]int{}
	for _, name := range []string{"GATEWAY_PORT", "AUTH_PORT", "ORDER_PORT", "AUDIT_PORT", "NATS_PORT", "LOCAL_POSTGRES_PORT", "LOCAL_VALKEY_PORT",
		"GATEWAY_METRICS_PORT", "AUTH_METRICS_PORT", "ORDER_METRICS_PORT", "AUDIT_METRICS_PORT"} {
		ports[name] = freePort(t)
	}
	vars := map[string]string{"LOCAL_PRIVATE_SERVERS": "true", "LOCAL_DATA_DIR": data, "LOG_LEVEL": "warn"}
	for k, v := range ports {
		vars[k] = strconv.Itoa(v)
	}
	root, err := os.Getwd()
	require.NoError(t, err)

	runOnce := func() string {
		p := startProc(t, filepath.Join(binDir, "devstack"), append(baseEnv(vars), "GOCACHE="+goCache()), "run")
		p.cmd.Dir = root
		eventually(t, 120*time.Second, "the stack to report it is running", func() bool {
			require.False(t, p.exited(), "devstack exited:\n%s", p.output())
			return strings.Contains(p.output(), "CaaS Order Demo is running")
		})
		code, _ := get("http://127.0.0.1:" + strconv.Itoa(ports["GATEWAY_PORT"]) + "/ready")
		assert.Equal(t, 200, code)
		for _, name := range []string{"gateway", "auth", "order", "audit"} {
			port := ports[strings.ToUpper(name)+"_METRICS_PORT"]
			code, body := get("http://127.0.0.1:" + strconv.Itoa(port) + "/metrics")
			assert.Equal(t, 200, code, "%s metrics on %d", name, port)
			assert.Contains(t, body, `service_name="`+name+`"`, "%s metrics on %d", name, port)
		}
		owned := processesUsing(data)
		// postgres and the four services; valkey retitles its process, its port is checked below.
		assert.GreaterOrEqual(t, len(owned), 5, "processes run from the data dir")

		require.NoError(t, p.cmd.Process.Signal(syscall.SIGINT))
		assert.Zero(t, p.waitExit(t, 60*time.Second), p.output())
		assert.Empty(t, processesUsing(data), "processes left behind:\n%s", p.output())
		for name, port := range ports {
			conn, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(port), 200*time.Millisecond)
			if err == nil {
				conn.Close()
				t.Errorf("%s %d still accepts connections after Ctrl-C", name, port)
			}
		}
		return p.output()
	}

	first := runOnce()
	assert.Contains(t, first, "postgres: starting a private server")
	secrets, err := os.ReadFile(filepath.Join(data, "dev-secrets.env"))
	require.NoError(t, err)

	runOnce()
	again, err := os.ReadFile(filepath.Join(data, "dev-secrets.env"))
	require.NoError(t, err)
	assert.Equal(t, string(secrets), string(again), "the second run keeps the generated secrets")
	_, err = os.Stat(filepath.Join(data, "postgres", "PG_VERSION"))
	assert.NoError(t, err, "the second run reuses the database cluster")
}

// processesUsing lists the pids whose command line mentions dir.
func processesUsing(dir string) []int {
	entries, _ := os.ReadDir("/proc")
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err == nil && strings.Contains(string(cmdline), dir) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// goCache is the Go build cache the runner's `go build` should share with this test.
func goCache() string {
	if c := os.Getenv("GOCACHE"); c != "" {
		return c
	}
	home, _ := os.UserHomeDir()
	return filepath.Join(home, ".cache", "go-build")
}
