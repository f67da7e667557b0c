package chaos

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"
)

// TestFaultSuite is the short form of `make chaos`: every fault once, under load, and every
// count must be zero.
func TestFaultSuite(t *testing.T) {
	dir, err := TempDir()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	var progress strings.Builder
	run, err := Execute(ctx, Short(dir, &progress), Faults())
	t.Log("\n" + progress.String())
	if run != nil && len(run.Rows) > 0 {
		var table strings.Builder
		run.Table(&table)
		t.Log("\n" + table.String())
	}
	if err != nil {
		if log, rerr := os.ReadFile(dir + "/system.log"); rerr == nil {
			t.Logf("system log (last 4 kB):\n%s", tail(string(log), 4096))
		}
		t.Fatal(err)
	}
	if !run.Clean() {
		if log, rerr := os.ReadFile(dir + "/system.log"); rerr == nil {
			t.Logf("system log (last 8 kB):\n%s", tail(string(log), 8192))
		}
		t.Fatal("the system lost, doubled, refused or hung something under a fault: see the table")
	}
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[len(s)-n:]
}
