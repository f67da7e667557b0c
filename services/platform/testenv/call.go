package testenv

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// Response is an HTTP answer as tests look at it: the body decoded as a JSON object when it
// is one, and raw.
type Response struct {
	Status int
	Header http.Header
	Body   map[string]any
	Raw    string
}

// Call sends one request and reads the whole answer. headers are name, value pairs; a body
// gets Content-Type application/json unless headers set one.
func Call(t testing.TB, method, url, body string, headers ...string) Response {
	t.Helper()
	r, _ := call(t, t.Context(), method, url, body, headers...)
	return r
}

// CallWithin is Call with a client that gives up after limit and fails the test, so that a
// request that hangs fails it instead of stalling it. It also returns how long the answer
// took.
func CallWithin(t testing.TB, limit time.Duration, method, url, body string, headers ...string) (Response, time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), limit)
	defer cancel()
	return call(t, ctx, method, url, body, headers...)
}

func call(t testing.TB, ctx context.Context, method, url, body string, headers ...string) (Response, time.Duration) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	start := time.Now()
	resp, err := http.DefaultClient.Do(req)
	elapsed := time.Since(start)
	if err != nil {
		t.Fatalf("%s %s: no answer after %s: %v", method, url, elapsed.Round(time.Millisecond), err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: read body: %v", method, url, err)
	}
	r := Response{Status: resp.StatusCode, Header: resp.Header, Raw: string(b)}
	_ = json.Unmarshal(b, &r.Body)
	return r, elapsed
}
