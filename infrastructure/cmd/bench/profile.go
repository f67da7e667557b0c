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

// profileDir is $BENCH_PROFILE, made if need be; "" when profiles are not wanted.
func profileDir() string {
	dir := os.Getenv("BENCH_PROFILE")
	if dir == "" {
		return ""
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		fmt.Fprintln(os.Stderr, "bench: BENCH_PROFILE:", err)
		return ""
	}
	return dir
}

// saveDebug saves what the named service's profiling listener answers at path (under
// /debug/pprof/) into file.
func (s *system) saveDebug(ctx context.Context, name, path, file string) {
	url := fmt.Sprintf("http://127.0.0.1:%d/debug/pprof/%s", s.stack.DebugPorts[name], path)
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench: profile", name, err)
		return
	}
	defer resp.Body.Close()
	f, err := os.Create(file)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench: profile", name, err)
		return
	}
	defer f.Close()
	_, _ = io.Copy(f, resp.Body)
}

// profile captures a CPU profile of every service for d, from the start of a phase, into
// $BENCH_PROFILE/<phase>-<service>.pprof (`go tool pprof` reads them). Without
// BENCH_PROFILE it does nothing. The returned function waits for the profiles.
func (s *system) profile(ctx context.Context, phase string, d time.Duration) (wait func()) {
	dir := profileDir()
	if dir == "" {
		return func() {}
	}
	path := fmt.Sprintf("profile?seconds=%d", max(1, int(d.Seconds())))
	var wg sync.WaitGroup
	for name := range s.stack.DebugPorts {
		wg.Go(func() { s.saveDebug(ctx, name, path, filepath.Join(dir, phase+"-"+name+".pprof")) })
	}
	return wg.Wait
}

// heapProfile saves the named service's heap profile into $BENCH_PROFILE/<phase>-<service>.heap,
// and the same as text with the runtime's memory statistics into .heap.txt (nothing without
// BENCH_PROFILE).
func (s *system) heapProfile(ctx context.Context, phase, name string) {
	if dir := profileDir(); dir != "" {
		s.saveDebug(ctx, name, "heap", filepath.Join(dir, phase+"-"+name+".heap"))
		s.saveDebug(ctx, name, "heap?debug=1", filepath.Join(dir, phase+"-"+name+".heap.txt"))
	}
}
