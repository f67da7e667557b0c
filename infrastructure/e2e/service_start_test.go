package e2e

import (
	"encoding/json"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/caasdemo/orderdemo/infrastructure/localstack"
	"github.com/caasdemo/orderdemo/services/platform/testenv"
)

// A dependency that goes away turns readiness to 503 naming it; when it comes back the same
// process becomes ready again by itself.
func TestReadinessFollowsPostgresDownAndBack(t *testing.T) {
	t.Parallel()
	dir := sharedDir(t)
	pgPort := freePort(t)
	logf, err := os.Create(filepath.Join(dir, "postgres.log"))
	require.NoError(t, err)
	defer logf.Close()
	pg, err := localstack.StartPostgres(t.Context(), filepath.Join(dir, "pg"), pgPort, logf)
	require.NoError(t, err)
	t.Cleanup(func() { _ = pg.Stop(syscall.SIGINT, 10*time.Second) })
	dbURL := localstack.PostgresURL(pgPort, "app")
	require.NoError(t, localstack.EnsureDatabase(t.Context(), dbURL))

	port := freePort(t)
	svc := startProc(t, filepath.Join(binDir, "audit"), baseEnv(map[string]string{
		"HTTP_ADDR":    "127.0.0.1:" + strconv.Itoa(port),
		"DATABASE_URL": dbURL,
		"NATS_URL":     testenv.NATS(t),
		"VALKEY_URL":   testenv.ValkeyURL(t),
		"JWT_SECRET":   testenv.JWTSecret,
	}))
	ready := "http://127.0.0.1:" + strconv.Itoa(port) + "/ready"
	eventually(t, 15*time.Second, "audit ready", func() bool { code, _ := get(ready); return code == http.StatusOK })

	require.NoError(t, pg.Stop(syscall.SIGINT, 10*time.Second))
	var body string
	eventually(t, 10*time.Second, "/ready to report postgres down", func() bool {
		var code int
		code, body = get(ready)
		return code == http.StatusServiceUnavailable
	})
	var rep struct {
		Down []string `json:"down"`
	}
	require.NoError(t, json.Unmarshal([]byte(body), &rep), body)
	assert.Equal(t, []string{"postgres"}, rep.Down)

	pg, err = localstack.StartPostgres(t.Context(), filepath.Join(dir, "pg"), pgPort, logf)
	require.NoError(t, err)
	eventually(t, 15*time.Second, "/ready back to 200", func() bool { code, _ := get(ready); return code == http.StatusOK })
	assert.False(t, svc.exited(), "the service was not restarted")
}

// Bad configuration stops a service at once with a non-zero exit code and one error line
// that names the variable to fix.
func TestBadConfigurationStopsTheServiceNamingTheVariable(t *testing.T) {
	t.Parallel()
	natsURL := testenv.NATS(t)
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { taken.Close() }) // after the parallel subtests

	for _, tc := range []struct {
		name, binary, variable string
		env                    map[string]string
	}{
		{"unreachable database", "audit", "DATABASE_URL", map[string]string{
			"DATABASE_URL": "postgres://postgres@127.0.0.1:1/app?sslmode=disable", "DATABASE_CONNECT_TIMEOUT": "1s",
			"NATS_URL": natsURL, "VALKEY_URL": testenv.ValkeyURL(t), "JWT_SECRET": testenv.JWTSecret,
		}},
		{"short token secret", "order", "JWT_SECRET", map[string]string{
			"DATABASE_URL": testenv.PostgresURL(t), "NATS_URL": natsURL, "VALKEY_URL": testenv.ValkeyURL(t), "JWT_SECRET": "0123456789",
		}},
		{"placeholder token secret", "auth", "JWT_SECRET", map[string]string{
			"DATABASE_URL": testenv.PostgresURL(t), "NATS_URL": natsURL, "VALKEY_URL": testenv.ValkeyURL(t),
			"JWT_SECRET": "your-256-bit-secret-key-here-change-in-production", "ADMIN_PASSWORD": "admin password",
		}},
		{"port in use", "gateway", "HTTP_ADDR", map[string]string{
			"HTTP_ADDR": taken.Addr().String(), "NATS_URL": natsURL, "VALKEY_URL": testenv.ValkeyURL(t),
		}},
		{"malformed number", "order", "DATABASE_MAX_CONNS", map[string]string{
			"DATABASE_URL": testenv.PostgresURL(t), "NATS_URL": natsURL, "VALKEY_URL": testenv.ValkeyURL(t),
			"JWT_SECRET": testenv.JWTSecret, "DATABASE_MAX_CONNS": "ten",
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if _, ok := tc.env["HTTP_ADDR"]; !ok {
				tc.env["HTTP_ADDR"] = "127.0.0.1:0"
			}
			p := startProc(t, filepath.Join(binDir, tc.binary), baseEnv(tc.env))
			code := p.waitExit(t, 20*time.Second)
			assert.NotZero(t, code)
			var errorLines []string
			for _, line := range strings.Split(p.output(), "\n") {
				if strings.Contains(line, `"level":"ERROR"`) {
					errorLines = append(errorLines, line)
				}
			}
			require.Len(t, errorLines, 1, p.output())
			assert.Contains(t, errorLines[0], tc.variable)
		})
	}
}
