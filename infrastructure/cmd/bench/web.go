package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"
)

var csrfField = regexp.MustCompile(`name="csrf_token" value="([^"]+)"`)

// browserSession is a signed-in gateway session, as a browser holds it.
type browserSession struct {
	client *http.Client
}

// webLogin signs in through the gateway's login form.
func (s *system) webLogin(ctx context.Context, name, password string) (*browserSession, error) {
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, Transport: &http.Transport{MaxIdleConnsPerHost: 100},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for {
		resp, err := c.Get(s.url("gateway", "/login"))
		if err != nil {
			return nil, err
		}
		page, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		m := csrfField.FindSubmatch(page)
		if m == nil {
			return nil, fmt.Errorf("no CSRF token on the login page")
		}
		resp, err = c.PostForm(s.url("gateway", "/login"), url.Values{"csrf_token": {string(m[1])}, "username": {name}, "password": {password}})
		if err != nil {
			return nil, err
		}
		resp.Body.Close()
		switch resp.StatusCode {
		case http.StatusSeeOther:
			return &browserSession{client: c}, nil
		case http.StatusServiceUnavailable:
			select {
			case <-ctx.Done():
				return nil, ctx.Err()
			case <-time.After(100 * time.Millisecond):
			}
		default:
			return nil, fmt.Errorf("web login %s: %s", name, resp.Status)
		}
	}
}

// arrival is an SSE event a browser received.
type arrival struct {
	user  int
	event string
	at    time.Time
}

// listen opens the session's event stream and reports every named event until ctx ends.
func (s *system) listen(ctx context.Context, b *browserSession, user int, out chan<- arrival, ready *sync.WaitGroup) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.url("gateway", "/events"), nil)
	client := *b.client
	client.Transport = &http.Transport{}
	resp, err := client.Do(req)
	ready.Done()
	if err != nil {
		return
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if name, ok := strings.CutPrefix(sc.Text(), "event: "); ok {
			out <- arrival{user: user, event: name, at: time.Now()}
		}
	}
}

// liveLatency opens an event stream for each user, has the admin decide perUser orders of
// each, and measures from the decision's response to the owner's event.
func liveLatency(ctx context.Context, s *system, users []user, sessions []*browserSession, perUser int) (*Result, int, int, error) {
	owner := map[string]int{}
	for i, u := range users {
		for range perUser {
			id, err := s.placeOrder(u)
			if err != nil {
				return nil, 0, 0, err
			}
			owner[id] = i
		}
	}
	lctx, cancel := context.WithCancel(ctx)
	defer cancel()
	arrivals := make(chan arrival, 10000)
	var ready sync.WaitGroup
	for i, b := range sessions {
		ready.Add(1)
		go s.listen(lctx, b, i, arrivals, &ready)
	}
	ready.Wait()
	time.Sleep(500 * time.Millisecond)

	adminToken, err := s.login(ctx, s.admin[0], s.admin[1])
	if err != nil {
		return nil, 0, 0, err
	}
	decided := map[string]time.Time{}
	var mu sync.Mutex
	ids := make([]string, 0, len(owner))
	for id := range owner {
		ids = append(ids, id)
	}
	sem := make(chan struct{}, 4)
	var wg sync.WaitGroup
	for _, id := range ids {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			req, _ := http.NewRequest(http.MethodPatch, s.url("order", "/orders/"+id), strings.NewReader(`{"status":"approved"}`))
			req.Header.Set("Authorization", "Bearer "+adminToken)
			req.Header.Set("Content-Type", "application/json")
			resp, err := s.client.Do(req)
			if err != nil {
				return
			}
			resp.Body.Close()
			mu.Lock()
			decided[id] = time.Now()
			mu.Unlock()
		})
	}
	wg.Wait()

	var rec recorder
	seen := map[string]bool{}
	misdelivered := 0
	timeout := time.After(15 * time.Second)
	for len(seen) < len(ids) {
		select {
		case a := <-arrivals:
			id, ok := strings.CutPrefix(a.event, "order-")
			if !ok || id == "created" {
				continue
			}
			o, known := owner[id]
			if !known || o != a.user {
				misdelivered++
				continue
			}
			if !seen[id] {
				seen[id] = true
				mu.Lock()
				rec.ok(a.at.Sub(decided[id]))
				mu.Unlock()
			}
		case <-timeout:
			return rec.result(time.Second), len(ids) - len(seen), misdelivered, nil
		}
	}
	return rec.result(time.Second), 0, misdelivered, nil
}

// placeOrder places an order and returns its id.
func (s *system) placeOrder(u user) (string, error) {
	req, _ := http.NewRequest(http.MethodPost, s.url("order", "/orders"), strings.NewReader(`{"item_name":"bench","quantity":1}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+u.token)
	resp, err := s.client.Do(req)
	if err != nil {
		return "", err
	}
	var body struct {
		OrderID string `json:"order_id"`
	}
	if err := decodeJSON(resp, &body); err != nil {
		return "", err
	}
	return body.OrderID, nil
}

// pages has every session view path for d. With a period, each session asks once per period
// (at its own offset within it), as people reading their pages would, and latency counts
// from when the view was due; with 0, every session asks back to back (saturation).
func pages(ctx context.Context, s *system, sessions []*browserSession, path string, period, d time.Duration) *Result {
	view := func(i int) error {
		resp, err := sessions[i].client.Get(s.url("gateway", path))
		if err != nil {
			return err
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("%s", resp.Status)
		}
		return nil
	}
	if period == 0 {
		return closed(ctx, len(sessions), d, view)
	}
	var rec recorder
	start := time.Now()
	var wg sync.WaitGroup
	for i := range sessions {
		wg.Go(func() {
			offset := period * time.Duration(i) / time.Duration(len(sessions))
			for due := start.Add(offset); due.Before(start.Add(d)); due = due.Add(period) {
				select {
				case <-ctx.Done():
					return
				case <-time.After(time.Until(due)):
				}
				if err := view(i); err != nil {
					rec.errors.Add(1)
					continue
				}
				rec.ok(time.Since(due))
			}
		})
	}
	wg.Wait()
	return rec.result(time.Since(start))
}

// manyStreams opens n event streams spread over the sessions and returns the gateway's
// resident memory with them open.
func manyStreams(ctx context.Context, s *system, sessions []*browserSession, n int) float64 {
	lctx, cancel := context.WithCancel(ctx)
	defer cancel()
	sink := make(chan arrival, 1000)
	go func() {
		for range sink {
		}
	}()
	var ready sync.WaitGroup
	for i := range n {
		ready.Add(1)
		go s.listen(lctx, sessions[i%len(sessions)], i, sink, &ready)
	}
	ready.Wait()
	time.Sleep(time.Second)
	rss := rssMB(s.pid("gateway"))
	s.heapProfile(ctx, "streams", "gateway")
	return rss
}

// startupTimes starts one more instance of each service next to the running ones, five
// times each, and gives the median time from process start to its first 200 on /ready.
func startupTimes(ctx context.Context, s *system) (map[string]time.Duration, error) {
	out := map[string]time.Duration{}
	for _, name := range serviceNames {
		env, err := s.stack.ServiceEnv(name)
		if err != nil {
			return nil, err
		}
		var times []time.Duration
		for range 5 {
			d, err := startOnce(ctx, filepath.Join(s.dataDir, "bin", name), env)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", name, err)
			}
			times = append(times, d)
		}
		slices.Sort(times)
		out[name] = times[len(times)/2]
	}
	return out, nil
}

// startOnce starts the binary on a free port, waits for its first 200 on /ready and stops it.
func startOnce(ctx context.Context, bin string, env []string) (time.Duration, error) {
	port := freePort()
	// The running instance has the profiling and metrics ports.
	env = append(env, fmt.Sprintf("HTTP_ADDR=127.0.0.1:%d", port), "DEBUG_ADDR=", "METRICS_ADDR=")
	cmd := exec.CommandContext(ctx, bin)
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = io.Discard, os.Stderr
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return 0, err
	}
	defer func() {
		_ = cmd.Process.Signal(os.Interrupt)
		_ = cmd.Wait()
	}()
	ready := fmt.Sprintf("http://127.0.0.1:%d/ready", port)
	for time.Since(start) < 30*time.Second {
		resp, err := http.Get(ready)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return time.Since(start), nil
			}
		}
		time.Sleep(2 * time.Millisecond)
	}
	return 0, fmt.Errorf("not ready after 30 s")
}
