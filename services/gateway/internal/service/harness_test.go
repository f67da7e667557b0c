package service_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/caasdemo/orderdemo/events"
	"github.com/caasdemo/orderdemo/services/gateway/internal/config"
	"github.com/caasdemo/orderdemo/services/gateway/internal/service"
	"github.com/caasdemo/orderdemo/services/gateway/internal/sse/ssetest"
	pconfig "github.com/caasdemo/orderdemo/services/platform/config"
	"github.com/caasdemo/orderdemo/services/platform/natsconn"
	"github.com/caasdemo/orderdemo/services/platform/testenv"
)

// fakeServices stand in for auth, order and audit with the answers each test sets, so the
// gateway's handlers are tested on their own; the browser tests run them against the real
// services.
type fakeServices struct {
	mu            sync.Mutex
	loginCode     int
	retry         string
	orders        string // JSON of GET /orders/me
	ordersUp      bool
	limited       string // when set, GET /orders/me is refused 429 with this Retry-After
	refuseRenewal string // when set, a token renewal is refused 429 with this Retry-After
	refreshes     int
	expiresIn     int
	admin         bool
	loginXFF      []string // the X-Forwarded-For of each password login, as auth saw it
	placed        []placed // the orders POST /orders created, oldest first
	createKeys    []string // the Idempotency-Key of every POST /orders
	createLate    bool     // when set, POST /orders creates the order but never answers
}

// placed is an order the stand-in order service created, with the key and body it came with.
type placed struct{ id, key, body string }

func (f *fakeServices) handler(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodPost && r.URL.Path == "/orders" {
		f.create(w, r)
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	switch {
	case r.URL.Path == "/health":
	case r.URL.Path == "/auth/token" && r.FormValue("grant_type") == "refresh_token" && f.refuseRenewal != "":
		w.Header().Set("Retry-After", f.refuseRenewal)
		w.WriteHeader(http.StatusTooManyRequests)
		fmt.Fprintf(w, `{"detail":"too many requests: the per-client limit is 60 every 60 seconds; try again in %s seconds"}`, f.refuseRenewal)
	case r.URL.Path == "/auth/token" && r.FormValue("grant_type") == "refresh_token":
		f.refreshes++
		fmt.Fprintf(w, `{"access_token":"renewed-%d","expires_in":900,"refresh_token":"r-%d"}`, f.refreshes, f.refreshes)
	case r.URL.Path == "/auth/token":
		f.loginXFF = append(f.loginXFF, r.Header.Get("X-Forwarded-For"))
		if f.loginCode != 0 {
			if f.retry != "" {
				w.Header().Set("Retry-After", f.retry)
			}
			w.WriteHeader(f.loginCode)
			fmt.Fprint(w, `{"detail":"refused"}`)
			return
		}
		fmt.Fprintf(w, `{"access_token":"token-1","expires_in":%d,"refresh_token":"r-0"}`, f.expiresIn)
	case r.URL.Path == "/auth/verify":
		fmt.Fprintf(w, `{"user_id":"%s","username":"alice","is_admin":%t}`, userID, f.admin)
	case r.Method == http.MethodPatch && strings.HasPrefix(r.URL.Path, "/orders/"):
		w.WriteHeader(http.StatusConflict)
		fmt.Fprint(w, `{"detail":"the order was already decided"}`)
	case r.Method == http.MethodGet && strings.HasPrefix(r.URL.Path, "/orders/") && r.URL.Path != "/orders/me":
		fmt.Fprint(w, `{"id":"`+strings.TrimPrefix(r.URL.Path, "/orders/")+`","status":"rejected","decided_by":"other_admin",
			"decided_at":"2026-11-29T09:00:00Z","created_at":"2026-11-29T08:00:00Z","item_name":"Lamp","quantity":1}`)
	case r.URL.Path == "/auth/logout":
		fmt.Fprint(w, `{"message":"Logged out successfully"}`)
	case r.URL.Path == "/audit/stats":
		fmt.Fprint(w, `{"total_orders":0}`)
	case r.Method == http.MethodGet && r.URL.Path == "/orders": // the admin's list
		fmt.Fprint(w, f.orders)
	case r.URL.Path == "/orders/me":
		if f.limited != "" {
			w.Header().Set("Retry-After", f.limited)
			w.Header().Set("Content-Type", "application/problem+json")
			w.WriteHeader(http.StatusTooManyRequests)
			fmt.Fprintf(w, `{"status":429,"detail":"too many requests: the per-user limit is 600 every 60 seconds; try again in %s seconds"}`, f.limited)
			return
		}
		if !f.ordersUp {
			hj, _ := w.(http.Hijacker)
			conn, _, _ := hj.Hijack()
			conn.Close() // the order service is down
			return
		}
		if !strings.HasPrefix(r.Header.Get("Authorization"), "Bearer ") {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		fmt.Fprint(w, f.orders)
	default:
		w.WriteHeader(http.StatusNotFound)
	}
}

// create places an order as the order service does with an Idempotency-Key: the same key
// and body return the order placed first, the same key with another body is refused 422.
// With createLate, the order is placed but the answer never leaves: the gateway gives up
// first, as with an order service that commits and then stalls.
func (f *fakeServices) create(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	key := r.Header.Get("Idempotency-Key")
	f.mu.Lock()
	f.createKeys = append(f.createKeys, key)
	id := ""
	for _, p := range f.placed {
		if key != "" && p.key == key {
			if p.body != string(body) {
				f.mu.Unlock()
				w.WriteHeader(http.StatusUnprocessableEntity)
				fmt.Fprint(w, `{"status":422,"detail":"this Idempotency-Key was used with a different request"}`)
				return
			}
			id = p.id
		}
	}
	if id == "" {
		id = events.NewID()
		f.placed = append(f.placed, placed{id: id, key: key, body: string(body)})
	}
	late := f.createLate
	f.mu.Unlock()
	if late {
		<-r.Context().Done()
		return
	}
	w.WriteHeader(http.StatusCreated)
	fmt.Fprintf(w, `{"order_id":%q,"status":"pending","created_at":"2026-11-29T09:00:00Z"}`, id)
}

// orderIDs returns the ids of the orders placed so far, oldest first.
func (f *fakeServices) orderIDs() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var ids []string
	for _, p := range f.placed {
		ids = append(ids, p.id)
	}
	return ids
}

const userID = "7c0e5d3a-8f1b-4c2d-9e6a-1b2c3d4e5f60"

type harness struct {
	t      *testing.T
	cfg    config.Config
	url    string
	fake   *fakeServices
	client *http.Client
	js     jetstream.JetStream
	svc    *service.Service
	secure bool
}

func start(t *testing.T, extra ...string) *harness {
	t.Helper()
	fake := &fakeServices{ordersUp: true, expiresIn: 900, orders: `{"orders":[],"total":0}`}
	up := httptest.NewServer(http.HandlerFunc(fake.handler))
	t.Cleanup(up.Close)
	env := map[string]string{
		"NATS_URL": testenv.NATS(t), "VALKEY_URL": testenv.ValkeyURL(t), "VALKEY_KEY_PREFIX": testenv.Prefix(),
		"AUTH_URL": up.URL, "ORDER_URL": up.URL, "AUDIT_URL": up.URL, "COOKIE_SECURE": "false",
	}
	for i := 0; i+1 < len(extra); i += 2 {
		env[extra[i]] = extra[i+1]
	}
	var cfg config.Config
	require.NoError(t, pconfig.Load(testenv.Lookup(env), &cfg))
	h := &harness{t: t, cfg: cfg, fake: fake}
	h.boot()

	nc, js, err := natsconn.Connect(t.Context(), natsconn.Config{URL: pconfig.URL(env["NATS_URL"]), ConnectTimeout: time.Second}, "test", slog.New(slog.NewTextHandler(io.Discard, nil)))
	require.NoError(t, err)
	t.Cleanup(nc.Close)
	_, err = natsconn.EnsureStream(t.Context(), js, events.OrdersStream)
	require.NoError(t, err)
	jar, _ := cookiejar.New(nil)
	h.js, h.secure = js, cfg.Session.SecureCookies
	h.client = &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	return h
}

// boot starts a gateway instance (a restart, when called again); the browser keeps its
// cookies across, as a real one would.
func (h *harness) boot() {
	h.t.Helper()
	srv, svc := h.instance()
	if h.url != "" {
		// Keep the address the cookies were set for: the new instance takes over the old URL.
		old := h.url
		h.url = srv.URL
		h.client.Jar.SetCookies(mustURL(h.url), h.client.Jar.Cookies(mustURL(old)))
	} else {
		h.url = srv.URL
	}
	h.svc = svc
}

// replica starts another gateway instance on the same Valkey and NATS, as a second replica
// behind a balancer would be, and returns its URL; the browser's cookies go to both.
func (h *harness) replica() string {
	h.t.Helper()
	srv, _ := h.instance()
	return srv.URL
}

// instance starts a gateway with the harness's configuration until the test ends.
func (h *harness) instance() (*httptest.Server, *service.Service) {
	h.t.Helper()
	srv, svc, run := h.heldInstance()
	run()
	return srv, svc
}

// heldInstance starts a gateway whose workers (the live feed) start only when run is
// called: until then, events on the stream are not delivered live.
func (h *harness) heldInstance() (srv *httptest.Server, svc *service.Service, run func()) {
	h.t.Helper()
	svc, err := service.New(h.t.Context(), &h.cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	require.NoError(h.t, err)
	ctx, cancel := context.WithCancel(context.WithoutCancel(h.t.Context()))
	var wg sync.WaitGroup
	run = sync.OnceFunc(func() {
		for _, w := range svc.Workers {
			wg.Go(func() { _ = w(ctx) })
		}
	})
	srv = httptest.NewServer(svc.Handler)
	h.t.Cleanup(func() { srv.Close(); cancel(); wg.Wait(); svc.Close() })
	return srv, svc, run
}

func mustURL(s string) *url.URL {
	u, _ := url.Parse(s)
	return u
}

var csrfField = regexp.MustCompile(`name="csrf_token" value="([^"]+)"`)

// page GETs a page and returns status, body and the CSRF token its forms carry.
func (h *harness) page(path string) (*http.Response, string, string) {
	h.t.Helper()
	resp, err := h.client.Get(h.url + path)
	require.NoError(h.t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	token := ""
	if m := csrfField.FindStringSubmatch(string(b)); m != nil {
		token = m[1]
	}
	return resp, string(b), token
}

func (h *harness) post(path string, form url.Values, headers ...string) (*http.Response, string) {
	h.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, h.url+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := h.client.Do(req)
	require.NoError(h.t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// login signs in through the login form and returns the session's CSRF token.
func (h *harness) login() string {
	h.t.Helper()
	_, _, token := h.page("/login")
	resp, body := h.post("/login", url.Values{"csrf_token": {token}, "username": {"alice"}, "password": {"correct horse"}})
	require.Equal(h.t, http.StatusSeeOther, resp.StatusCode, body)
	_, _, token = h.page("/orders/new")
	require.NotEmpty(h.t, token)
	return token
}

// publish puts an order event on the ORDERS stream and returns its stream sequence.
func (h *harness) publish(p events.Payload, version int64) uint64 {
	h.t.Helper()
	env, err := events.New(p, events.Metadata{Source: "test", AggregateVersion: version})
	require.NoError(h.t, err)
	b, _ := events.Encode(env)
	subject, _ := env.NATSSubject()
	ack, err := h.js.Publish(h.t.Context(), subject, b)
	require.NoError(h.t, err)
	return ack.Sequence
}

// publishDecisions puts n approvals of the user's orders on the ORDERS stream at once and
// returns their stream sequences, in order.
func (h *harness) publishDecisions(n int) []uint64 {
	h.t.Helper()
	var acks []jetstream.PubAckFuture
	for range n {
		env, err := events.New(events.OrderApproved(events.OrderDecision{OrderID: events.NewID(), UserID: userID, AdminID: events.NewID(),
			AdminUsername: "root", DecidedAt: time.Now()}), events.Metadata{Source: "test", AggregateVersion: 2})
		require.NoError(h.t, err)
		b, _ := events.Encode(env)
		subject, _ := env.NATSSubject()
		ack, err := h.js.PublishAsync(subject, b)
		require.NoError(h.t, err)
		acks = append(acks, ack)
	}
	seqs := make([]uint64, n)
	for i, ack := range acks {
		select {
		case ok := <-ack.Ok():
			seqs[i] = ok.Sequence
		case err := <-ack.Err():
			require.NoError(h.t, err)
		case <-time.After(20 * time.Second):
			h.t.Fatal("publish not acknowledged within 20s")
		}
	}
	require.IsIncreasing(h.t, seqs)
	return seqs
}

// sse is an open event stream, read as a browser reads it.
type sse struct {
	resp   *http.Response
	blocks chan ssetest.Block
}

// events opens the user's event stream; it returns once the gateway has subscribed it to the
// live feed (the answer begins then).
func (h *harness) events(lastEventID string) *sse { return h.eventsAt("/events", lastEventID) }

func (h *harness) eventsAt(path, lastEventID string) *sse {
	return h.eventsOn(h.url, path, lastEventID)
}

// eventsOn opens an event stream on the gateway at base (another instance than h.url).
func (h *harness) eventsOn(base, path, lastEventID string) *sse {
	h.t.Helper()
	req, _ := http.NewRequestWithContext(h.t.Context(), http.MethodGet, base+path, nil)
	if lastEventID != "" {
		req.Header.Set("Last-Event-ID", lastEventID)
	}
	// Each stream on its own connection, as a browser's EventSource reconnects.
	client := &http.Client{Jar: h.client.Jar, Transport: &http.Transport{}}
	resp, err := client.Do(req)
	require.NoError(h.t, err)
	require.Equal(h.t, http.StatusOK, resp.StatusCode)
	s := &sse{resp: resp, blocks: make(chan ssetest.Block, 100)}
	go func() {
		defer close(s.blocks)
		r := ssetest.NewReader(resp.Body)
		for {
			b, err := r.Next()
			if err != nil {
				return
			}
			s.blocks <- b
		}
	}()
	h.t.Cleanup(func() { resp.Body.Close() })
	return s
}

// next returns the next event's id, name and data.
func (s *sse) next(t *testing.T) (id, name, data string) {
	t.Helper()
	b := s.nextEvent(t)
	return b.ID(), b.Name(), b.Data()
}

// nextEvent returns the next block that has data (an event; not a retry or a comment), or
// an empty block when the stream ended.
func (s *sse) nextEvent(t *testing.T) ssetest.Block {
	t.Helper()
	timeout := time.After(5 * time.Second)
	var seen []ssetest.Block
	for {
		select {
		case b, ok := <-s.blocks:
			if !ok {
				return ssetest.Block{}
			}
			seen = append(seen, b)
			for _, f := range b.Fields {
				if f.Name == "data" {
					return b
				}
			}
		case <-timeout:
			t.Fatalf("no event within 5s; blocks: %q", seen)
		}
	}
}

// end reads the stream until the gateway ends it and returns what it sent meanwhile (the
// retry field, comments, events).
func (s *sse) end(t *testing.T) []ssetest.Block {
	t.Helper()
	timeout := time.After(20 * time.Second)
	var seen []ssetest.Block
	for {
		select {
		case b, ok := <-s.blocks:
			if !ok {
				return seen
			}
			seen = append(seen, b)
		case <-timeout:
			t.Fatalf("the stream did not end within 20s; blocks: %q", seen)
		}
	}
}

var liveFrom = regexp.MustCompile(`sse-connect="/events\?after=(\d+)"`)

// feedAt waits until the gateway's live feed has delivered the event at sequence seq (the
// orders page opens its stream at the feed's position).
func (h *harness) feedAt(seq uint64) {
	h.t.Helper()
	require.Eventually(h.t, func() bool {
		_, body, _ := h.page("/orders")
		m := liveFrom.FindStringSubmatch(body)
		if m == nil {
			return false
		}
		at, _ := strconv.ParseUint(m[1], 10, 64)
		return at >= seq
	}, 10*time.Second, 20*time.Millisecond, "the live feed never delivered %d", seq)
}
