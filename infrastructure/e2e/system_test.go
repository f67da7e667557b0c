package e2e

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/caasdemo/orderdemo/infrastructure/localstack"
	"github.com/caasdemo/orderdemo/services/platform/testenv"
)

// system is the whole system started by the stack runner, as `make run` starts it, on free
// ports, with its own database and data directory.
type system struct {
	t        *testing.T
	gateway  string
	auth     string
	order    string
	audit    string
	adminPwd string
}

func startSystem(t *testing.T) *system {
	t.Helper()
	data := filepath.Join(sharedDir(t), "data")
	ports := map[string]int{}
	for _, name := range []string{"GATEWAY_PORT", "AUTH_PORT", "ORDER_PORT", "AUDIT_PORT", "NATS_PORT",
		"GATEWAY_METRICS_PORT", "AUTH_METRICS_PORT", "ORDER_METRICS_PORT", "AUDIT_METRICS_PORT"} {
		ports[name] = freePort(t)
	}
	name := "e2e_" + strconv.FormatInt(time.Now().UnixNano(), 36)
	// Its own database, and its own keys on a shared Valkey: the per-address limits (every
	// browser here is 127.0.0.1) must not carry over from other systems or earlier runs.
	// A loaded test machine may take seconds for a statement: these tests are not about a
	// failing database (the fault suite keeps the production deadline), so they allow more.
	vars := map[string]string{"LOCAL_DATA_DIR": data, "LOG_LEVEL": "warn",
		"DATABASE_NAME": name, "VALKEY_KEY_PREFIX": name + ":", "BCRYPT_COST": "4",
		"DATABASE_CALL_TIMEOUT": testenv.DatabaseCallTimeout.String()}
	if u := os.Getenv("TEST_DATABASE_URL"); u != "" {
		parsed, err := url.Parse(u)
		require.NoError(t, err)
		parsed.Path = "/" + vars["DATABASE_NAME"]
		vars["DATABASE_URL"] = parsed.String()
	}
	if u := os.Getenv("TEST_VALKEY_URL"); u != "" {
		vars["VALKEY_URL"] = u
	}
	for k, v := range ports {
		vars[k] = strconv.Itoa(v)
	}
	root, err := os.Getwd()
	require.NoError(t, err)
	p := startProc(t, filepath.Join(binDir, "devstack"), append(baseEnv(vars), "GOCACHE="+goCache()), "run")
	p.cmd.Dir = root
	eventually(t, 120*time.Second, "the system to start", func() bool {
		require.False(t, p.exited(), "devstack exited:\n%s", p.output())
		return strings.Contains(p.output(), "CaaS Order Demo is running")
	})
	t.Cleanup(func() {
		_ = p.cmd.Process.Signal(syscall.SIGINT)
		p.waitExit(t, 60*time.Second)
		dropDatabase(t, vars["DATABASE_NAME"])
	})
	secrets, err := os.ReadFile(filepath.Join(data, "dev-secrets.env"))
	require.NoError(t, err)
	s := &system{t: t,
		gateway: "http://127.0.0.1:" + strconv.Itoa(ports["GATEWAY_PORT"]),
		auth:    "http://127.0.0.1:" + strconv.Itoa(ports["AUTH_PORT"]),
		order:   "http://127.0.0.1:" + strconv.Itoa(ports["ORDER_PORT"]),
		audit:   "http://127.0.0.1:" + strconv.Itoa(ports["AUDIT_PORT"])}
	for _, line := range strings.Split(string(secrets), "\n") {
		if v, ok := strings.CutPrefix(line, "ADMIN_PASSWORD="); ok {
			s.adminPwd = v
		}
	}
	return s
}

// token logs in through the auth API.
func (s *system) token(username, password string) string {
	s.t.Helper()
	r := testenv.Call(s.t, http.MethodPost, s.auth+"/auth/token", url.Values{"username": {username}, "password": {password}}.Encode(),
		"Content-Type", "application/x-www-form-urlencoded")
	require.Equal(s.t, http.StatusOK, r.Status, r.Raw)
	return r.Body["access_token"].(string)
}

// decide approves or rejects an order through the order API, as an admin.
func (s *system) decide(adminToken, orderID, status string) {
	s.t.Helper()
	body, _ := json.Marshal(map[string]string{"status": status})
	r := testenv.Call(s.t, http.MethodPatch, s.order+"/orders/"+orderID, string(body), "Authorization", "Bearer "+adminToken)
	require.Equal(s.t, http.StatusOK, r.Status, r.Raw)
}

// dropDatabase removes a database the test's system created on the shared server.
func dropDatabase(t *testing.T, name string) {
	admin := os.Getenv("TEST_DATABASE_URL")
	if admin == "" {
		admin = localstack.PostgresURL(5432, "postgres")
	}
	conn, err := pgx.Connect(context.Background(), admin)
	if err != nil {
		t.Logf("drop %s: %v", name, err)
		return
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(context.Background(), "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
		t.Logf("drop %s: %v", name, err)
	}
}
