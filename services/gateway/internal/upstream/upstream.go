// Package upstream is the gateway's client of the auth, order and audit services: it sends
// the request id and the bearer token along, bounds each call with a timeout, and turns
// their problem details into errors the pages can show. A service that does not answer in
// time, or answers that it cannot serve now (502, 503, 504), is a *problem.UnavailableError
// naming it.
package upstream

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/caasdemo/orderdemo/services/platform/problem"
)

// Problem is an answer of another service that is not a success.
type Problem struct {
	Status     int
	Detail     string
	Fields     map[string]string // field name → rule, for validation errors
	RetryAfter time.Duration
}

func (p *Problem) Error() string { return fmt.Sprintf("%d: %s", p.Status, p.Detail) }

// Client calls one service. HTTP's Timeout is the deadline of each call.
type Client struct {
	Name string // the service ("auth", "order", "audit"): the dependency its failures name
	Base string
	HTTP *http.Client
}

func (c Client) unavailable(err error) error { return problem.Unavailable(c.Name, err) }

// do sends a request and decodes a 2xx JSON answer into out; any other answer is a *Problem
// unless the service cannot serve now, and a transport failure or timeout is a
// *problem.UnavailableError.
func (c Client) do(ctx context.Context, method, path, token, contentType string, body io.Reader, header http.Header, out any) error {
	req, err := http.NewRequestWithContext(ctx, method, c.Base+path, body)
	if err != nil {
		return err
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := c.HTTP.Do(req)
	if err != nil && ctx.Err() != nil {
		return err // the caller gave up: that says nothing about the service
	}
	if err != nil {
		return c.unavailable(fmt.Errorf("%s %s: %w", method, path, err))
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return c.unavailable(fmt.Errorf("%s %s: %w", method, path, err))
	}
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		if out == nil {
			return nil
		}
		return json.Unmarshal(raw, out)
	}
	if unavailableStatus(resp.StatusCode) {
		return c.unavailable(fmt.Errorf("%s %s: %s", method, path, resp.Status))
	}
	return refusal(resp, raw)
}

// refusal is the *Problem of a service's answer that is neither a success nor "cannot serve
// now": its status, the detail and field errors of its problem body, and its Retry-After
// (in seconds, as the services send it), so a rate limit reaches the browser with its wait.
func refusal(resp *http.Response, body []byte) *Problem {
	var pd struct {
		Detail string `json:"detail"`
		Errors []struct {
			Field string `json:"field"`
			Rule  string `json:"rule"`
		} `json:"errors"`
	}
	_ = json.Unmarshal(body, &pd)
	p := &Problem{Status: resp.StatusCode, Detail: pd.Detail, Fields: map[string]string{}}
	for _, f := range pd.Errors {
		p.Fields[f.Field] = f.Rule
	}
	if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && s > 0 {
		p.RetryAfter = time.Duration(s) * time.Second
	}
	return p
}

// unavailableStatus: the service (or a proxy in front of it) cannot serve now.
func unavailableStatus(code int) bool {
	return code == http.StatusBadGateway || code == http.StatusServiceUnavailable || code == http.StatusGatewayTimeout
}

func jsonBody(v any) io.Reader {
	b, _ := json.Marshal(v)
	return bytes.NewReader(b)
}

// Auth is the auth service.
type Auth struct{ Client }

// Tokens is the auth service's token answer.
type Tokens struct {
	AccessToken  string `json:"access_token"`
	ExpiresIn    int    `json:"expires_in"`
	RefreshToken string `json:"refresh_token"`
}

// Identity is the verified bearer of a token.
type Identity struct {
	UserID   string `json:"user_id"`
	Username string `json:"username"`
	IsAdmin  bool   `json:"is_admin"`
}

// The calls to auth's public endpoints pass the browser's address (clientAddr) as
// X-Forwarded-For, so auth's per-client limits count browsers, not the gateway.

// Register creates an account.
func (a Auth) Register(ctx context.Context, username, password, clientAddr string) error {
	return a.do(ctx, http.MethodPost, "/auth/register", "", "application/json",
		jsonBody(map[string]string{"username": username, "password": password}), forwardedFor(clientAddr), nil)
}

// Login exchanges a password for tokens.
func (a Auth) Login(ctx context.Context, username, password, clientAddr string) (Tokens, error) {
	var t Tokens
	form := url.Values{"grant_type": {"password"}, "username": {username}, "password": {password}}
	err := a.do(ctx, http.MethodPost, "/auth/token", "", "application/x-www-form-urlencoded",
		strings.NewReader(form.Encode()), forwardedFor(clientAddr), &t)
	return t, err
}

// Refresh renews the tokens.
func (a Auth) Refresh(ctx context.Context, refreshToken, clientAddr string) (Tokens, error) {
	var t Tokens
	form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refreshToken}}
	err := a.do(ctx, http.MethodPost, "/auth/token", "", "application/x-www-form-urlencoded",
		strings.NewReader(form.Encode()), forwardedFor(clientAddr), &t)
	return t, err
}

func forwardedFor(clientAddr string) http.Header {
	if clientAddr == "" {
		return nil
	}
	return http.Header{"X-Forwarded-For": {clientAddr}}
}

// Verify reads the identity behind a token.
func (a Auth) Verify(ctx context.Context, token string) (Identity, error) {
	var id Identity
	return id, a.do(ctx, http.MethodGet, "/auth/verify", token, "", nil, nil, &id)
}

// Logout revokes a token and its session.
func (a Auth) Logout(ctx context.Context, token string) error {
	return a.do(ctx, http.MethodPost, "/auth/logout", token, "", nil, nil, nil)
}

// Orders is the order service.
type Orders struct{ Client }

// Order is an order as the order service shows it.
type Order struct {
	ID        string     `json:"id"`
	UserID    string     `json:"user_id"`
	Username  string     `json:"username"`
	ItemName  string     `json:"item_name"`
	Quantity  int        `json:"quantity"`
	Notes     string     `json:"notes"`
	Status    string     `json:"status"`
	CreatedAt time.Time  `json:"created_at"`
	DecidedBy *string    `json:"decided_by"`
	DecidedAt *time.Time `json:"decided_at"`
}

// Page is one page of orders.
type Page struct {
	Orders []Order `json:"orders"`
	Total  int     `json:"total"`
}

// Created is the answer to a new order.
type Created struct {
	OrderID   string    `json:"order_id"`
	Status    string    `json:"status"`
	CreatedAt time.Time `json:"created_at"`
}

// Create places an order. key is its Idempotency-Key (see ValidIdempotencyKey): sent again
// with the same order, it returns the order the first call placed instead of a second one,
// so a call whose answer was lost (a timeout, a 503) can be repeated; sent with another
// order, it is refused with 422.
func (o Orders) Create(ctx context.Context, token, key, item string, quantity int, notes string) (Created, error) {
	var c Created
	err := o.do(ctx, http.MethodPost, "/orders", token, "application/json",
		jsonBody(map[string]any{"item_name": item, "quantity": quantity, "notes": notes}),
		http.Header{"Idempotency-Key": {key}}, &c)
	return c, err
}

// ValidIdempotencyKey reports whether the order service takes key as an Idempotency-Key:
// 1–255 printable ASCII characters, no space (it refuses any other with 400).
func ValidIdempotencyKey(key string) bool {
	if len(key) == 0 || len(key) > 255 {
		return false
	}
	for i := range len(key) {
		if key[i] < 0x21 || key[i] > 0x7e {
			return false
		}
	}
	return true
}

// Mine lists the caller's orders.
func (o Orders) Mine(ctx context.Context, token, status string, limit, offset int) (Page, error) {
	q := url.Values{"limit": {strconv.Itoa(limit)}, "offset": {strconv.Itoa(offset)}}
	if status != "" {
		q.Set("status", status)
	}
	var p Page
	return p, o.do(ctx, http.MethodGet, "/orders/me?"+q.Encode(), token, "", nil, nil, &p)
}

// Get returns one order the caller may see.
func (o Orders) Get(ctx context.Context, token, id string) (Order, error) {
	var ord Order
	return ord, o.do(ctx, http.MethodGet, "/orders/"+url.PathEscape(id), token, "", nil, nil, &ord)
}
