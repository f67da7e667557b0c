// Command bench measures the whole system on this machine (`make bench`): it starts the
// system the way `make run` does, loads it from this separate process over loopback, and
// prints one table, also written as JSON so runs can be compared.
//
// It measures order creation (closed loop, against the raw insert+outbox transaction and raw
// JetStream publishes measured in the same run), order creation at a steady offered rate, a
// login storm against the bcrypt bound, the latency from an admin decision to the owner's
// browser over SSE, page timings through the gateway, the replay rate, the services'
// resident memory (the gateway's also with 1,000 event streams open) and their start-up
// times. BENCH_DURATION shortens the phases; BENCH_REPLAY_EVENTS the replay.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context) error {
	duration := 60 * time.Second
	if v := os.Getenv("BENCH_DURATION"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			return fmt.Errorf("BENCH_DURATION=%q: %w", v, err)
		}
		duration = d
	}
	sys, err := startSystem(ctx)
	if err != nil {
		return err
	}
	defer sys.stop()

	var rows []Row
	add := func(r ...Row) {
		rows = append(rows, r...)
		for _, x := range r {
			fmt.Fprintf(os.Stderr, "  %-48s %s\n", x.Figure, x.Value)
		}
	}
	fmt.Fprintln(os.Stderr, "bench: preparing 100 users")
	users, err := sys.users(ctx, 100)
	if err != nil {
		return err
	}
	raw, err := rawInsertRate(ctx, sys.adminDB, 100, duration/4)
	if err != nil {
		return err
	}
	add(Row{Figure: "raw insert+outbox transactions/s (100 conns)", Value: fmt.Sprintf("%.0f", raw.Rate), Measured: raw})
	pub, err := rawPublishRate(ctx, sys.natsURL, duration/4)
	if err != nil {
		return err
	}
	add(Row{Figure: "raw JetStream publishes/s", Value: fmt.Sprintf("%.0f", pub.Rate), Measured: pub})

	closed := closedLoop(ctx, sys, users, duration)
	add(Row{Figure: "order creation, closed loop 100 users (/s)", Value: fmt.Sprintf("%.0f (%.0f%% of raw)", closed.Rate, 100*closed.Rate/raw.Rate), Measured: closed},
		Row{Figure: "order creation p50 / p95 / p99", Value: closed.percentiles()})
	steady := openLoop(ctx, sys, users, 500, duration)
	add(Row{Figure: "order creation at 500/s: p50 / p99, errors", Value: fmt.Sprintf("%s, %d errors", steady.p50p99(), steady.Errors), Measured: steady})

	bound, storm, during, err := loginStorm(ctx, sys, users, duration/2)
	if err != nil {
		return err
	}
	add(Row{Figure: "bcrypt bound (cores / one cost-12 hash), logins/s", Value: fmt.Sprintf("%.1f", bound)},
		Row{Figure: "login storm, logins/s", Value: fmt.Sprintf("%.1f (%.0f%% of bound)", storm.Rate, 100*storm.Rate/bound), Measured: storm},
		Row{Figure: "order p99 during the storm", Value: ms(during.P99), Measured: during})

	fmt.Fprintln(os.Stderr, "bench: signing 100 browsers in")
	sessions := make([]*browserSession, len(users))
	for i, u := range users {
		if sessions[i], err = sys.webLogin(ctx, u.name, "bench password"); err != nil {
			return err
		}
	}
	live, lost, wrong, err := liveLatency(ctx, sys, users, sessions, 10)
	if err != nil {
		return err
	}
	add(Row{Figure: "admin decision → owner's SSE event: p50 / p99", Value: live.p50p99(), Measured: live},
		Row{Figure: "live updates lost / misdelivered (of 1,000)", Value: fmt.Sprintf("%d / %d", lost, wrong)})
	mine := pages(ctx, sys, sessions, "/orders", duration/2)
	add(Row{Figure: "my-orders page (10 rows), 100 sessions: p50 / p95", Value: ms(mine.P50) + " / " + ms(mine.P95), Measured: mine})
	adminSession, err := sys.webLogin(ctx, sys.admin[0], sys.admin[1])
	if err != nil {
		return err
	}
	admins := make([]*browserSession, 100)
	for i := range admins {
		admins[i] = adminSession
	}
	dash := pages(ctx, sys, admins, "/admin", duration/2)
	add(Row{Figure: "admin dashboard, 100 concurrent: p50 / p95", Value: ms(dash.P50) + " / " + ms(dash.P95), Measured: dash})
	add(Row{Figure: "gateway resident memory, 1,000 SSE clients", Value: fmt.Sprintf("%.1f MB", manyStreams(ctx, sys, sessions, 1000))})

	replayEvents := 100_000
	if v := os.Getenv("BENCH_REPLAY_EVENTS"); v != "" {
		if replayEvents, err = strconv.Atoi(v); err != nil {
			return fmt.Errorf("BENCH_REPLAY_EVENTS=%q: %w", v, err)
		}
	}
	rate, err := replayRate(ctx, sys, replayEvents)
	if err != nil {
		return err
	}
	add(Row{Figure: fmt.Sprintf("replay, events/s (%d events)", replayEvents), Value: fmt.Sprintf("%.0f", rate)})
	for _, name := range []string{"auth", "order", "audit", "gateway"} {
		add(Row{Figure: name + " resident memory after the load", Value: fmt.Sprintf("%.1f MB", rssMB(sys.pid(name)))})
	}

	starts, err := startupTimes(ctx, sys)
	if err != nil {
		return err
	}
	for _, name := range []string{"auth", "order", "audit", "gateway"} {
		add(Row{Figure: name + ": process start → /ready 200", Value: ms(starts[name])})
	}

	printTable(rows)
	out := filepath.Join(sys.dataDir, "..", "bench-results.json")
	if v := os.Getenv("BENCH_OUT"); v != "" {
		out = v
	}
	b, _ := json.MarshalIndent(map[string]any{"at": time.Now().UTC(), "duration": duration.String(), "rows": rows}, "", "  ")
	if err := os.WriteFile(out, b, 0o644); err != nil {
		return err
	}
	fmt.Println("results written to", out)
	return nil
}

// Row is one line of the table.
type Row struct {
	Figure   string  `json:"figure"`
	Value    string  `json:"value"`
	Measured *Result `json:"measured,omitempty"`
}

func printTable(rows []Row) {
	fmt.Println()
	fmt.Println("| figure | measured |")
	fmt.Println("| --- | --- |")
	for _, r := range rows {
		fmt.Printf("| %s | %s |\n", r.Figure, r.Value)
	}
	fmt.Println()
}

// rssMB reads a process's resident memory.
func rssMB(pid int) float64 {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, _ := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")))
			return float64(kb) / 1024
		}
	}
	return 0
}
