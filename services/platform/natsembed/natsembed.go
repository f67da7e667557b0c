// Package natsembed runs a current nats-server with JetStream inside the calling process. The
// local stack (make run) and the tests use it, so neither depends on whatever NATS the machine
// has installed; the services themselves only ever dial NATS_URL.
package natsembed

import (
	"fmt"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// Options says where the server listens and keeps its data.
type Options struct {
	Host     string // default 127.0.0.1
	Port     int    // 0 picks a free port
	StoreDir string // JetStream file storage; required
	Logging  bool   // print the server's own log to stderr
}

// Start runs a JetStream server with file storage that syncs every write to disk, and waits
// until it accepts connections. The caller calls Shutdown (and WaitForShutdown).
func Start(o Options) (*server.Server, error) {
	if o.StoreDir == "" {
		return nil, fmt.Errorf("natsembed: StoreDir is required")
	}
	host := o.Host
	if host == "" {
		host = "127.0.0.1"
	}
	port := o.Port
	if port == 0 {
		port = server.RANDOM_PORT
	}
	srv, err := server.NewServer(&server.Options{
		ServerName: "caas-demo",
		Host:       host,
		Port:       port,
		JetStream:  true,
		StoreDir:   o.StoreDir,
		SyncAlways: true, // an acknowledged publish is on disk: no event lost on a crash
		NoSigs:     true,
		NoLog:      !o.Logging,
	})
	if err != nil {
		return nil, fmt.Errorf("nats server: %w", err)
	}
	if o.Logging {
		srv.ConfigureLogger()
	}
	go srv.Start()
	if !srv.ReadyForConnections(10 * time.Second) {
		srv.Shutdown()
		return nil, fmt.Errorf("nats server on %s:%d did not become ready (port in use?)", host, o.Port)
	}
	return srv, nil
}
