package service_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/caasdemo/orderdemo/events"
	"github.com/caasdemo/orderdemo/services/auth/internal/config"
	"github.com/caasdemo/orderdemo/services/auth/internal/service"
	pconfig "github.com/caasdemo/orderdemo/services/platform/config"
	"github.com/caasdemo/orderdemo/services/platform/telemetry"
	"github.com/caasdemo/orderdemo/services/platform/testenv"
)

const adminPassword = "admin-secret-pw"

// clock is a controllable clock, starting at the real time.
type clock struct {
	mu     sync.Mutex
	offset time.Duration
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.offset)
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.offset += d
}

// harness is the auth service running on real PostgreSQL, Valkey and JetStream, with its
// outbox relay, behind a test HTTP server.
type harness struct {
	t       *testing.T
	srv     *httptest.Server
	handler atomic.Value // the http.Handler of the instance booted last
	metrics string       // GET /metrics on the METRICS_ADDR of the instance booted last
	env     map[string]string
	clock   *clock
	natsURL string
	cfg     config.Config
}

func baseEnv(t *testing.T) map[string]string {
	return map[string]string{
		"DATABASE_URL":          testenv.PostgresURL(t),
		"DATABASE_CALL_TIMEOUT": testenv.DatabaseCallTimeout.String(),
		"NATS_URL":              testenv.NATS(t),
		"VALKEY_URL":            testenv.ValkeyURL(t),
		"VALKEY_KEY_PREFIX":     testenv.Prefix(),
		"JWT_SECRET":            testenv.JWTSecret,
		"ADMIN_USERNAME":        "admin",
		"ADMIN_PASSWORD":        adminPassword,
		"BCRYPT_COST":           "4", // fast tests; the default (12) is asserted in config_test
		"METRICS_ADDR":          "127.0.0.1:0",
	}
}

func start(t *testing.T, env map[string]string) *harness {
	t.Helper()
	h := &harness{t: t, env: env, clock: &clock{}, natsURL: env["NATS_URL"]}
	svc, err := h.boot()
	require.NoError(t, err)
	require.NoError(t, svc.WaitForAdmin(t.Context()), "the admin exists before the test begins")
	h.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.handler.Load().(http.Handler).ServeHTTP(w, r)
	}))
	t.Cleanup(h.srv.Close)
	return h
}

// boot starts one instance of the service (a restart, when called again) with its workers;
// requests go to it from then on.
func (h *harness) boot() (*service.Service, error) {
	h.t.Helper()
	if err := pconfig.Load(testenv.Lookup(h.env), &h.cfg); err != nil {
		return nil, err
	}
	svc, err := service.New(h.t.Context(), &h.cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), h.clock.Now)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.WithoutCancel(h.t.Context()))
	var wg sync.WaitGroup
	for _, w := range svc.Workers {
		wg.Go(func() { _ = w(ctx) })
	}
	h.t.Cleanup(func() { cancel(); wg.Wait(); svc.Close() })
	h.handler.Store(svc.Handler)
	h.metrics = "http://" + svc.Metrics.Addr() + telemetry.Path
	return svc, nil
}

type response = testenv.Response

func (h *harness) do(req *http.Request) response {
	h.t.Helper()
	headers := []string{}
	for k, v := range req.Header {
		headers = append(headers, k, v[0])
	}
	body := ""
	if req.Body != nil {
		b, _ := io.ReadAll(req.Body)
		body = string(b)
	}
	return testenv.Call(h.t, req.Method, req.URL.String(), body, headers...)
}

func (h *harness) register(username, password string) response {
	h.t.Helper()
	body, _ := json.Marshal(map[string]string{"username": username, "password": password})
	return h.postJSON("/auth/register", string(body))
}

func (h *harness) postJSON(path, body string) response {
	h.t.Helper()
	return testenv.Call(h.t, http.MethodPost, h.srv.URL+path, body)
}

func (h *harness) token(form url.Values, headers ...string) response {
	h.t.Helper()
	return testenv.Call(h.t, http.MethodPost, h.srv.URL+"/auth/token", form.Encode(),
		append([]string{"Content-Type", "application/x-www-form-urlencoded"}, headers...)...)
}

func (h *harness) login(username, password string, headers ...string) response {
	h.t.Helper()
	return h.token(url.Values{"username": {username}, "password": {password}}, headers...)
}

func (h *harness) withBearer(method, path, token string) response {
	h.t.Helper()
	if token == "" {
		return testenv.Call(h.t, method, h.srv.URL+path, "")
	}
	return testenv.Call(h.t, method, h.srv.URL+path, "", "Authorization", "Bearer "+token)
}

// mustLogin registers (if needed) and logs in, returning the token response body.
func (h *harness) mustLogin(username, password string) map[string]any {
	h.t.Helper()
	if r := h.register(username, password); r.Status != http.StatusCreated && r.Status != http.StatusBadRequest {
		h.t.Fatalf("register %s: %d %s", username, r.Status, r.Raw)
	}
	r := h.login(username, password)
	require.Equal(h.t, http.StatusOK, r.Status, r.Raw)
	return r.Body
}

// streamEvents waits until the AUTH stream holds at least n events and returns them all.
func (h *harness) streamEvents(n int) []streamEvent {
	h.t.Helper()
	nc, err := nats.Connect(h.natsURL)
	require.NoError(h.t, err)
	defer nc.Close()
	js, err := jetstream.New(nc)
	require.NoError(h.t, err)
	stream, err := js.Stream(h.t.Context(), "AUTH")
	require.NoError(h.t, err)
	require.Eventually(h.t, func() bool {
		info, err := stream.Info(h.t.Context())
		return err == nil && info.State.Msgs >= uint64(n)
	}, 10*time.Second, 10*time.Millisecond, "waiting for %d events on AUTH", n)
	info, err := stream.Info(h.t.Context())
	require.NoError(h.t, err)
	var out []streamEvent
	for seq := uint64(1); seq <= info.State.LastSeq; seq++ {
		msg, err := stream.GetMsg(h.t.Context(), seq)
		require.NoError(h.t, err)
		env, err := events.Decode(msg.Data)
		require.NoError(h.t, err)
		p, err := env.Payload()
		require.NoError(h.t, err)
		out = append(out, streamEvent{subject: msg.Subject, env: env, payload: p, raw: string(msg.Data), header: msg.Header})
	}
	return out
}

type streamEvent struct {
	subject string
	env     events.Envelope
	payload events.Payload
	raw     string
	header  nats.Header
}
