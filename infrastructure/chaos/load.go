package chaos

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// client makes the load's HTTP calls and counts those that took longer than hang to answer
// (or never did): a dependency that is down must be answered fast, never by a hang.
type client struct {
	http  *http.Client
	hang  time.Duration
	hung  atomic.Int64
	worst atomic.Int64 // the slowest answer, in nanoseconds
}

func newClient(hang time.Duration) *client {
	return &client{hang: hang, http: &http.Client{Timeout: 4 * hang,
		Transport:     &http.Transport{MaxIdleConnsPerHost: 64},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

// timed records how long a call took to answer.
func (c *client) timed(start time.Time) {
	d := time.Since(start)
	if d > c.hang {
		c.hung.Add(1)
	}
	for {
		w := c.worst.Load()
		if int64(d) <= w || c.worst.CompareAndSwap(w, int64(d)) {
			return
		}
	}
}

// call sends one request and reads the whole answer. A transport error (refused, reset,
// timed out) is returned as err with status 0.
func (c *client) call(ctx context.Context, hc *http.Client, method, u string, body []byte, header http.Header) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, method, u, bytes.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	for k, v := range header {
		req.Header[k] = v
	}
	if hc == nil {
		hc = c.http
	}
	start := time.Now()
	defer c.timed(start)
	resp, err := hc.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

// retryable is an answer a careful client tries again: nothing answered, or the service
// said it is unavailable or busy.
func retryable(status int, err error) bool {
	return err != nil || status == http.StatusServiceUnavailable || status == http.StatusTooManyRequests ||
		status == http.StatusBadGateway || status == http.StatusGatewayTimeout
}

func newKey() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func pause(ctx context.Context, d time.Duration) bool {
	select {
	case <-ctx.Done():
		return false
	case <-time.After(d):
		return true
	}
}

// gate lets the workers run or holds them between operations, so that the checks after a
// fault look at a system that has stopped changing.
type gate struct {
	mu     sync.Mutex
	closed bool
	busy   int
}

// enter waits while the gate is closed, then counts an operation in.
func (g *gate) enter(ctx context.Context) bool {
	for {
		g.mu.Lock()
		if !g.closed {
			g.busy++
			g.mu.Unlock()
			return true
		}
		g.mu.Unlock()
		if !pause(ctx, 20*time.Millisecond) {
			return false
		}
	}
}

func (g *gate) leave() { g.mu.Lock(); g.busy--; g.mu.Unlock() }

// close stops new operations and waits for those under way to end.
func (g *gate) close(ctx context.Context) {
	g.mu.Lock()
	g.closed = true
	g.mu.Unlock()
	for {
		g.mu.Lock()
		busy := g.busy
		g.mu.Unlock()
		if busy == 0 || !pause(ctx, 20*time.Millisecond) {
			return
		}
	}
}

func (g *gate) open() { g.mu.Lock(); g.closed = false; g.mu.Unlock() }

// account is a user of the load: an API token for orders, and a browser session on the
// gateway watching the user's live updates.
type account struct {
	name, password, id string
	token              atomic.Value // string
	browser            *http.Client
}

// Load is the steady load: users placing orders with idempotency keys (a retry uses the
// same key), an admin deciding them, new registrations, and every user watching their live
// stream through the gateway.
type Load struct {
	sys   *System
	c     *client
	gate  gate
	retry time.Duration // how long a careful client keeps retrying one operation

	accounts []*account
	admin    string // the admin's access token

	mu          sync.Mutex
	orders      map[string]string // acknowledged order id → owner id
	decisions   map[string]string // acknowledged decision: order id → status
	registered  []string          // acknowledged registrations (usernames)
	refused     int               // operations answered with an error a retry cannot mend
	unfinished  int               // operations still failing when the client gave up
	watchers    []*watcher
	wg          sync.WaitGroup
	cancel      context.CancelFunc
	ordersEvery time.Duration
}

// NewLoad registers users signed in to the API and the gateway, and the admin.
func NewLoad(ctx context.Context, sys *System, users int, ordersEvery, hang time.Duration) (*Load, error) {
	l := &Load{sys: sys, c: newClient(hang), retry: 60 * time.Second, ordersEvery: ordersEvery,
		orders: map[string]string{}, decisions: map[string]string{}}
	stamp := newKey()[:6]
	for i := range users {
		a := &account{name: fmt.Sprintf("chaos_%s_%d", stamp, i), password: "chaos password " + stamp}
		id, _, err := l.register(ctx, a.name, a.password)
		if err == nil && id == "" {
			err = fmt.Errorf("register %s: its answer was lost", a.name)
		}
		if err != nil {
			return nil, err
		}
		a.id = id
		tok, err := l.login(ctx, a.name, a.password)
		if err != nil {
			return nil, err
		}
		a.token.Store(tok)
		if a.browser, err = l.webLogin(ctx, a.name, a.password); err != nil {
			return nil, err
		}
		l.accounts = append(l.accounts, a)
	}
	tok, err := l.login(ctx, sys.Admin[0], sys.Admin[1])
	if err != nil {
		return nil, fmt.Errorf("admin: %w", err)
	}
	l.admin = tok
	return l, nil
}

// persist repeats op while its answer is retryable, for up to l.retry.
func (l *Load) persist(ctx context.Context, op func() (int, []byte, error)) (int, []byte, error) {
	deadline := time.Now().Add(l.retry)
	for {
		status, body, err := op()
		if !retryable(status, err) || time.Now().After(deadline) || ctx.Err() != nil {
			return status, body, err
		}
		pause(ctx, 100*time.Millisecond)
	}
}

// register registers a user and returns its id, or the last answer and error. A 409 to a
// retry means the attempt whose answer was lost created the account (the load's names are
// its own): acknowledged, its id unknown.
func (l *Load) register(ctx context.Context, name, password string) (string, int, error) {
	body, _ := json.Marshal(map[string]string{"username": name, "password": password})
	attempts := 0
	status, resp, err := l.persist(ctx, func() (int, []byte, error) {
		attempts++
		return l.c.call(ctx, nil, http.MethodPost, l.sys.URL("auth")+"/auth/register", body, http.Header{"Content-Type": {"application/json"}})
	})
	if status == http.StatusConflict && attempts > 1 {
		return "", http.StatusCreated, nil
	}
	if status != http.StatusCreated {
		return "", status, fmt.Errorf("register %s: %d %s %v", name, status, resp, err)
	}
	var out struct {
		UserID string `json:"user_id"`
	}
	return out.UserID, status, json.Unmarshal(resp, &out)
}

func (l *Load) login(ctx context.Context, name, password string) (string, error) {
	form := url.Values{"username": {name}, "password": {password}}.Encode()
	status, resp, err := l.persist(ctx, func() (int, []byte, error) {
		return l.c.call(ctx, nil, http.MethodPost, l.sys.URL("auth")+"/auth/token", []byte(form),
			http.Header{"Content-Type": {"application/x-www-form-urlencoded"}})
	})
	if status != http.StatusOK {
		return "", fmt.Errorf("log in %s: %d %s %v", name, status, resp, err)
	}
	var out struct {
		AccessToken string `json:"access_token"`
	}
	return out.AccessToken, json.Unmarshal(resp, &out)
}

var csrfField = regexp.MustCompile(`name="csrf_token" value="([^"]+)"`)

// webLogin signs in through the gateway's login form, as a browser does.
func (l *Load) webLogin(ctx context.Context, name, password string) (*http.Client, error) {
	jar, _ := cookiejar.New(nil)
	b := &http.Client{Jar: jar, Timeout: l.c.http.Timeout, CheckRedirect: l.c.http.CheckRedirect}
	status, _, err := l.persist(ctx, func() (int, []byte, error) {
		status, page, err := l.c.call(ctx, b, http.MethodGet, l.sys.URL("gateway")+"/login", nil, nil)
		m := csrfField.FindSubmatch(page)
		if err != nil || m == nil {
			return status, page, err
		}
		form := url.Values{"csrf_token": {string(m[1])}, "username": {name}, "password": {password}}.Encode()
		return l.c.call(ctx, b, http.MethodPost, l.sys.URL("gateway")+"/login", []byte(form),
			http.Header{"Content-Type": {"application/x-www-form-urlencoded"}})
	})
	if status != http.StatusSeeOther {
		return nil, fmt.Errorf("gateway login %s: %d %v", name, status, err)
	}
	return b, nil
}

// Run starts the workers; Stop ends them.
func (l *Load) Run(ctx context.Context) {
	ctx, l.cancel = context.WithCancel(ctx)
	for _, a := range l.accounts {
		w := &watcher{l: l, a: a, seen: map[string]bool{}}
		l.watchers = append(l.watchers, w)
		l.wg.Go(func() { w.run(ctx) })
		l.wg.Go(func() { l.placeOrders(ctx, a) })
	}
	l.wg.Go(func() { l.decide(ctx) })
	l.wg.Go(func() { l.registrations(ctx) })
}

// Stop ends the workers and waits for them.
func (l *Load) Stop() {
	if l.cancel != nil {
		l.cancel()
	}
	l.wg.Wait()
}

// Hold stops new operations and waits for those under way; Resume lets them go on.
func (l *Load) Hold(ctx context.Context) { l.gate.close(ctx) }
func (l *Load) Resume()                  { l.gate.open() }

// outcome records how an operation ended.
func (l *Load) outcome(status int, err error, ok bool) {
	if ok {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if retryable(status, err) {
		l.unfinished++
	} else {
		l.refused++
	}
}

// placeOrders places an order every ordersEvery, retrying each with its idempotency key.
func (l *Load) placeOrders(ctx context.Context, a *account) {
	for n := 0; pause(ctx, l.ordersEvery); n++ {
		if !l.gate.enter(ctx) {
			return
		}
		key := newKey()
		body := fmt.Appendf(nil, `{"item_name":"chaos item %d","quantity":%d,"notes":"fault suite"}`, n, n%5+1)
		status, resp, err := l.persist(ctx, func() (int, []byte, error) {
			status, resp, err := l.c.call(ctx, nil, http.MethodPost, l.sys.URL("order")+"/orders", body, http.Header{
				"Content-Type": {"application/json"}, "Idempotency-Key": {key}, "Authorization": {"Bearer " + a.token.Load().(string)}})
			if status == http.StatusUnauthorized { // the token went with Valkey's data: log in again
				if tok, lerr := l.login(ctx, a.name, a.password); lerr == nil {
					a.token.Store(tok)
					return http.StatusServiceUnavailable, resp, nil
				}
			}
			return status, resp, err
		})
		var out struct {
			OrderID string `json:"order_id"`
		}
		ok := (status == http.StatusCreated || status == http.StatusOK) && json.Unmarshal(resp, &out) == nil && out.OrderID != ""
		if ok {
			l.mu.Lock()
			l.orders[out.OrderID] = a.id
			l.mu.Unlock()
		}
		l.outcome(status, err, ok)
		l.gate.leave()
	}
}

// decide has the admin approve or reject pending orders of the load's users, retrying a
// decision as it was first sent.
func (l *Load) decide(ctx context.Context) {
	admin := http.Header{"Authorization": {"Bearer " + l.admin}}
	for pause(ctx, 200*time.Millisecond) {
		if !l.gate.enter(ctx) {
			return
		}
		status, resp, _ := l.c.call(ctx, nil, http.MethodGet, l.sys.URL("order")+"/orders?status=pending&limit=20", nil, admin)
		var list struct {
			Orders []struct {
				ID string `json:"id"`
			} `json:"orders"`
		}
		if status == http.StatusOK && json.Unmarshal(resp, &list) == nil {
			for i, o := range list.Orders {
				if i%2 == 1 { // leave some pending
					continue
				}
				decision := "approved"
				if o.ID[0]%2 == 1 {
					decision = "rejected"
				}
				l.decideOne(ctx, o.ID, decision)
			}
		}
		l.gate.leave()
	}
}

func (l *Load) decideOne(ctx context.Context, id, decision string) {
	body := fmt.Appendf(nil, `{"status":%q}`, decision)
	h := http.Header{"Content-Type": {"application/json"}, "Authorization": {"Bearer " + l.admin}}
	status, _, err := l.persist(ctx, func() (int, []byte, error) {
		return l.c.call(ctx, nil, http.MethodPatch, l.sys.URL("order")+"/orders/"+id, body, h)
	})
	ok := status == http.StatusOK
	if ok {
		l.mu.Lock()
		l.decisions[id] = decision
		l.mu.Unlock()
	}
	l.outcome(status, err, ok)
}

// registrations registers a new user every second.
func (l *Load) registrations(ctx context.Context) {
	stamp := newKey()[:6]
	for n := 0; pause(ctx, time.Second); n++ {
		if !l.gate.enter(ctx) {
			return
		}
		name := fmt.Sprintf("cn_%s_%d", stamp, n)
		_, status, err := l.register(ctx, name, "chaos password")
		if err == nil {
			l.mu.Lock()
			l.registered = append(l.registered, name)
			l.mu.Unlock()
		} else if status != 0 {
			err = nil // answered: retryable or not by its status
		}
		l.outcome(status, err, status == http.StatusCreated)
		l.gate.leave()
	}
}

// Snapshot is what the clients were told, so far.
type Snapshot struct {
	Orders     map[string]string // order id → owner id
	Decisions  map[string]string // order id → status
	Registered []string
	Refused    int
	Unfinished int
	Hung       int64
	Worst      time.Duration
}

// Snapshot copies what was acknowledged.
func (l *Load) Snapshot() Snapshot {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := Snapshot{Orders: map[string]string{}, Decisions: map[string]string{}, Registered: append([]string{}, l.registered...),
		Refused: l.refused, Unfinished: l.unfinished, Hung: l.c.hung.Load(), Worst: time.Duration(l.c.worst.Load())}
	for k, v := range l.orders {
		s.Orders[k] = v
	}
	for k, v := range l.decisions {
		s.Decisions[k] = v
	}
	return s
}

// watcher is a browser keeping the user's "My orders" page open: it follows /events,
// reconnecting with Last-Event-ID as a browser does, and notes every update it was sent.
type watcher struct {
	l    *Load
	a    *account
	mu   sync.Mutex
	last string          // the last event id
	seen map[string]bool // "created:<order id>", "approved:<order id>", "rejected:<order id>"
}

var (
	orderRow    = regexp.MustCompile(`id="order-([0-9a-f-]{36})"`)
	orderStatus = regexp.MustCompile(`status-(approved|rejected)`)
)

func (w *watcher) run(ctx context.Context) {
	for ctx.Err() == nil {
		err := w.follow(ctx)
		if errors.Is(err, errSignedOut) {
			if b, lerr := w.l.webLogin(ctx, w.a.name, w.a.password); lerr == nil {
				w.a.browser = b
			}
		}
		pause(ctx, 200*time.Millisecond)
	}
}

var errSignedOut = errors.New("signed out")

// follow reads one connection of the event stream until it ends.
func (w *watcher) follow(ctx context.Context) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, w.l.sys.URL("gateway")+"/events?after=0", nil)
	if err != nil {
		return err
	}
	w.mu.Lock()
	if w.last != "" {
		req.Header.Set("Last-Event-ID", w.last)
	}
	w.mu.Unlock()
	stream := *w.a.browser
	stream.Timeout = 0 // the stream lasts; the time to its first answer is measured instead
	start := time.Now()
	resp, err := stream.Do(req)
	w.l.c.timed(start)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusSeeOther || resp.StatusCode == http.StatusUnauthorized {
		return errSignedOut
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("event stream: %s", resp.Status)
	}
	return w.read(resp.Body)
}

// read parses the stream: an event's fields until a blank line.
func (w *watcher) read(r io.Reader) error {
	lines := bufio.NewReader(r)
	var id, name string
	var data strings.Builder
	for {
		line, err := lines.ReadString('\n')
		if err != nil {
			return err // a partial last line is not an event
		}
		switch line = strings.TrimSuffix(line, "\n"); {
		case line == "":
			if name == "session-ended" {
				return errSignedOut
			}
			w.note(id, name, data.String())
			id, name = "", ""
			data.Reset()
		case strings.HasPrefix(line, "id: "):
			id = line[4:]
		case strings.HasPrefix(line, "event: "):
			name = line[7:]
		case strings.HasPrefix(line, "data: "):
			data.WriteString(line[6:])
		}
	}
}

func (w *watcher) note(id, name, data string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if id != "" {
		w.last = id
	}
	switch {
	case name == "order-created":
		if m := orderRow.FindStringSubmatch(data); m != nil {
			w.seen["created:"+m[1]] = true
		}
	case strings.HasPrefix(name, "order-"):
		if m := orderStatus.FindStringSubmatch(data); m != nil {
			w.seen[m[1]+":"+strings.TrimPrefix(name, "order-")] = true
		}
	}
}

func (w *watcher) saw(key string) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.seen[key]
}
