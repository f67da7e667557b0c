// Command bench measures the whole system on this machine (`make bench`): it starts the
// system the way `make run` does, loads it from this separate process over loopback, and
// prints one table, also written as JSON so runs can be compared.
//
// It measures order creation (closed loop, against the raw insert+outbox transaction and raw
// JetStream publishes measured in the same run), order creation at a steady offered rate, a
// login storm against the bcrypt bound, the latency from an admin decision to the owner's
// browser over SSE, page timings through the gateway, the replay rate, the services'
// resident memory (the gateway's also with 1,000 event streams open) and their start-up
// times. BENCH_DURATION shortens the phases; BENCH_REPLAY_EVENTS the replay; BENCH_PHASES
// picks phases (orders, logins, live, pages, memory, replay, startup); BENCH_PROFILE names a
// directory for CPU profiles of every service during each phase.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
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
	want, err := phases(os.Getenv("BENCH_PHASES"))
	if err != nil {
		return err
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
			fmt.Fprintf(os.Stderr, "  %-56s %s\n", x.Figure, x.Value)
		}
	}
	bound := bcryptBound() // on the idle system
	idle := map[string]float64{}
	for _, name := range serviceNames {
		idle[name] = rssMB(sys.pid(name))
	}
	fmt.Fprintln(os.Stderr, "bench: preparing 100 users")
	users, err := sys.users(ctx, 100)
	if err != nil {
		return err
	}
	if want["orders"] {
		raw, err := rawInsertRate(ctx, sys.adminDB, 100, duration/4)
		if err != nil {
			return err
		}
		add(Row{Figure: "raw insert+outbox transactions/s (100 clients, 50 conns)", Value: fmt.Sprintf("%.0f", raw.Rate), Measured: raw})
		pub, err := rawPublishRate(ctx, sys.natsURL, duration/4)
		if err != nil {
			return err
		}
		add(Row{Figure: "raw JetStream publishes/s", Value: fmt.Sprintf("%.0f", pub.Rate), Measured: pub})

		wait := sys.profile(ctx, "closed", duration)
		closed := closedLoop(ctx, sys, users, duration)
		wait()
		add(Row{Figure: "order creation, closed loop 100 users (/s)", Value: fmt.Sprintf("%.0f (%.0f%% of raw)", closed.Rate, 100*closed.Rate/raw.Rate), Measured: closed},
			Row{Figure: "order creation p50 / p95 / p99", Value: closed.percentiles()})
		wait = sys.profile(ctx, "steady", duration)
		steady := openLoop(ctx, sys, users, 500, duration)
		wait()
		add(Row{Figure: "order creation at 500/s: p50 / p99, errors", Value: fmt.Sprintf("%s, %d errors", steady.p50p99(), steady.Errors), Measured: steady})
	} else if err := sys.seedOrders(ctx, users, 25); err != nil { // the pages need orders to show
		return err
	}

	if want["logins"] {
		wait := sys.profile(ctx, "storm", duration/2)
		storm, during, err := loginStorm(ctx, sys, users, duration/2)
		wait()
		if err != nil {
			return err
		}
		add(Row{Figure: "bcrypt bound (cores / one cost-12 hash, idle), logins/s", Value: fmt.Sprintf("%.1f", bound)},
			Row{Figure: "login storm, logins/s", Value: fmt.Sprintf("%.1f (%.0f%% of bound)", storm.Rate, 100*storm.Rate/bound), Measured: storm},
			Row{Figure: "order p99 during the storm (100 orders/s)", Value: ms(during.P99), Measured: during})
	}

	var sessions []*browserSession
	if want["live"] || want["pages"] || want["memory"] {
		fmt.Fprintln(os.Stderr, "bench: signing 100 browsers in")
		for _, u := range users {
			b, err := sys.webLogin(ctx, u.name, "bench password")
			if err != nil {
				return err
			}
			sessions = append(sessions, b)
		}
	}
	if want["live"] {
		wait := sys.profile(ctx, "live", 10*time.Second)
		live, lost, wrong, err := liveLatency(ctx, sys, users, sessions, 10)
		wait()
		if err != nil {
			return err
		}
		add(Row{Figure: "admin decision → owner's SSE event: p50 / p99", Value: live.p50p99(), Measured: live},
			Row{Figure: "live updates lost / misdelivered (of 1,000)", Value: fmt.Sprintf("%d / %d", lost, wrong)})
	}
	if want["pages"] {
		adminSession, err := sys.webLogin(ctx, sys.admin[0], sys.admin[1])
		if err != nil {
			return err
		}
		admins := make([]*browserSession, len(sessions))
		for i := range admins {
			admins[i] = adminSession
		}
		for _, page := range []struct{ name, path string }{{"my-orders page (20 rows)", "/orders"}, {"admin dashboard", "/admin"}} {
			list := sessions
			if page.path == "/admin" {
				list = admins
			}
			wait := sys.profile(ctx, "pages"+strings.ReplaceAll(page.path, "/", "-"), duration/2)
			paced := pages(ctx, sys, list, page.path, time.Second, duration/2)
			wait()
			busy := pages(ctx, sys, list, page.path, 0, duration/4)
			add(Row{Figure: page.name + ", 100 sessions, one view/s each: p50 / p95", Value: ms(paced.P50) + " / " + ms(paced.P95), Measured: paced},
				Row{Figure: page.name + ", 100 sessions back to back: views/s, p50 / p95", Value: fmt.Sprintf("%.0f/s, %s / %s", busy.Rate, ms(busy.P50), ms(busy.P95)), Measured: busy})
		}
	}
	if want["memory"] {
		add(Row{Figure: "gateway resident memory, 1,000 SSE clients", Value: fmt.Sprintf("%.1f MB", manyStreams(ctx, sys, sessions, 1000))})
	}
	if want["replay"] {
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
	}
	if want["memory"] {
		for _, name := range serviceNames {
			sys.heapProfile(ctx, "end", name)
			add(Row{Figure: name + " resident memory idle / after the load", Value: fmt.Sprintf("%.1f / %.1f MB", idle[name], rssMB(sys.pid(name)))})
		}
	}
	if want["startup"] {
		starts, err := startupTimes(ctx, sys)
		if err != nil {
			return err
		}
		for _, name := range serviceNames {
			add(Row{Figure: name + ": process start → /ready 200 (median of 5)", Value: ms(starts[name])})
		}
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

var serviceNames = []string{"auth", "order", "audit", "gateway"}

// allPhases are the parts of the bench BENCH_PHASES can pick from.
var allPhases = []string{"orders", "logins", "live", "pages", "memory", "replay", "startup"}

// phases parses BENCH_PHASES, a comma-separated list of allPhases; empty means all.
func phases(list string) (map[string]bool, error) {
	want := map[string]bool{}
	if strings.TrimSpace(list) == "" {
		for _, p := range allPhases {
			want[p] = true
		}
		return want, nil
	}
	for _, p := range strings.Split(list, ",") {
		p = strings.TrimSpace(p)
		if !slices.Contains(allPhases, p) {
			return nil, fmt.Errorf("BENCH_PHASES: unknown phase %q (phases: %s)", p, strings.Join(allPhases, ", "))
		}
		want[p] = true
	}
	return want, nil
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
