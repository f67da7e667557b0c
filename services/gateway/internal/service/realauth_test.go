package service_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/valkey-io/valkey-go"

	"github.com/caasdemo/orderdemo/services/platform/testenv"
)

// The tests here run the gateway against the real auth service, built once for the package
// and started as its own process: token renewal and login limits are about what auth does
// with what the gateway sends.

const authAdminPassword = "admin-secret-pw"

var (
	authOnce sync.Once
	authDir  string // holds the auth binary; removed when the tests end
	authErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if authDir != "" {
		os.RemoveAll(authDir)
	}
	os.Exit(code)
}

// authBinary builds the auth service once.
func authBinary(t *testing.T) string {
	t.Helper()
	authOnce.Do(func() {
		root, err := repoRoot()
		if err != nil {
			authErr = err
			return
		}
		if authDir, authErr = os.MkdirTemp("", "gateway-test-auth-"); authErr != nil {
			return
		}
		cmd := exec.Command("go", "build", "-o", filepath.Join(authDir, "auth"), "./services/auth/cmd/auth")
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			authErr = fmt.Errorf("build the auth service: %v\n%s", err, out)
		}
	})
	require.NoError(t, authErr)
	return filepath.Join(authDir, "auth")
}

// repoRoot is the folder of the workspace's go.work.
func repoRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOWORK").Output()
	gowork := strings.TrimSpace(string(out))
	if err != nil || gowork == "" || gowork == "off" {
		return "", fmt.Errorf("the tests run inside the repository's Go workspace (go env GOWORK: %q, %v)", gowork, err)
	}
	return filepath.Dir(gowork), nil
}

// startAuth runs the auth service on its own PostgreSQL database, JetStream and key prefix
// until the test ends, and returns its URL once it is ready. extra are more variables,
// name then value.
func startAuth(t *testing.T, extra ...string) string {
	t.Helper()
	bin := authBinary(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	ln.Close()
	env := []string{
		"PATH=" + os.Getenv("PATH"),
		"HTTP_ADDR=" + addr,
		"LOG_LEVEL=warn",
		"DATABASE_URL=" + testenv.PostgresURL(t),
		"NATS_URL=" + testenv.NATS(t),
		"VALKEY_URL=" + testenv.ValkeyURL(t),
		"VALKEY_KEY_PREFIX=" + testenv.Prefix(),
		"JWT_SECRET=" + testenv.JWTSecret,
		"ADMIN_USERNAME=admin",
		"ADMIN_PASSWORD=" + authAdminPassword,
		"BCRYPT_COST=4",
	}
	for i := 0; i+1 < len(extra); i += 2 {
		env = append(env, extra[i]+"="+extra[i+1])
	}
	var out bytes.Buffer
	var outMu sync.Mutex
	cmd := exec.Command(bin)
	cmd.Env = env
	cmd.Stdout = lockedWriter{&out, &outMu}
	cmd.Stderr = cmd.Stdout
	require.NoError(t, cmd.Start())
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
	})

	base := "http://" + addr
	deadline := time.Now().Add(60 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(t.Context(), time.Second)
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/ready", nil)
		resp, err := http.DefaultClient.Do(req)
		cancel()
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return base
			}
		}
		select {
		case <-exited:
			outMu.Lock()
			defer outMu.Unlock()
			t.Fatalf("the auth service exited:\n%s", out.String())
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			outMu.Lock()
			defer outMu.Unlock()
			t.Fatalf("the auth service was not ready within 60s:\n%s", out.String())
		}
	}
}

type lockedWriter struct {
	w  io.Writer
	mu *sync.Mutex
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// loginFrom signs in through the login form as a browser behind a proxy at 127.0.0.1 (the
// test) that names it clientAddr, and returns the status.
func (h *harness) loginFrom(clientAddr, username, password string) int {
	h.t.Helper()
	_, _, token := h.page("/login")
	resp, body := h.post("/login", url.Values{"csrf_token": {token}, "username": {username}, "password": {password}},
		"X-Forwarded-For", clientAddr)
	if resp.StatusCode != http.StatusSeeOther {
		h.t.Logf("login of %s from %s: %d %s", username, clientAddr, resp.StatusCode, formError(body))
	}
	return resp.StatusCode
}

// formError is the error sentence of a form page.
func formError(body string) string {
	_, rest, ok := strings.Cut(body, `data-testid="form-error">`)
	if !ok {
		return ""
	}
	msg, _, _ := strings.Cut(rest, "<")
	return msg
}

// expireAccessToken makes the session's access token due for renewal, as 14 minutes after
// login.
func (h *harness) expireAccessToken() {
	h.t.Helper()
	var id string
	for _, c := range h.client.Jar.Cookies(mustURL(h.url)) {
		if c.Name == "session" {
			id = c.Value
		}
	}
	require.NotEmpty(h.t, id, "signed in")
	opt, err := valkey.ParseURL(testenv.ValkeyURL(h.t))
	require.NoError(h.t, err)
	opt.DisableCache = true
	client, err := valkey.NewClient(opt)
	require.NoError(h.t, err)
	defer client.Close()
	soon := strconv.FormatInt(time.Now().Add(30*time.Second).UnixMilli(), 10)
	require.NoError(h.t, client.Do(h.t.Context(), client.B().Hset().Key(h.cfg.Valkey.KeyPrefix+"session:"+id).
		FieldValue().FieldValue("access_expiry", soon).Build()).Error())
}

// countRefreshes puts a proxy in front of auth that counts the token renewals passing
// through, and returns its URL.
func countRefreshes(t *testing.T, authURL string) (string, *atomic.Int32) {
	t.Helper()
	target, _ := url.Parse(authURL)
	proxy := httputil.NewSingleHostReverseProxy(target)
	var refreshes atomic.Int32
	return newServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/auth/token" {
			body, _ := io.ReadAll(r.Body)
			r.Body = io.NopCloser(bytes.NewReader(body))
			if form, _ := url.ParseQuery(string(body)); form.Get("grant_type") == "refresh_token" {
				refreshes.Add(1)
			}
		}
		proxy.ServeHTTP(w, r)
	})), &refreshes
}

func TestConcurrentPageLoadsAtRenewalTimeRenewOnceAndKeepTheSession(t *testing.T) {
	t.Parallel()
	// Auth's own grace for a refresh token used twice at once is off: the gateway alone must
	// make sure a session renews once.
	counted, refreshes := countRefreshes(t, startAuth(t, "REFRESH_REUSE_GRACE", "0s"))
	h := start(t, "AUTH_URL", counted)
	require.Equal(t, http.StatusSeeOther, h.loginFrom("203.0.113.7", "admin", authAdminPassword))

	for round := 1; round <= 2; round++ {
		h.expireAccessToken()
		const loads = 20
		statuses := make([]int, loads)
		var wg sync.WaitGroup
		for i := range loads {
			wg.Go(func() {
				resp, err := h.client.Get(h.url + "/orders")
				if err != nil {
					return
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				statuses[i] = resp.StatusCode
			})
		}
		wg.Wait()
		for i, status := range statuses {
			assert.Equal(t, http.StatusOK, status, "round %d, load %d: never sent to the login", round, i)
		}
		assert.Equal(t, int32(round), refreshes.Load(), "round %d: one renewal for the twenty loads", round)
		resp, _, _ := h.page("/orders")
		assert.Equal(t, http.StatusOK, resp.StatusCode, "round %d: the session lives on", round)
	}
}

func TestFailedLoginsFromOneClientDoNotLockOutOtherBrowsers(t *testing.T) {
	t.Parallel()
	h := start(t, "AUTH_URL", startAuth(t))
	_, _, token := h.page("/register")
	resp, body := h.post("/register", url.Values{"csrf_token": {token}, "username": {"bobby"}, "password": {"bob-password-1"}},
		"X-Forwarded-For", "198.51.100.9")
	require.Equal(t, http.StatusSeeOther, resp.StatusCode, body)

	const attacker = "203.0.113.7"
	for i := range 20 {
		status := h.loginFrom(attacker, fmt.Sprintf("nobody%02d", i), "wrong password")
		require.Contains(t, []int{http.StatusUnauthorized, http.StatusTooManyRequests}, status)
	}
	assert.Equal(t, http.StatusSeeOther, h.loginFrom("198.51.100.9", "bobby", "bob-password-1"),
		"another browser signs in: the gateway names each browser to auth")
	assert.Equal(t, http.StatusSeeOther, h.loginFrom(attacker, "bobby", "bob-password-1"),
		"even from the address whose failure window is full, the right password signs in")
}

func TestForwardedForIsBelievedOnlyFromTrustedProxies(t *testing.T) {
	t.Parallel()
	trusting := start(t) // the test is at 127.0.0.1, trusted by default
	trusting.loginFrom("203.0.113.7", "alice", "x")
	trusting.loginFrom("192.0.2.66, 203.0.113.8", "alice", "x")
	wary := start(t, "TRUSTED_PROXIES", "10.0.0.0/8")
	wary.loginFrom("203.0.113.7", "alice", "x")

	trusting.fake.mu.Lock()
	assert.Equal(t, []string{"203.0.113.7", "203.0.113.8"}, trusting.fake.loginXFF,
		"from a trusted proxy, the rightmost address it did not add itself")
	trusting.fake.mu.Unlock()
	wary.fake.mu.Lock()
	assert.Equal(t, []string{"127.0.0.1"}, wary.fake.loginXFF, "from anyone else, the peer")
	wary.fake.mu.Unlock()
}

func TestARenewalAnotherReplicaMadeIsUsedNotRepeated(t *testing.T) {
	t.Parallel()
	counted, refreshes := countRefreshes(t, startAuth(t, "REFRESH_REUSE_GRACE", "0s"))
	h := start(t, "AUTH_URL", counted)
	other := h.replica()
	require.Equal(t, http.StatusSeeOther, h.loginFrom("203.0.113.7", "admin", authAdminPassword))
	_, form, csrf := h.page("/orders/new")
	key := formKey(t, form)
	h.expireAccessToken()

	// An order form posted to this replica: its session is read (the token due for renewal),
	// then the handler waits for the form's body.
	body, send := io.Pipe()
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, h.url+"/orders", body)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-CSRF-Token", csrf)
	req.Header.Set("HX-Request", "true")
	posted := make(chan int, 1)
	go func() {
		resp, err := h.client.Do(req)
		if err != nil {
			posted <- 0
			return
		}
		resp.Body.Close()
		posted <- resp.StatusCode
	}()
	time.Sleep(300 * time.Millisecond)

	// Meanwhile the other replica renews the session's tokens.
	resp, err := h.client.Get(other + "/orders")
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, int32(1), refreshes.Load())

	_, _ = io.WriteString(send, "item_name=Lamp&quantity=1&idempotency_key="+url.QueryEscape(key))
	send.Close()
	assert.Equal(t, http.StatusCreated, <-posted, "the order is placed with the token the other replica got")
	assert.Equal(t, int32(1), refreshes.Load(), "the session's old refresh token was not used again")
	resp2, _, _ := h.page("/orders")
	assert.Equal(t, http.StatusOK, resp2.StatusCode, "the session lives on")
}
