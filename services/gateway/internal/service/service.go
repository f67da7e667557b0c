// Package service wires the gateway: its connections, the clients of the auth, order and
// audit services, the sessions, the templates and the routes. Every concrete dependency is
// built here and nowhere else.
package service

import (
	"context"
	"log/slog"
	"net/http"
	"slices"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/caasdemo/orderdemo/events"
	"github.com/caasdemo/orderdemo/services/gateway/internal/config"
	"github.com/caasdemo/orderdemo/services/gateway/internal/live"
	"github.com/caasdemo/orderdemo/services/gateway/internal/session"
	"github.com/caasdemo/orderdemo/services/gateway/internal/ui"
	"github.com/caasdemo/orderdemo/services/gateway/internal/upstream"
	"github.com/caasdemo/orderdemo/services/gateway/internal/web"
	"github.com/caasdemo/orderdemo/services/platform/app"
	"github.com/caasdemo/orderdemo/services/platform/backend"
	"github.com/caasdemo/orderdemo/services/platform/health"
	"github.com/caasdemo/orderdemo/services/platform/httpserver"
	"github.com/caasdemo/orderdemo/services/platform/requestid"
	"github.com/caasdemo/orderdemo/services/platform/telemetry"
)

// Name is the service's name in logs, NATS connections and health answers.
const Name = "gateway"

// Service is the assembled gateway.
type Service struct {
	Handler http.Handler
	Workers []app.Worker // the live feed of order events
	Hub     *live.Hub
	// Metrics is what the gateway measures, served on METRICS_ADDR when that is set.
	Metrics *telemetry.Metrics
	closers app.Closers
}

// New connects to Valkey and NATS, parses the templates and builds the HTTP handler. The
// gateway is ready (takes traffic) while Valkey answers: without it there are no sessions.
// NATS (live updates) and the auth, order and audit services are reported as degraded when
// they are down, as the gateway still serves what does not need them, answering 503 for
// what does. Close releases what New opened.
func New(ctx context.Context, cfg *config.Config, log *slog.Logger) (_ *Service, err error) {
	s := &Service{}
	defer func() {
		if err != nil {
			s.Close()
		}
	}()
	pages, err := web.Parse()
	if err != nil {
		return nil, err
	}
	// The ORDERS stream belongs to the order service; ensuring it here too lets the live feed
	// start even when the gateway starts first (the configuration comes from the contract).
	b, err := backend.Open(ctx, backend.Options{Service: Name, NATS: &cfg.NATS, Valkey: &cfg.Valkey,
		Streams: []events.Stream{events.OrdersStream}, Metrics: cfg.Metrics}, log)
	if err != nil {
		return nil, err
	}
	s.closers.Add(b.Close)
	s.Metrics = b.Metrics

	// Every call to another service carries the request id and gives up after the timeout.
	client := &http.Client{Transport: requestid.Transport{}, Timeout: cfg.Upstreams.Timeout}
	// Without Valkey there are no sessions (its check fails readiness); without a service
	// behind it the gateway still serves the pages of the others and the login page.
	checks := slices.Clone(b.Checks())
	for _, check := range []health.Check{
		health.HTTPCheck("auth", client, cfg.Upstreams.AuthURL),
		health.HTTPCheck("order", client, cfg.Upstreams.OrderURL),
		health.HTTPCheck("audit", client, cfg.Upstreams.AuditURL),
	} {
		check.Degrades = true
		checks = append(checks, check)
	}
	router := httpserver.NewRouter(Name, log, b.Metrics, checks...)
	s.Hub = live.NewHub(64, cfg.Streams.PerSession)
	counted, err := liveMetrics(b.Metrics, s.Hub)
	if err != nil {
		return nil, err
	}
	feed, err := live.NewFeed(ctx, b.JS, s.Hub, log)
	if err != nil {
		return nil, err
	}
	s.Workers = append(s.Workers, feed.Run)
	stopNotices, err := live.Notices(b.NC, s.Hub, map[string]string{"audit.stats.updated": "stats", "audit.replay.progress": "replay"})
	if err != nil {
		return nil, err
	}
	s.closers.Add(stopNotices)
	sessions := session.NewStore(b.Valkey, cfg.Valkey.KeyPrefix, cfg.Session.IdleTimeout, cfg.Session.MaxLifetime, time.Now)
	u := ui.New(ui.Deps{
		Pages:         pages,
		Sessions:      sessions,
		Auth:          upstream.Auth{Client: upstream.Client{Name: "auth", Base: cfg.Upstreams.AuthURL, HTTP: client}},
		Orders:        upstream.Orders{Client: upstream.Client{Name: "order", Base: cfg.Upstreams.OrderURL, HTTP: client}},
		Audit:         upstream.Audit{Client: upstream.Client{Name: "audit", Base: cfg.Upstreams.AuditURL, HTTP: client}},
		Hub:           s.Hub,
		Feed:          feed,
		JS:            b.JS,
		ReplayTimeout: cfg.Upstreams.Timeout,
		Proxies:       cfg.Clients.TrustedProxies,
		SecureCookies: cfg.Session.SecureCookies,
		Now:           time.Now,
		Log:           log,
	})
	routes(router, u, counted)
	s.Handler = router
	return s, nil
}

// routes lists the whole surface of the gateway; counted counts the events sent on the
// event streams.
func routes(r chi.Router, u *ui.UI, counted func(http.Handler) http.Handler) {
	static := http.StripPrefix("/static/", http.FileServerFS(web.Static()))
	r.Get("/static/*", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=3600")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		static.ServeHTTP(w, r)
	})
	r.Group(func(r chi.Router) {
		r.Use(limitBody, http.NewCrossOriginProtection().Handler, u.Middleware)
		r.Get("/", u.Home)
		r.Get("/login", u.LoginPage)
		r.Post("/login", u.Login)
		r.Get("/register", u.RegisterPage)
		r.Post("/register", u.Register)
		r.Post("/logout", u.Logout)
		r.Get("/orders/new", u.RequireUser(u.NewOrderPage))
		r.Post("/orders", u.RequireUser(u.CreateOrder))
		r.Get("/orders", u.RequireUser(u.MyOrders))
		r.With(counted).Get("/events", u.RequireUser(u.Events))
		r.Get("/admin", u.RequireAdmin(u.Dashboard))
		r.Get("/admin/orders", u.RequireAdmin(u.AllOrders))
		r.Get("/admin/orders/export.csv", u.RequireAdmin(u.ExportOrders))
		r.Post("/admin/orders/{id}", u.RequireAdmin(u.Decide))
		r.Get("/admin/orders/{id}/timeline", u.RequireAdmin(u.Timeline))
		r.Get("/admin/audit", u.RequireAdmin(u.AuditLog))
		r.Get("/admin/audit/export.csv", u.RequireAdmin(u.ExportAudit))
		r.Get("/admin/replay", u.RequireAdmin(u.ReplayPage))
		r.Post("/admin/replay", u.RequireAdmin(u.StartReplay))
		r.Get("/admin/replay/status", u.RequireAdmin(u.ReplayStatus))
		r.Get("/admin/dead-letters", u.RequireAdmin(u.DeadLettersPage))
		r.Post("/admin/dead-letters/{id}/redrive", u.RequireAdmin(u.Redrive))
		r.NotFound(u.NotFound)
	})
}

// limitBody bounds form bodies: the largest form (an order with its notes) is a few KiB.
func limitBody(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
		next.ServeHTTP(w, r)
	})
}

// Close releases the gateway's connections.
func (s *Service) Close() { s.closers.Close() }

// Run serves the gateway until ctx ends.
func Run(ctx context.Context, cfg *config.Config, log *slog.Logger) error {
	s, err := New(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer s.Close()
	return app.Serve(ctx, cfg.HTTP, s.Handler, log, s.Workers...)
}
