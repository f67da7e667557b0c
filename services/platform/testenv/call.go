package testenv

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
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
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(t.Context(), method, url, rd)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: read body: %v", method, url, err)
	}
	r := Response{Status: resp.StatusCode, Header: resp.Header, Raw: string(b)}
	_ = json.Unmarshal(b, &r.Body)
	return r
}
