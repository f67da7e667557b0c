package service_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/caasdemo/orderdemo/events"
	"github.com/caasdemo/orderdemo/services/platform/problem"
	"github.com/caasdemo/orderdemo/services/platform/testenv"
)

func TestGatewayIsReadyWhenEverythingBehindItIs(t *testing.T) {
	t.Parallel()
	h := start(t)
	rep := testenv.RequireReady(t, h.svc.Handler)
	assert.Len(t, rep.Checks, 5)
}

func TestPagesCarryTheSecurityHeaders(t *testing.T) {
	t.Parallel()
	h := start(t)
	resp, body, token := h.page("/login")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	csp := resp.Header.Get("Content-Security-Policy")
	assert.NotContains(t, csp, "unsafe-inline")
	assert.NotContains(t, csp, "unsafe-eval")
	assert.Contains(t, csp, "frame-ancestors 'none'")
	assert.Contains(t, csp, "script-src 'self'")
	assert.Equal(t, "nosniff", resp.Header.Get("X-Content-Type-Options"))
	assert.Equal(t, "same-origin", resp.Header.Get("Referrer-Policy"))
	assert.Equal(t, "no-store", resp.Header.Get("Cache-Control"))
	assert.NotEmpty(t, token)
	assert.NotContains(t, body, "<script>", "no inline script")
}

func TestCSRFIsRequiredOnEveryStateChange(t *testing.T) {
	t.Parallel()
	h := start(t)
	_, _, token := h.page("/login")
	resp, body := h.post("/login", url.Values{"username": {"alice"}, "password": {"x"}})
	assert.Equal(t, http.StatusForbidden, resp.StatusCode)
	assert.Contains(t, body, "did not come from this site")
	assert.Contains(t, body, `data-testid="request-id"`)
	resp, _ = h.post("/login", url.Values{"csrf_token": {token + "x"}, "username": {"alice"}, "password": {"x"}})
	assert.Equal(t, http.StatusForbidden, resp.StatusCode, "a wrong token")

	sessionToken := h.login()
	resp, _ = h.post("/orders", url.Values{"csrf_token": {token}, "item_name": {"x"}, "quantity": {"1"}})
	assert.Equal(t, http.StatusForbidden, resp.StatusCode, "after login only the session's token counts")
	resp, _ = h.post("/logout", url.Values{})
	assert.Equal(t, http.StatusForbidden, resp.StatusCode, "logout without a token is refused too")
	resp, _ = h.post("/logout", url.Values{}, "X-CSRF-Token", sessionToken)
	assert.Equal(t, http.StatusSeeOther, resp.StatusCode, "htmx sends the token as a header")

	// A cross-origin form post is refused before it is looked at.
	resp, _ = h.post("/login", url.Values{"csrf_token": {token}}, "Sec-Fetch-Site", "cross-site")
	assert.Equal(t, http.StatusForbidden, resp.StatusCode)
}

func TestLoginShowsTheAuthServicesAnswers(t *testing.T) {
	t.Parallel()
	h := start(t)
	_, _, token := h.page("/login")
	h.fake.loginCode, h.fake.retry = http.StatusTooManyRequests, "42"
	resp, body := h.post("/login", url.Values{"csrf_token": {token}, "username": {"alice"}, "password": {"x"}})
	assert.Equal(t, http.StatusTooManyRequests, resp.StatusCode)
	assert.Contains(t, body, "Too many attempts — try again in 42 seconds.")

	h.fake.loginCode, h.fake.retry = http.StatusUnauthorized, ""
	resp, body = h.post("/login", url.Values{"csrf_token": {token}, "username": {"<b>alice</b>"}, "password": {"x"}})
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	assert.Contains(t, body, "Invalid username or password.")
	assert.Contains(t, body, `value="&lt;b&gt;alice&lt;/b&gt;"`, "what the user typed is escaped")

	h.fake.loginCode = 0
	resp, _ = h.post("/login", url.Values{"csrf_token": {token}, "username": {"alice"}, "password": {"right"}})
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	var cookie *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == "session" {
			cookie = c
		}
	}
	require.NotNil(t, cookie)
	assert.True(t, cookie.HttpOnly)
	assert.Equal(t, http.SameSiteLaxMode, cookie.SameSite)
	assert.Len(t, cookie.Value, 43, "256 random bits")

	resp, _ = h.post("/login", url.Values{"csrf_token": {token}, "username": {"alice"}, "password": {"right"}})
	for _, c := range resp.Cookies() {
		if c.Name == "session" {
			assert.NotEqual(t, cookie.Value, c.Value, "a new session id at every login")
		}
	}
}

func TestCookiesAreSecureByDefault(t *testing.T) {
	t.Parallel()
	h := start(t, "COOKIE_SECURE", "true")
	resp, _, _ := h.page("/login")
	require.NotEmpty(t, resp.Cookies())
	for _, c := range resp.Cookies() {
		assert.True(t, c.Secure, c.Name)
		assert.True(t, c.HttpOnly, c.Name)
		assert.Equal(t, http.SameSiteLaxMode, c.SameSite, c.Name)
	}
}

func TestPagesSayWhenAServiceIsDown(t *testing.T) {
	t.Parallel()
	h := start(t)
	h.login()
	h.fake.ordersUp = false
	resp, body, _ := h.page("/orders")
	assert.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
	assert.Contains(t, body, "not answering right now")
	assert.Contains(t, body, resp.Header.Get("X-Request-ID"))
}

// A service's rate limit reaches the user as the service put it: 429, its words and its
// Retry-After, on a page and to htmx alike.
func TestAServicesRateLimitIsPassedOnWithRetryAfter(t *testing.T) {
	t.Parallel()
	h := start(t)
	h.login()
	h.fake.mu.Lock()
	h.fake.limited = "17"
	h.fake.mu.Unlock()
	resp, body, _ := h.page("/orders")
	assert.Equal(t, http.StatusTooManyRequests, resp.StatusCode)
	assert.Equal(t, "17", resp.Header.Get("Retry-After"))
	assert.Contains(t, body, "try again in 17 seconds")

	req, _ := http.NewRequest(http.MethodGet, h.url+"/orders?status=pending", nil)
	req.Header.Set("HX-Request", "true")
	hx, err := h.client.Do(req)
	require.NoError(t, err)
	defer hx.Body.Close()
	var p problem.Details
	require.NoError(t, json.NewDecoder(hx.Body).Decode(&p))
	assert.Equal(t, http.StatusTooManyRequests, hx.StatusCode)
	assert.Equal(t, "17", hx.Header.Get("Retry-After"))
	assert.Equal(t, problem.ContentType, hx.Header.Get("Content-Type"))
	assert.Contains(t, p.Detail, "try again in 17 seconds")
}

func TestOrderTextIsEscaped(t *testing.T) {
	t.Parallel()
	h := start(t)
	h.login()
	h.fake.orders = `{"orders":[{"id":"91ab2c3d-4e5f-4a6b-8c7d-0e1f2a3b4c5d","item_name":"Lamp","quantity":1,
		"notes":"<script>alert(1)</script>","status":"pending","created_at":"2026-11-29T09:00:00Z"}],"total":1}`
	resp, body, _ := h.page("/orders")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	assert.NotContains(t, body, "<script>alert(1)</script>")
	assert.Contains(t, body, "&lt;script&gt;alert(1)&lt;/script&gt;")
}

func TestAnExpiringTokenIsRenewedTransparently(t *testing.T) {
	t.Parallel()
	h := start(t)
	h.fake.expiresIn = 30 // under a minute: renewed at the next call
	h.login()
	resp, _, _ := h.page("/orders")
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, 1, h.fake.refreshes)
	resp, _, _ = h.page("/orders")
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, 1, h.fake.refreshes, "the renewed token is kept in the session")
}

// A renewal refused by auth's rate limit is a 429 for that page, not the end of the session.
func TestARateLimitedRenewalKeepsTheSession(t *testing.T) {
	t.Parallel()
	h := start(t)
	h.fake.expiresIn = 30 // under a minute: renewed at the next call
	h.login()
	h.fake.mu.Lock()
	h.fake.refuseRenewal = "5"
	h.fake.mu.Unlock()
	resp, body, _ := h.page("/orders")
	assert.Equal(t, http.StatusTooManyRequests, resp.StatusCode)
	assert.Equal(t, "5", resp.Header.Get("Retry-After"))
	assert.Contains(t, body, "try again in 5 seconds")

	h.fake.mu.Lock()
	h.fake.refuseRenewal = ""
	h.fake.mu.Unlock()
	resp, _, _ = h.page("/orders")
	assert.Equal(t, http.StatusOK, resp.StatusCode, "still signed in")
	assert.Equal(t, 1, h.fake.refreshes)
}

func TestAnonymousVisitorsAreSentToTheLogin(t *testing.T) {
	t.Parallel()
	h := start(t)
	for _, path := range []string{"/orders", "/orders/new", "/events", "/"} {
		resp, _, _ := h.page(path)
		assert.Equal(t, http.StatusSeeOther, resp.StatusCode, path)
		assert.Equal(t, "/login", resp.Header.Get("Location"), path)
	}
	resp, body, _ := h.page("/no-such-page")
	assert.Equal(t, http.StatusNotFound, resp.StatusCode)
	assert.Contains(t, body, "There is no page at this address.")
}

func TestLiveUpdatesReachOnlyTheOwnerAndReplayAfterAReconnect(t *testing.T) {
	t.Parallel()
	h := start(t)
	h.login()
	stream := h.events("") // subscribed once it returns
	orderID := events.NewID()
	admin := events.NewID()
	decision := events.OrderDecision{OrderID: orderID, UserID: userID, AdminID: admin, AdminUsername: "root", DecidedAt: time.Now()}

	h.publish(events.OrderApproved(events.OrderDecision{OrderID: events.NewID(), UserID: events.NewID(), AdminID: admin,
		AdminUsername: "root", DecidedAt: time.Now()}), 2) // someone else's order
	seq := h.publish(events.OrderApproved(decision), 2)
	id, name, data := stream.next(t)
	assert.Equal(t, "order-"+orderID, name, "only alice's own order")
	assert.Equal(t, itoa(seq), id, "the event id is the stream sequence")
	assert.Contains(t, data, `status-approved`)
	assert.Contains(t, data, "by root")

	// Two events happen while the browser is away; it reconnects with its last id (a
	// position the gateway's live feed has passed, as it delivered that event).
	stream.resp.Body.Close()
	h.feedAt(seq)
	created := h.publish(events.OrderCreated{OrderID: events.NewID(), UserID: userID, Username: "alice", ItemName: "Tea",
		Quantity: 1, Status: "pending", CreatedAt: time.Now()}, 1)
	rejectedID := events.NewID()
	rejected := h.publish(events.OrderRejected(events.OrderDecision{OrderID: rejectedID, UserID: userID, AdminID: admin,
		AdminUsername: "root", DecidedAt: time.Now()}), 2)
	again := h.events(itoa(seq))
	id, name, data = again.next(t)
	assert.Equal(t, itoa(created), id)
	assert.Equal(t, "order-created", name)
	assert.Contains(t, data, "Tea")
	id, name, _ = again.next(t)
	assert.Equal(t, itoa(rejected), id)
	assert.Equal(t, "order-"+rejectedID, name)
}

func itoa(n uint64) string { return strconv.FormatUint(n, 10) }

func TestSessionsSurviveAGatewayRestart(t *testing.T) {
	t.Parallel()
	h := start(t)
	h.login()
	resp, _, _ := h.page("/orders")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	h.boot() // another gateway process, the same Valkey
	resp, body, _ := h.page("/orders")
	assert.Equal(t, http.StatusOK, resp.StatusCode, "still signed in")
	assert.Contains(t, body, "alice")
}

func TestAdminPagesAreForAdmins(t *testing.T) {
	t.Parallel()
	h := start(t)
	resp, _, _ := h.page("/admin")
	assert.Equal(t, http.StatusSeeOther, resp.StatusCode, "anonymous: to the login")
	h.login()
	for _, path := range []string{"/admin", "/admin/audit", "/admin/replay", "/admin/dead-letters", "/admin/orders/export.csv"} {
		resp, body, _ := h.page(path)
		assert.Equal(t, http.StatusForbidden, resp.StatusCode, path)
		assert.Contains(t, body, "This page is for admins.", path)
	}
}

func TestADecisionAnotherAdminTookShowsAsSuch(t *testing.T) {
	t.Parallel()
	h := start(t)
	h.fake.admin = true
	token := h.login()
	id := events.NewID()
	resp, body := h.post("/admin/orders/"+id, url.Values{"status": {"approved"}}, "X-CSRF-Token", token, "HX-Request", "true")
	assert.Equal(t, http.StatusOK, resp.StatusCode, "not an error page")
	assert.Contains(t, body, "rejected")
	assert.Contains(t, body, "other_admin")
	assert.Contains(t, body, "decided by another admin meanwhile")
}

func TestTheFirstConnectionCatchesUpFromWhereThePageWasRendered(t *testing.T) {
	t.Parallel()
	h := start(t)
	h.login()
	resp, body, _ := h.page("/orders")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	m := regexp.MustCompile(`sse-connect="/events\?after=(\d+)"`).FindStringSubmatch(body)
	require.NotNil(t, m, "the page says where its stream starts")
	// An order of alice's is decided between the render and the stream's connection.
	orderID := events.NewID()
	h.publish(events.OrderApproved(events.OrderDecision{OrderID: orderID, UserID: userID, AdminID: events.NewID(),
		AdminUsername: "root", DecidedAt: time.Now()}), 2)
	stream := h.eventsAt("/events?after="+m[1], "")
	_, name, _ := stream.next(t)
	assert.Equal(t, "order-"+orderID, name)

	// Pages rendered after the live feed delivered the event start after it.
	rendered, _ := strconv.ParseUint(m[1], 10, 64)
	require.Eventually(t, func() bool {
		_, body, _ := h.page("/orders")
		m := regexp.MustCompile(`sse-connect="/events\?after=(\d+)"`).FindStringSubmatch(body)
		next, _ := strconv.ParseUint(m[1], 10, 64)
		return next == rendered+1
	}, 5*time.Second, 20*time.Millisecond)
}
