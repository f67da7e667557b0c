package service_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/caasdemo/orderdemo/events"
	"github.com/caasdemo/orderdemo/services/order/internal/config"
	"github.com/caasdemo/orderdemo/services/order/internal/service"
	"github.com/caasdemo/orderdemo/services/platform/authtoken"
	pconfig "github.com/caasdemo/orderdemo/services/platform/config"
	"github.com/caasdemo/orderdemo/services/platform/telemetry"
	"github.com/caasdemo/orderdemo/services/platform/testenv"
)

// harness is the order service on real PostgreSQL, Valkey and JetStream, with its outbox
// relay, behind a test HTTP server. Tokens are signed with the shared secret, as the auth
// service would sign them.
type harness struct {
	t       *testing.T
	url     string
	metrics string // GET /metrics on the service's METRICS_ADDR
	env     map[string]string
	cfg     config.Config
	issuer  *authtoken.Issuer
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
		"COUNT_MAX_AGE":         func() string { return "0" }, // every list counts afresh
		"METRICS_ADDR":          func() string { return "127.0.0.1:0" },
	} {
		if _, set := h.env[name]; !set {
			h.env[name] = value()
		}
	}
	require.NoError(t, pconfig.Load(testenv.Lookup(h.env), &h.cfg))
	svc, err := service.New(t.Context(), &h.cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.WithoutCancel(t.Context()))
	var wg sync.WaitGroup
	for _, w := range svc.Workers {
		wg.Go(func() { _ = w(ctx) })
	}
	srv := httptest.NewServer(svc.Handler)
	t.Cleanup(func() { srv.Close(); cancel(); wg.Wait(); svc.Close() })
	h.url = srv.URL
	if svc.Metrics.Addr() != "" {
		h.metrics = "http://" + svc.Metrics.Addr() + telemetry.Path
	}
	h.issuer = authtoken.NewIssuer(h.cfg.Token, time.Now)
	return h
}

// user is someone with a token.
type user struct {
	id, name, token string
	claims          authtoken.Claims
}

func (h *harness) user(name string, admin bool) user {
	h.t.Helper()
	return h.login(events.NewID(), name, admin, events.NewID())
}

// sameLogin is another token of u's login session, as a refresh would hand out.
func (h *harness) sameLogin(u user) user {
	h.t.Helper()
	return h.login(u.id, u.name, u.claims.IsAdmin, u.claims.SessionID)
}

// sameUser is a token of another login session of u's user.
func (h *harness) sameUser(u user) user {
	h.t.Helper()
	return h.login(u.id, u.name, u.claims.IsAdmin, events.NewID())
}

func (h *harness) login(id, name string, admin bool, sessionID string) user {
	h.t.Helper()
	tok, claims, err := h.issuer.Issue(id, name, admin, sessionID)
	require.NoError(h.t, err)
	return user{id: id, name: name, token: tok, claims: claims}
}

func (h *harness) call(u *user, method, path, body string, headers ...string) testenv.Response {
	h.t.Helper()
	if u != nil {
		headers = append(headers, "Authorization", "Bearer "+u.token)
	}
	return testenv.Call(h.t, method, h.url+path, body, headers...)
}

// order places an order and returns its id.
func (h *harness) order(u user, item string, qty int) string {
	h.t.Helper()
	r := h.call(&u, http.MethodPost, "/orders", fmt.Sprintf(`{"item_name":%q,"quantity":%d,"notes":""}`, item, qty))
	require.Equal(h.t, http.StatusCreated, r.Status, r.Raw)
	return r.Body["order_id"].(string)
}

func (h *harness) decide(admin user, id, status string) testenv.Response {
	h.t.Helper()
	return h.call(&admin, http.MethodPatch, "/orders/"+id, `{"status":"`+status+`"}`)
}

// streamEvents returns the ORDERS stream's events matching subject filter, once at least n
// are there.
func (h *harness) streamEvents(filter string, n int) []events.Envelope {
	h.t.Helper()
	nc, err := nats.Connect(h.env["NATS_URL"])
	require.NoError(h.t, err)
	defer nc.Close()
	js, err := jetstream.New(nc)
	require.NoError(h.t, err)
	var out []events.Envelope
	var subjects []string
	require.Eventually(h.t, func() bool {
		out, subjects = nil, nil
		cons, err := js.OrderedConsumer(h.t.Context(), "ORDERS", jetstream.OrderedConsumerConfig{FilterSubjects: []string{filter}})
		if err != nil {
			return false
		}
		batch, err := cons.FetchNoWait(1000)
		if err != nil {
			return false
		}
		for msg := range batch.Messages() {
			env, err := events.Decode(msg.Data())
			require.NoError(h.t, err)
			out = append(out, env)
			subjects = append(subjects, msg.Subject())
		}
		return len(out) >= n
	}, 10*time.Second, 50*time.Millisecond, "waiting for %d events on %s", n, filter)
	return out
}
