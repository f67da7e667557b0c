// Command natsnode runs the JetStream server the stack embeds (nats-server 2.15, file
// storage, every write synced to disk) as a process of its own, so that a test can kill it
// with SIGKILL and start it again on the same data: the fault suite (`make chaos`) does.
//
//	natsnode -port 14222 -store .data/nats
//
// SIGINT or SIGTERM shut it down cleanly.
package main

import (
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/caasdemo/orderdemo/services/platform/natsembed"
)

func main() {
	port := flag.Int("port", 14222, "client port on 127.0.0.1")
	store := flag.String("store", "", "JetStream storage directory (required)")
	flag.Parse()
	if *store == "" {
		fmt.Fprintln(os.Stderr, "natsnode: -store is required")
		os.Exit(2)
	}
	srv, err := natsembed.Start(natsembed.Options{Port: *port, StoreDir: *store, Logging: true})
	if err != nil {
		fmt.Fprintln(os.Stderr, "natsnode:", err)
		os.Exit(1)
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	<-sig
	srv.Shutdown()
	srv.WaitForShutdown()
}
