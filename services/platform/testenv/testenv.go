// Package testenv gives tests the real servers they need: a fresh PostgreSQL database per
// test, the Valkey/Redis server, and an embedded JetStream server per test.
//
// PostgreSQL and Valkey are found through TEST_DATABASE_URL and TEST_VALKEY_URL, which
// `make test` sets after finding or starting them; without those variables the defaults are
// the standard local ports. A test whose server cannot be reached fails with a message saying
// how to provide one. It never skips.
package testenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/valkey-io/valkey-go"

	"github.com/caasdemo/orderdemo/services/platform/natsembed"
)

const (
	defaultPostgres = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"
	defaultValkey   = "redis://127.0.0.1:6379/0"
	howTo           = "run the tests with `make test`, which starts what is missing, or set "
)

// AdminPostgresURL is the URL of the test server's maintenance database.
func AdminPostgresURL() string {
	if u := os.Getenv("TEST_DATABASE_URL"); u != "" {
		return u
	}
	return defaultPostgres
}

// PostgresURL creates an empty database for this test and returns its URL; the database is
// dropped when the test ends.
func PostgresURL(t testing.TB) string {
	t.Helper()
	admin := AdminPostgresURL()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		t.Fatalf("PostgreSQL is not reachable (%v); %sTEST_DATABASE_URL", err, howTo)
	}
	defer conn.Close(ctx)

	name := "test_" + randomHex(6)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("create test database: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, admin)
		if err != nil {
			t.Errorf("drop test database %s: %v", name, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Errorf("drop test database %s: %v", name, err)
		}
	})
	u, err := url.Parse(admin)
	if err != nil {
		t.Fatalf("TEST_DATABASE_URL: %v", err)
	}
	u.Path = "/" + name
	return u.String()
}

// ValkeyURL returns the URL of the test Valkey/Redis server after checking that it answers.
// Tests share the server: keep keys under a prefix from Prefix.
func ValkeyURL(t testing.TB) string {
	t.Helper()
	u := os.Getenv("TEST_VALKEY_URL")
	if u == "" {
		u = defaultValkey
	}
	opt, err := valkey.ParseURL(u)
	if err != nil {
		t.Fatalf("TEST_VALKEY_URL: %v", err)
	}
	opt.DisableCache = true
	client, err := valkey.NewClient(opt)
	if err != nil {
		t.Fatalf("Valkey/Redis is not reachable (%v); %sTEST_VALKEY_URL", err, howTo)
	}
	client.Close()
	return u
}

// Prefix returns a key prefix unique to this test run, for tests sharing one Valkey.
func Prefix() string { return "test:" + randomHex(6) + ":" }

// NATS starts an embedded JetStream server for this test and returns its URL; the server
// and its storage go away when the test ends.
func NATS(t testing.TB) string { return StartNATS(t).URL() }

// NATSServer is an embedded JetStream server a test can stop and start again, on the same
// port and with the same storage, to play a broker outage.
type NATSServer struct {
	t    testing.TB
	dir  string
	port int
	srv  *server.Server
}

// StartNATS starts a NATSServer that is shut down when the test ends.
func StartNATS(t testing.TB) *NATSServer {
	t.Helper()
	s := &NATSServer{t: t, dir: t.TempDir()}
	s.Start()
	s.port = s.srv.Addr().(*net.TCPAddr).Port
	t.Cleanup(s.Stop)
	return s
}

// URL is the server's client URL; it stays the same across Stop and Start.
func (s *NATSServer) URL() string { return s.srv.ClientURL() }

// Start starts the server (again).
func (s *NATSServer) Start() {
	s.t.Helper()
	srv, err := natsembed.Start(natsembed.Options{Port: s.port, StoreDir: s.dir})
	if err != nil {
		s.t.Fatalf("embedded NATS: %v", err)
	}
	s.srv = srv
}

// Stop shuts the server down; clients see a disconnect.
func (s *NATSServer) Stop() {
	if s.srv != nil && s.srv.Running() {
		s.srv.Shutdown()
		s.srv.WaitForShutdown()
	}
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// Lookup is a config.Lookup over vars, for tests that load a configuration.
func Lookup(vars map[string]string) func(string) (string, bool) {
	return func(name string) (string, bool) {
		v, ok := vars[name]
		return v, ok
	}
}

// JWTSecret is a signing secret that passes the start-up checks, for tests only.
const JWTSecret = "test-only-3b1f9c27d4e86a05f7c2d9e1b4a8"

// Tables lists the tables of schema in the database at dbURL as schema.table, sorted,
// leaving out goose's version tables.
func Tables(t testing.TB, dbURL, schema string) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatalf("connect %s: %v", dbURL, err)
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, `SELECT table_schema || '.' || table_name FROM information_schema.tables
		WHERE table_schema = $1 AND table_name NOT LIKE 'goose\_%' ORDER BY 1`, schema)
	if err != nil {
		t.Fatalf("list tables: %v", err)
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatalf("list tables: %v", err)
	}
	return names
}

// RequireStream fails the test unless the JetStream server at url has the named stream.
func RequireStream(t testing.TB, url, name string) {
	t.Helper()
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatalf("connect %s: %v", url, err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := js.Stream(ctx, name); err != nil {
		t.Fatalf("stream %s: %v", name, err)
	}
}
