// Command chaos is `make chaos`: the fault suite in its long form (see package
// infrastructure/chaos). It prints a table and exits 1 when anything was lost, doubled,
// refused or left hanging, 2 when the run could not be carried out.
//
//	chaos            the long form: 6 users, 5 s outages, the audit service stopped for 20 s
//	chaos -short     the form `make test` runs
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/caasdemo/orderdemo/infrastructure/chaos"
)

func main() { os.Exit(run()) }

// run is the whole command; its deferred clean-up runs before main exits with its code.
func run() int {
	short := flag.Bool("short", false, "the short form `make test` runs")
	keep := flag.Bool("keep", false, "keep the servers' data directory (its path is printed)")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	dir, err := chaos.TempDir()
	if err != nil {
		fmt.Fprintln(os.Stderr, "chaos:", err)
		return 2
	}
	if !*keep {
		defer os.RemoveAll(dir)
	}
	opt := chaos.Long(dir, os.Stderr)
	if *short {
		opt = chaos.Short(dir, os.Stderr)
	}
	result, err := chaos.Execute(ctx, opt, chaos.Faults())
	if result != nil {
		result.Table(os.Stdout)
	}
	switch {
	case err != nil:
		fmt.Fprintln(os.Stderr, "chaos:", err)
		return 2
	case !result.Clean():
		fmt.Println("FAIL: something was lost, doubled, refused or left hanging")
		return 1
	}
	fmt.Println("ok: nothing lost, doubled, refused or left hanging")
	return 0
}
