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

func main() {
	short := flag.Bool("short", false, "the short form `make test` runs")
	keep := flag.Bool("keep", false, "keep the servers' data directory (its path is printed)")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	dir, err := chaos.TempDir()
	if err != nil {
		fmt.Fprintln(os.Stderr, "chaos:", err)
		os.Exit(2)
	}
	if !*keep {
		defer os.RemoveAll(dir)
	}
	opt := chaos.Long(dir, os.Stderr)
	if *short {
		opt = chaos.Short(dir, os.Stderr)
	}
	run, err := chaos.Execute(ctx, opt, chaos.Faults())
	if run != nil {
		run.Table(os.Stdout)
	}
	code := 0
	switch {
	case err != nil:
		fmt.Fprintln(os.Stderr, "chaos:", err)
		code = 2
	case !run.Clean():
		fmt.Println("FAIL: something was lost, doubled, refused or left hanging")
		code = 1
	default:
		fmt.Println("ok: nothing lost, doubled, refused or left hanging")
	}
	stop()
	if !*keep {
		os.RemoveAll(dir)
	}
	os.Exit(code)
}
