package service_test

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/caasdemo/orderdemo/services/platform/health"
	"github.com/caasdemo/orderdemo/services/platform/problem"
	"github.com/caasdemo/orderdemo/services/platform/testenv"
)

// answerWithin is the longest a request may take when a dependency is down.
const answerWithin = 2 * time.Second

// refusingAddr is an address where nothing listens: connections are refused.
func refusingAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// silentAddr is an address that accepts connections and never answers.
func silentAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c) // held open, never read or written
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	return ln.Addr().String()
}

// newServer serves h until the test ends and returns its URL.
func newServer(t *testing.T, h http.Handler) string {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL
}

// timed GETs path with the harness's browser, htmx or not, and returns the answer and how
// long it took.
func (h *harness) timed(path string, htmx bool) (*http.Response, string, time.Duration) {
	h.t.Helper()
	req, _ := http.NewRequestWithContext(h.t.Context(), http.MethodGet, h.url+path, nil)
	if htmx {
		req.Header.Set("HX-Request", "true")
	}
	client := *h.client
	client.Timeout = 10 * time.Second
	began := time.Now()
	resp, err := client.Do(req)
	require.NoError(h.t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b), time.Since(began)
}

// requireUnavailable checks a quick 503 with Retry-After whose text names what is down, as a
// page or (htmx) as problem details.
func requireUnavailable(t *testing.T, resp *http.Response, body string, took time.Duration, htmx bool, what string) {
	t.Helper()
	assert.Less(t, took, answerWithin, "answered quickly")
	require.Equal(t, http.StatusServiceUnavailable, resp.StatusCode, body)
	secs, err := strconv.Atoi(resp.Header.Get("Retry-After"))
	require.NoError(t, err, "Retry-After in seconds")
	assert.Positive(t, secs)
	if htmx {
		assert.Equal(t, problem.ContentType, resp.Header.Get("Content-Type"))
		var pd problem.Details
		require.NoError(t, json.Unmarshal([]byte(body), &pd))
		assert.Equal(t, http.StatusServiceUnavailable, pd.Status)
		assert.Contains(t, pd.Detail, what)
		assert.NotEmpty(t, pd.RequestID)
		return
	}
	assert.Contains(t, resp.Header.Get("Content-Type"), "text/html")
	assert.Contains(t, body, what)
	assert.Contains(t, body, resp.Header.Get("X-Request-ID"))
}

func TestAServiceThatIsDownIsAnswered503Quickly(t *testing.T) {
	t.Parallel()
	for name, addr := range map[string]func(*testing.T) string{"refusing": refusingAddr, "silent": silentAddr} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			down := "http://" + addr(t)
			h := start(t, "ORDER_URL", down, "AUDIT_URL", down)
			h.fake.admin = true
			h.login()
			for _, htmx := range []bool{false, true} {
				resp, body, took := h.timed("/orders", htmx)
				requireUnavailable(t, resp, body, took, htmx, "order service")
				resp, body, took = h.timed("/admin/audit", htmx)
				requireUnavailable(t, resp, body, took, htmx, "audit service")
			}
			resp, body, took := h.timed("/admin/orders/export.csv", false)
			requireUnavailable(t, resp, body, took, false, "order service")
		})
	}
}

func TestAuthDownIsAnswered503Quickly(t *testing.T) {
	t.Parallel()
	for name, addr := range map[string]func(*testing.T) string{"refusing": refusingAddr, "silent": silentAddr} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			h := start(t)
			h.fake.expiresIn = 30 // renewed at the next call
			h.login()
			h.cfg.Upstreams.AuthURL = "http://" + addr(t)
			h.boot() // the same sessions, auth now away

			resp, body, took := h.timed("/orders", false)
			requireUnavailable(t, resp, body, took, false, "auth service")

			_, _, token := h.page("/login")
			began := time.Now()
			resp, body = h.post("/login", map[string][]string{"csrf_token": {token}, "username": {"alice"}, "password": {"x"}})
			assert.Less(t, time.Since(began), answerWithin)
			assert.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
			assert.NotEmpty(t, resp.Header.Get("Retry-After"))
			assert.Contains(t, body, "auth service is busy or not answering")
			assert.Contains(t, body, `name="username"`, "the form stays")
		})
	}
}

func TestAServiceAnswering503IsPassedOnAs503(t *testing.T) {
	t.Parallel()
	busy := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Retry-After", "7")
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write([]byte(`{"detail":"the database is not answering"}`))
	})
	srv := newServer(t, busy)
	h := start(t, "ORDER_URL", srv)
	h.login()
	resp, body, took := h.timed("/orders", false)
	requireUnavailable(t, resp, body, took, false, "order service")
}

func TestValkeyDownIsAnswered503QuicklyAndFailsReadiness(t *testing.T) {
	t.Parallel()
	for _, mode := range []string{"stopped", "silent"} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			valkey := testenv.StartProxy(t, testenv.ValkeyURL(t))
			h := start(t, "VALKEY_URL", valkey.URL())
			h.login()
			if mode == "stopped" {
				valkey.Cut()
			} else {
				valkey.Stall()
			}
			for _, htmx := range []bool{false, true} {
				resp, body, took := h.timed("/orders", htmx)
				requireUnavailable(t, resp, body, took, htmx, "session store")
			}
			resp, body, took := h.timed("/ready", false)
			assert.Less(t, took, answerWithin)
			assert.Equal(t, http.StatusServiceUnavailable, resp.StatusCode, "no sessions: no traffic")
			var rep health.Report
			require.NoError(t, json.Unmarshal([]byte(body), &rep))
			assert.Equal(t, []string{"valkey"}, rep.Down)
		})
	}
}

func TestReadinessReportsTheServicesBehindAsDegradedOnly(t *testing.T) {
	t.Parallel()
	down := "http://" + refusingAddr(t)
	h := start(t, "AUTH_URL", down, "ORDER_URL", down, "AUDIT_URL", down)
	resp, body, _ := h.timed("/ready", false)
	require.Equal(t, http.StatusOK, resp.StatusCode, "the gateway still takes traffic: %s", body)
	var rep health.Report
	require.NoError(t, json.Unmarshal([]byte(body), &rep))
	assert.Equal(t, "degraded", rep.Status)
	assert.Equal(t, []string{"audit", "auth", "order"}, rep.Degraded)
	assert.Empty(t, rep.Down)
	assert.Equal(t, "ok", rep.Checks["valkey"])
}

// A service that refuses a request (a 4xx: bad input, a conflict) is passed on with its
// status and words: a bad export filter is the user's 400, not the gateway's 500.
func TestAServiceRefusingARequestIsPassedOnWithItsStatus(t *testing.T) {
	t.Parallel()
	refusing := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", problem.ContentType)
		w.WriteHeader(http.StatusBadRequest)
		_, _ = w.Write([]byte(`{"status":400,"detail":"search: must not contain control characters"}`))
	}))
	t.Cleanup(refusing.Close)
	h := start(t, "ORDER_URL", refusing.URL)
	h.fake.admin = true
	h.login()
	resp, body, _ := h.timed("/admin/orders/export.csv?search=%00", false)
	assert.Equal(t, http.StatusBadRequest, resp.StatusCode)
	assert.Contains(t, body, "must not contain control characters")
}

// A rate limit the order service puts on a CSV export reaches the browser as the service
// put it: 429, its Retry-After and its words, as for the pages' calls.
func TestAnExportsRateLimitIsPassedOnWithRetryAfter(t *testing.T) {
	t.Parallel()
	limited := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", "23")
		w.Header().Set("Content-Type", problem.ContentType)
		w.WriteHeader(http.StatusTooManyRequests)
		_, _ = w.Write([]byte(`{"status":429,"detail":"too many requests: the per-user limit is 600 every 60 seconds; try again in 23 seconds"}`))
	}))
	t.Cleanup(limited.Close)
	h := start(t, "ORDER_URL", limited.URL)
	h.fake.admin = true
	h.login()
	for _, htmx := range []bool{false, true} {
		resp, body, _ := h.timed("/admin/orders/export.csv?status=pending", htmx)
		assert.Equal(t, http.StatusTooManyRequests, resp.StatusCode, "htmx %t", htmx)
		assert.Equal(t, "23", resp.Header.Get("Retry-After"), "htmx %t", htmx)
		assert.Contains(t, body, "try again in 23 seconds", "htmx %t", htmx)
	}
}
