// Package ports is the audit service's HTTP API, for admins only: the audit log (JSON and
// CSV), the statistics, one order's event history, the parked events with re-drive, and
// replays.
package ports

import (
	"encoding/csv"
	"errors"
	"log/slog"
	"net/http"
	"regexp"
	"strconv"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/caasdemo/orderdemo/services/audit/internal/projection"
	"github.com/caasdemo/orderdemo/services/audit/internal/replay"
	"github.com/caasdemo/orderdemo/services/platform/authtoken"
	"github.com/caasdemo/orderdemo/services/platform/consumer"
	"github.com/caasdemo/orderdemo/services/platform/httpserver"
	"github.com/caasdemo/orderdemo/services/platform/problem"
	"github.com/caasdemo/orderdemo/services/platform/validation"
)

// HTTP serves the audit API.
type HTTP struct {
	pool      *pgxpool.Pool
	cache     *projection.StatsCache
	verifier  *authtoken.Verifier
	limit     func(http.Handler) http.Handler
	runner    *consumer.Runner
	consumers map[string]consumer.Spec
	replays   *replay.Control
	log       *slog.Logger
}

// Deps are what the handlers work with.
type Deps struct {
	Pool     *pgxpool.Pool
	Stats    *projection.StatsCache
	Verifier *authtoken.Verifier
	// Limit counts each verified request against its admin's rate limit (see ratelimit).
	Limit     func(http.Handler) http.Handler
	Runner    *consumer.Runner
	Consumers []consumer.Spec // the live consumers, for re-drives
	Replays   *replay.Control
	Log       *slog.Logger
}

// NewHTTP returns the handlers.
func NewHTTP(d Deps) *HTTP {
	byName := map[string]consumer.Spec{}
	for _, c := range d.Consumers {
		byName[c.Durable] = c
	}
	return &HTTP{pool: d.Pool, cache: d.Stats, verifier: d.Verifier, limit: d.Limit, runner: d.Runner, consumers: byName,
		replays: d.Replays, log: d.Log}
}

// Routes mounts the whole surface of the service; every route needs the admin scope, and
// every request counts against its admin's rate limit.
func (h *HTTP) Routes(r chi.Router) {
	r.Group(func(r chi.Router) {
		r.Use(h.verifier.Require(authtoken.ScopeAdminOrders, h.log), h.limit)
		r.Get("/audit/events", h.events)
		r.Get("/audit/events.csv", h.eventsCSV)
		r.Get("/audit/stats", h.stats)
		r.Get("/audit/orders/{id}/events", h.orderEvents)
		r.Get("/audit/dead-letters", h.deadLetters)
		r.Post("/audit/dead-letters/{id}/redrive", h.redrive)
		r.Post("/audit/replay", h.startReplay)
		r.Get("/audit/replay", h.replayStatus)
	})
}

var uuidPattern = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

// filter reads the audit log filters, naming every bad parameter. The free-text ones (type,
// actor, subject) are held to the shared rule for one line of text.
func filter(r *http.Request) (projection.EntryFilter, error) {
	q := r.URL.Query()
	f := projection.EntryFilter{Type: q.Get("type"), Actor: q.Get("actor"), Subject: q.Get("subject"), Limit: 50}
	var bad []problem.FieldError
	for _, name := range []string{"type", "actor", "subject"} {
		bad = append(bad, validation.Line(name, q.Get(name))...)
	}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 500 {
			bad = append(bad, problem.FieldError{Field: "limit", Rule: "must be a whole number from 1 to 500"})
		}
		f.Limit = n
	}
	if v := q.Get("offset"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			bad = append(bad, problem.FieldError{Field: "offset", Rule: "must be a whole number, 0 or more"})
		}
		f.Offset = n
	}
	for _, p := range []struct {
		name string
		dst  **time.Time
		end  bool
	}{{"from", &f.From, false}, {"to", &f.To, true}} {
		v := q.Get(p.name)
		if v == "" {
			continue
		}
		t, err := time.Parse(time.DateOnly, v)
		if err == nil && p.end {
			t = t.AddDate(0, 0, 1)
		}
		if err != nil {
			t, err = time.Parse(time.RFC3339, v)
		}
		if err != nil {
			bad = append(bad, problem.FieldError{Field: p.name, Rule: "must be a date (2006-01-02) or a time (RFC 3339)"})
			continue
		}
		*p.dst = &t
	}
	if len(bad) > 0 {
		return f, problem.Validation(bad...)
	}
	return f, nil
}

func (h *HTTP) events(w http.ResponseWriter, r *http.Request) {
	f, err := filter(r)
	if err != nil {
		problem.Write(w, r, h.log, err)
		return
	}
	list, total, err := projection.ListEntries(r.Context(), h.pool, f)
	if err != nil {
		problem.Write(w, r, h.log, err)
		return
	}
	problem.WriteJSON(w, http.StatusOK, map[string]any{"events": list, "total": total})
}

func (h *HTTP) eventsCSV(w http.ResponseWriter, r *http.Request) {
	f, err := filter(r)
	if err != nil {
		problem.Write(w, r, h.log, err)
		return
	}
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="audit-log.csv"`)
	_ = http.NewResponseController(w).SetWriteDeadline(time.Time{})
	out := csv.NewWriter(w)
	out.UseCRLF = true
	_ = out.Write([]string{"occurred_at", "type", "actor_username", "actor_id", "subject", "correlation_id", "stream", "stream_seq", "event_id"})
	n := 0
	err = projection.EachEntry(r.Context(), h.pool, f, func(e projection.Entry) error {
		row := []string{e.OccurredAt.UTC().Format(time.RFC3339Nano), e.Type, deref(e.ActorUsername), deref(e.ActorID), e.Subject,
			deref(e.CorrelationID), e.Stream, strconv.FormatInt(e.StreamSeq, 10), e.EventID}
		for i := range row {
			row[i] = httpserver.NeutraliseFormula(row[i])
		}
		n++
		return out.Write(row)
	})
	if err != nil && n == 0 {
		// Nothing has left the buffer yet (the database did not answer): a proper answer
		// instead of an empty file.
		w.Header().Del("Content-Disposition")
		problem.Write(w, r, h.log, err)
		return
	}
	out.Flush()
	if err != nil {
		h.log.ErrorContext(r.Context(), "audit export interrupted", "rows", n, "error", err)
	}
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func (h *HTTP) stats(w http.ResponseWriter, r *http.Request) {
	s, err := h.cache.Get(r.Context())
	if err != nil {
		problem.Write(w, r, h.log, err)
		return
	}
	problem.WriteJSON(w, http.StatusOK, s)
}

func (h *HTTP) orderEvents(w http.ResponseWriter, r *http.Request) {
	id := chi.URLParam(r, "id")
	if !uuidPattern.MatchString(id) {
		problem.Write(w, r, h.log, problem.New(http.StatusNotFound, "no events for this order"))
		return
	}
	list, err := projection.OrderHistory(r.Context(), h.pool, id)
	if err != nil {
		problem.Write(w, r, h.log, err)
		return
	}
	if len(list) == 0 {
		problem.Write(w, r, h.log, problem.New(http.StatusNotFound, "no events for this order"))
		return
	}
	problem.WriteJSON(w, http.StatusOK, map[string]any{"order_id": id, "events": list,
		"nats_command": "nats stream view ORDERS --subject 'orders.*.*." + id + "'"})
}

type deadLetterJSON struct {
	ID         int64     `json:"id"`
	Consumer   string    `json:"consumer"`
	Stream     string    `json:"stream"`
	StreamSeq  int64     `json:"stream_seq"`
	Subject    string    `json:"subject"`
	EventID    string    `json:"event_id"`
	EventType  string    `json:"event_type"`
	Error      string    `json:"error"`
	Deliveries int       `json:"deliveries"`
	ParkedAt   time.Time `json:"parked_at"`
	Message    string    `json:"message"`
}

func (h *HTTP) deadLetters(w http.ResponseWriter, r *http.Request) {
	out := []deadLetterJSON{}
	for name := range h.consumers {
		list, err := h.runner.Parked(r.Context(), name, 200)
		if err != nil {
			problem.Write(w, r, h.log, err)
			return
		}
		for _, d := range list {
			out = append(out, deadLetterJSON{ID: d.ID, Consumer: d.Consumer, Stream: d.Stream, StreamSeq: d.StreamSeq, Subject: d.Subject,
				EventID: d.EventID, EventType: d.EventType, Error: d.Error, Deliveries: d.Deliveries, ParkedAt: d.ParkedAt, Message: string(d.Message)})
		}
	}
	problem.WriteJSON(w, http.StatusOK, map[string]any{"dead_letters": out, "total": len(out)})
}

func (h *HTTP) redrive(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.ParseInt(chi.URLParam(r, "id"), 10, 64)
	if err != nil {
		problem.Write(w, r, h.log, problem.New(http.StatusNotFound, "no such parked event"))
		return
	}
	var lastErr error
	for _, spec := range h.consumers {
		err := h.runner.Redrive(r.Context(), spec, id)
		if err == nil {
			problem.WriteJSON(w, http.StatusOK, map[string]any{"id": id, "redriven": true})
			return
		}
		if !errors.Is(err, consumer.ErrNotParked) {
			lastErr = err
		}
	}
	if problem.AsUnavailable(lastErr) != nil { // the database, not the event: 503 naming it
		problem.Write(w, r, h.log, lastErr)
		return
	}
	if lastErr != nil {
		h.log.WarnContext(r.Context(), "re-drive failed", "id", id, "error", lastErr)
		problem.Write(w, r, h.log, problem.Newf(http.StatusUnprocessableEntity, "the event failed again: %v", lastErr))
		return
	}
	problem.Write(w, r, h.log, problem.New(http.StatusNotFound, "no such parked event"))
}

type replayRequest struct {
	Projection string `json:"projection"`
	Verify     bool   `json:"verify"`
}

func (h *HTTP) startReplay(w http.ResponseWriter, r *http.Request) {
	req := replayRequest{Projection: projection.All}
	if r.ContentLength != 0 {
		if err := httpserver.DecodeJSON(w, r, &req, 4096); err != nil {
			problem.Write(w, r, h.log, err)
			return
		}
	}
	if _, err := projection.SetOf(req.Projection); err != nil {
		problem.Write(w, r, h.log, problem.Validation(problem.FieldError{Field: "projection", Rule: "must be all, audit-log or orders"}))
		return
	}
	p, err := h.replays.Start(req.Projection, req.Verify)
	if errors.Is(err, replay.ErrRunning) {
		problem.Write(w, r, h.log, problem.New(http.StatusConflict, "a replay is already running; wait for it to finish"))
		return
	}
	if err != nil {
		problem.Write(w, r, h.log, err)
		return
	}
	problem.WriteJSON(w, http.StatusAccepted, p)
}

func (h *HTTP) replayStatus(w http.ResponseWriter, r *http.Request) {
	p, err := h.replays.Status(r.Context())
	if err != nil {
		problem.Write(w, r, h.log, err)
		return
	}
	if p == nil {
		problem.Write(w, r, h.log, problem.New(http.StatusNotFound, "no replay has run yet"))
		return
	}
	problem.WriteJSON(w, http.StatusOK, p)
}
