package service_test

import (
	"context"
	"io"
	"log/slog"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/caasdemo/orderdemo/events"
	"github.com/caasdemo/orderdemo/services/audit/internal/config"
	"github.com/caasdemo/orderdemo/services/audit/internal/service"
	"github.com/caasdemo/orderdemo/services/platform/authtoken"
	pconfig "github.com/caasdemo/orderdemo/services/platform/config"
	"github.com/caasdemo/orderdemo/services/platform/telemetry"
	"github.com/caasdemo/orderdemo/services/platform/testenv"
)

// harness is the audit service with its consumers on real PostgreSQL, Valkey and
// JetStream; the test publishes events as the producers would.
type harness struct {
	t       *testing.T
	url     string
	metrics string // GET /metrics on the service's METRICS_ADDR
	env     map[string]string
	svc     *service.Service
	nc      *nats.Conn
	js      jetstream.JetStream
	admin   string // an admin's bearer token
	user    string // a plain user's bearer token
	adminID string
}

// start runs the service; extra are more variables, name then value (a server's URL among
// them replaces the one the harness would start or create).
func start(t *testing.T, extra ...string) *harness {
	t.Helper()
	h := &harness{t: t, env: map[string]string{}}
	for i := 0; i+1 < len(extra); i += 2 {
		h.env[extra[i]] = extra[i+1]
	}
	for name, value := range map[string]func() string{
		"DATABASE_URL":          func() string { return testenv.PostgresURL(t) },
		"DATABASE_CALL_TIMEOUT": func() string { return testenv.DatabaseCallTimeout.String() },
		"NATS_URL":              func() string { return testenv.NATS(t) },
		"VALKEY_URL":            func() string { return testenv.ValkeyURL(t) },
		"VALKEY_KEY_PREFIX":     testenv.Prefix,
		"JWT_SECRET":            func() string { return testenv.JWTSecret },
		"CONSUMER_MAX_ATTEMPTS": func() string { return "3" },
		"CONSUMER_RETRY_BASE":   func() string { return "10ms" },
		"STATS_MAX_AGE":         func() string { return "0" }, // every read sees the latest writes
		"METRICS_ADDR":          func() string { return "127.0.0.1:0" },
	} {
		if _, set := h.env[name]; !set {
			h.env[name] = value()
		}
	}
	var cfg config.Config
	require.NoError(t, pconfig.Load(testenv.Lookup(h.env), &cfg))
	ctx, cancel := context.WithCancel(context.WithoutCancel(t.Context()))
	svc, err := service.New(t.Context(), ctx, &cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	require.NoError(t, err)
	var wg sync.WaitGroup
	for _, w := range svc.Workers {
		wg.Go(func() { _ = w(ctx) })
	}
	srv := httptest.NewServer(svc.Handler)
	t.Cleanup(func() { srv.Close(); cancel(); wg.Wait(); svc.Close() })
	h.url, h.svc = srv.URL, svc
	if svc.Metrics.Addr() != "" {
		h.metrics = "http://" + svc.Metrics.Addr() + telemetry.Path
	}

	h.nc, err = nats.Connect(h.env["NATS_URL"])
	require.NoError(t, err)
	t.Cleanup(h.nc.Close)
	h.js, err = jetstream.New(h.nc)
	require.NoError(t, err)
	issuer := authtoken.NewIssuer(cfg.Token, time.Now)
	h.adminID = events.NewID()
	h.admin, _, err = issuer.Issue(h.adminID, "root", true, "")
	require.NoError(t, err)
	h.user, _, err = issuer.Issue(events.NewID(), "alice", false, "")
	require.NoError(t, err)
	return h
}

// publish puts events on their streams as the producers' relays would.
func (h *harness) publish(ps ...events.Payload) []events.Envelope {
	h.t.Helper()
	var out []events.Envelope
	for _, p := range ps {
		version := int64(1)
		switch p.(type) {
		case events.OrderApproved, events.OrderRejected:
			version = 2
		}
		env, err := events.New(p, events.Metadata{Source: "test", CorrelationID: "req-" + p.EventType(), AggregateVersion: version})
		require.NoError(h.t, err)
		h.publishEnvelope(env)
		out = append(out, env)
	}
	return out
}

func (h *harness) publishEnvelope(env events.Envelope) {
	h.t.Helper()
	b, err := events.Encode(env)
	require.NoError(h.t, err)
	subject, err := env.NATSSubject()
	require.NoError(h.t, err)
	_, err = h.js.Publish(h.t.Context(), subject, b, jetstream.WithMsgID(env.ID))
	require.NoError(h.t, err)
}

// publishMany publishes n events asynchronously, for volume.
func (h *harness) publishMany(n int, make func(i int) events.Payload) {
	h.t.Helper()
	for i := range n {
		env, err := events.New(make(i), events.Metadata{Source: "test", AggregateVersion: 1})
		require.NoError(h.t, err)
		b, err := events.Encode(env)
		require.NoError(h.t, err)
		subject, err := env.NATSSubject()
		require.NoError(h.t, err)
		_, err = h.js.PublishAsync(subject, b, jetstream.WithMsgID(env.ID))
		require.NoError(h.t, err)
	}
	select {
	case <-h.js.PublishAsyncComplete():
	case <-time.After(30 * time.Second):
		h.t.Fatal("publishing timed out")
	}
}

func (h *harness) get(path string, token string) testenv.Response {
	h.t.Helper()
	if token == "" {
		return testenv.Call(h.t, "GET", h.url+path, "")
	}
	return testenv.Call(h.t, "GET", h.url+path, "", "Authorization", "Bearer "+token)
}

func (h *harness) post(path, body, token string) testenv.Response {
	h.t.Helper()
	return testenv.Call(h.t, "POST", h.url+path, body, "Authorization", "Bearer "+token)
}

// count runs a count query on the audit schema.
func (h *harness) count(query string, args ...any) int {
	h.t.Helper()
	conn, err := pgx.Connect(context.Background(), h.env["DATABASE_URL"])
	require.NoError(h.t, err)
	defer conn.Close(context.Background())
	var n int
	require.NoError(h.t, conn.QueryRow(context.Background(), query, args...).Scan(&n))
	return n
}

func (h *harness) exec(query string, args ...any) {
	h.t.Helper()
	conn, err := pgx.Connect(context.Background(), h.env["DATABASE_URL"])
	require.NoError(h.t, err)
	defer conn.Close(context.Background())
	_, err = conn.Exec(context.Background(), query, args...)
	require.NoError(h.t, err)
}

// waitApplied waits until the audit log holds n events.
func (h *harness) waitApplied(n int) {
	h.t.Helper()
	require.Eventually(h.t, func() bool { return h.count(`SELECT count(*) FROM audit.audit_log`) >= n },
		60*time.Second, 20*time.Millisecond, "waiting for %d events in the audit log", n)
}

// scenario publishes two users, three orders, an approval and a rejection; 8 events.
type scenario struct {
	alice, bob events.UserRegistered
	o1, o2, o3 string
}

func (h *harness) scenario() scenario {
	h.t.Helper()
	s := scenario{alice: events.UserRegistered{UserID: events.NewID(), Username: "alice"},
		bob: events.UserRegistered{UserID: events.NewID(), Username: "bob"},
		o1:  events.NewID(), o2: events.NewID(), o3: events.NewID()}
	now := time.Now().UTC()
	created := func(id string, u events.UserRegistered) events.OrderCreated {
		return events.OrderCreated{OrderID: id, UserID: u.UserID, Username: u.Username, ItemName: "thing", Quantity: 1, Status: "pending", CreatedAt: now}
	}
	decision := func(id string, u events.UserRegistered) events.OrderDecision {
		return events.OrderDecision{OrderID: id, UserID: u.UserID, AdminID: h.adminID, AdminUsername: "root", DecidedAt: now.Add(time.Minute)}
	}
	h.publish(s.alice, s.bob,
		events.UserLoginFailed{Username: "alice", UserID: s.alice.UserID, Reason: events.ReasonBadPassword},
		created(s.o1, s.alice), created(s.o2, s.alice), created(s.o3, s.bob),
		events.OrderApproved(decision(s.o1, s.alice)), events.OrderRejected(decision(s.o2, s.alice)))
	h.waitApplied(8)
	return s
}
