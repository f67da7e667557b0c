package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"golang.org/x/crypto/bcrypt"
)

// Result is a measured load: how many calls, how many failed, the rate and latencies.
type Result struct {
	Count  int64         `json:"count"`
	Errors int64         `json:"errors"`
	Rate   float64       `json:"per_second"`
	P50    time.Duration `json:"p50_ns"`
	P95    time.Duration `json:"p95_ns"`
	P99    time.Duration `json:"p99_ns"`
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d.Microseconds())/1000) }

func (r *Result) percentiles() string { return ms(r.P50) + " / " + ms(r.P95) + " / " + ms(r.P99) }
func (r *Result) p50p99() string      { return ms(r.P50) + " / " + ms(r.P99) }

// recorder collects latencies from many goroutines.
type recorder struct {
	mu     sync.Mutex
	lat    []time.Duration
	errors atomic.Int64
}

func (r *recorder) ok(d time.Duration) { r.mu.Lock(); r.lat = append(r.lat, d); r.mu.Unlock() }

func (r *recorder) result(elapsed time.Duration) *Result {
	r.mu.Lock()
	defer r.mu.Unlock()
	slices.Sort(r.lat)
	res := &Result{Count: int64(len(r.lat)), Errors: r.errors.Load(), Rate: float64(len(r.lat)) / elapsed.Seconds()}
	if n := len(r.lat); n > 0 {
		res.P50, res.P95, res.P99 = r.lat[n/2], r.lat[n*95/100], r.lat[n*99/100]
	}
	return res
}

func decodeJSON(resp *http.Response, v any) error {
	defer resp.Body.Close()
	return json.NewDecoder(resp.Body).Decode(v)
}

// createOrder places one order as u.
func (s *system) createOrder(u user) error {
	req, _ := http.NewRequest(http.MethodPost, s.url("order", "/orders"), strings.NewReader(`{"item_name":"bench item","quantity":1,"notes":""}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+u.token)
	resp, err := s.client.Do(req)
	if err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		return fmt.Errorf("%s", resp.Status)
	}
	return nil
}

// closed runs workers that each call call back to back for d, and measures the calls.
func closed(ctx context.Context, workers int, d time.Duration, call func(worker int) error) *Result {
	var rec recorder
	deadline := time.Now().Add(d)
	start := time.Now()
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for time.Now().Before(deadline) && ctx.Err() == nil {
				t := time.Now()
				if err := call(w); err != nil {
					rec.errors.Add(1)
					continue
				}
				rec.ok(time.Since(t))
			}
		})
	}
	wg.Wait()
	return rec.result(time.Since(start))
}

// closedLoop has every user create orders back to back for d.
func closedLoop(ctx context.Context, s *system, users []user, d time.Duration) *Result {
	return closed(ctx, len(users), d, func(i int) error { return s.createOrder(users[i]) })
}

// openLoop offers rate orders per second for d, whatever the answers' pace; latency counts
// from when each request was due, so a stall is not hidden.
func openLoop(ctx context.Context, s *system, users []user, rate int, d time.Duration) *Result {
	var rec recorder
	interval := time.Second / time.Duration(rate)
	n := int(d / interval)
	start := time.Now()
	var wg sync.WaitGroup
	for i := range n {
		due := start.Add(time.Duration(i) * interval)
		if wait := time.Until(due); wait > 0 {
			select {
			case <-ctx.Done():
				return rec.result(time.Since(start))
			case <-time.After(wait):
			}
		}
		wg.Go(func() {
			if err := s.createOrder(users[i%len(users)]); err != nil {
				rec.errors.Add(1)
				return
			}
			rec.ok(time.Since(due))
		})
	}
	wg.Wait()
	return rec.result(time.Since(start))
}

// rawInsertRate is the reference: a bare transaction inserting one order-like row and one
// outbox row, from conns connections, for d.
func rawInsertRate(ctx context.Context, adminURL string, conns int, d time.Duration) (*Result, error) {
	name := "bench_raw_" + fmt.Sprint(time.Now().Unix())
	admin, err := pgx.Connect(ctx, adminURL)
	if err != nil {
		return nil, err
	}
	defer admin.Close(ctx)
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		return nil, err
	}
	defer admin.Exec(context.Background(), "DROP DATABASE "+name+" WITH (FORCE)") //nolint:errcheck
	cfg, err := pgxpool.ParseConfig(strings.Replace(adminURL, "/postgres?", "/"+name+"?", 1))
	if err != nil {
		return nil, err
	}
	// The clients are conns goroutines; the connections fewer: the server's max_connections
	// (100 by default) also serves the running services' pools.
	cfg.MaxConns = int32(min(conns, 50))
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, err
	}
	defer pool.Close()
	if _, err := pool.Exec(ctx, `CREATE TABLE orders (id uuid PRIMARY KEY, user_id uuid NOT NULL, item text NOT NULL, created_at timestamptz NOT NULL DEFAULT now());
		CREATE INDEX ON orders (user_id, created_at DESC);
		CREATE TABLE outbox (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, event_id uuid NOT NULL UNIQUE, envelope bytea NOT NULL, published_at timestamptz);
		CREATE INDEX ON outbox (id) WHERE published_at IS NULL`); err != nil {
		return nil, err
	}
	return closed(ctx, conns, d, func(int) error {
		return pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, `INSERT INTO orders (id, user_id, item) VALUES (gen_random_uuid(), gen_random_uuid(), 'x')`); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, `INSERT INTO outbox (event_id, envelope) VALUES (gen_random_uuid(), '\x7b7d')`)
			return err
		})
	}), nil
}

// rawPublishRate publishes to a scratch file stream (synchronously, 16 publishers) for d.
func rawPublishRate(ctx context.Context, natsURL string, d time.Duration) (*Result, error) {
	nc, err := nats.Connect(natsURL)
	if err != nil {
		return nil, err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, err
	}
	if _, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{Name: "BENCH", Subjects: []string{"bench.>"}, Storage: jetstream.FileStorage}); err != nil {
		return nil, err
	}
	defer js.DeleteStream(context.Background(), "BENCH") //nolint:errcheck
	payload := []byte(strings.Repeat("x", 600))
	return closed(ctx, 16, d, func(int) error {
		_, err := js.Publish(ctx, "bench.x", payload)
		return err
	}), nil
}

// bcryptBound is the most logins per second this machine's cores can check: cores ÷ the
// time of one cost-12 hash, the median of five taken one after the other.
func bcryptBound() float64 {
	var times []time.Duration
	for range 5 {
		t := time.Now()
		_, _ = bcrypt.GenerateFromPassword([]byte("bench password"), 12)
		times = append(times, time.Since(t))
	}
	slices.Sort(times)
	return float64(runtime.NumCPU()) / times[2].Seconds()
}

// stormOrderRate is the order traffic kept up during the login storm: steady, as real users'
// would be, rather than a second saturating load fighting the storm for the CPU.
const stormOrderRate = 100

// loginStorm logs in from many clients at once for d while orders keep arriving at
// stormOrderRate per second.
func loginStorm(ctx context.Context, s *system, users []user, d time.Duration) (storm, orders *Result, err error) {
	done := make(chan *Result, 1)
	go func() { done <- openLoop(ctx, s, users, stormOrderRate, d) }()
	storm = closed(ctx, 4*runtime.NumCPU(), d, func(i int) error {
		u := users[i%len(users)]
		resp, err := s.client.PostForm(s.url("auth", "/auth/token"), map[string][]string{"username": {u.name}, "password": {"bench password"}})
		if err != nil {
			return err
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("%s", resp.Status) // 503 while the pool is full: refused fast, by design
		}
		return nil
	})
	return storm, <-done, nil
}

// replayRate tops the streams up to n events and times a full replay through the audit API.
func replayRate(ctx context.Context, s *system, n int) (float64, error) {
	token, err := s.login(ctx, s.admin[0], s.admin[1])
	if err != nil {
		return 0, err
	}
	nc, err := nats.Connect(s.natsURL)
	if err != nil {
		return 0, err
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	have := 0
	for _, name := range []string{"AUTH", "ORDERS"} {
		if st, err := js.Stream(ctx, name); err == nil {
			if info, err := st.Info(ctx); err == nil {
				have += int(info.State.Msgs)
			}
		}
	}
	if err := topUp(ctx, js, n-have); err != nil {
		return 0, err
	}
	defer s.profile(ctx, "replay", 5*time.Second)()
	req, _ := http.NewRequest(http.MethodPost, s.url("audit", "/audit/replay"), strings.NewReader(`{"projection":"all"}`))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := s.client.Do(req)
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		return 0, fmt.Errorf("start replay: %s", resp.Status)
	}
	for {
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
		req, _ := http.NewRequest(http.MethodGet, s.url("audit", "/audit/replay"), nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := s.client.Do(req)
		if err != nil {
			return 0, err
		}
		var p struct {
			State     string    `json:"state"`
			Done      int64     `json:"done"`
			StartedAt time.Time `json:"started_at"`
			Error     string    `json:"error"`
		}
		if err := decodeJSON(resp, &p); err != nil {
			return 0, err
		}
		switch p.State {
		case "done":
			return float64(p.Done) / time.Since(p.StartedAt).Seconds(), nil
		case "failed":
			return 0, fmt.Errorf("replay failed: %s", p.Error)
		}
	}
}

// seedOrders gives each user n orders, for the pages when the order phases do not run.
func (s *system) seedOrders(ctx context.Context, users []user, n int) error {
	var wg sync.WaitGroup
	errs := make(chan error, len(users))
	for _, u := range users {
		wg.Go(func() {
			for range n {
				if err := s.createOrder(u); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	return <-errs
}
