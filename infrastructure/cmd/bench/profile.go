package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// profile captures a CPU profile of every service for d, from the start of a phase, into
// $BENCH_PROFILE/<phase>-<service>.pprof (`go tool pprof` reads them). Without
// BENCH_PROFILE it does nothing. The returned function waits for the profiles.
func (s *system) profile(ctx context.Context, phase string, d time.Duration) (wait func()) {
	dir := os.Getenv("BENCH_PROFILE")
	if dir == "" {
		return func() {}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		fmt.Fprintln(os.Stderr, "bench: BENCH_PROFILE:", err)
		return func() {}
	}
	secs := max(1, int(d.Seconds()))
	var wg sync.WaitGroup
	for name, port := range s.stack.DebugPorts {
		wg.Go(func() {
			url := fmt.Sprintf("http://127.0.0.1:%d/debug/pprof/profile?seconds=%d", port, secs)
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				fmt.Fprintln(os.Stderr, "bench: profile", name, err)
				return
			}
			defer resp.Body.Close()
			f, err := os.Create(filepath.Join(dir, phase+"-"+name+".pprof"))
			if err != nil {
				fmt.Fprintln(os.Stderr, "bench: profile", name, err)
				return
			}
			defer f.Close()
			_, _ = io.Copy(f, resp.Body)
		})
	}
	return wg.Wait
}

// heapProfile saves the named service's heap profile into $BENCH_PROFILE/<phase>-<service>.heap,
// and the same as text with the runtime's memory statistics into .heap.txt (nothing without
// BENCH_PROFILE).
func (s *system) heapProfile(ctx context.Context, phase, name string) {
	dir := os.Getenv("BENCH_PROFILE")
	if dir == "" || os.MkdirAll(dir, 0o755) != nil {
		return
	}
	for query, ext := range map[string]string{"": ".heap", "?debug=1": ".heap.txt"} {
		url := fmt.Sprintf("http://127.0.0.1:%d/debug/pprof/heap%s", s.stack.DebugPorts[name], query)
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			fmt.Fprintln(os.Stderr, "bench: heap profile", name, err)
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err := os.WriteFile(filepath.Join(dir, phase+"-"+name+ext), b, 0o644); err != nil {
			fmt.Fprintln(os.Stderr, "bench: heap profile", name, err)
		}
	}
}
