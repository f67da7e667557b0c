// Package ports is the order service's HTTP API: the spec's contract plus a streamed CSV
// export for admins. Errors are RFC 9457 problem details; handlers decode, call the
// application, and map its errors in one place (fail).
package ports

import (
	"errors"
	"log/slog"
	"net/http"
	"regexp"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/caasdemo/orderdemo/services/order/internal/app"
	"github.com/caasdemo/orderdemo/services/order/internal/domain"
	"github.com/caasdemo/orderdemo/services/platform/authtoken"
	"github.com/caasdemo/orderdemo/services/platform/httpserver"
	"github.com/caasdemo/orderdemo/services/platform/problem"
	"github.com/caasdemo/orderdemo/services/platform/requestid"
)

// maxBody bounds request bodies (16 KiB); larger is 413.
const maxBody = 16 << 10

// HTTP serves the order API.
type HTTP struct {
	app      *app.App
	verifier *authtoken.Verifier
	limit    func(http.Handler) http.Handler
	log      *slog.Logger
}

// NewHTTP returns the handlers; limit counts each verified request against its user's rate
// limit (see ratelimit).
func NewHTTP(a *app.App, v *authtoken.Verifier, limit func(http.Handler) http.Handler, log *slog.Logger) *HTTP {
	return &HTTP{app: a, verifier: v, limit: limit, log: log}
}

// Routes mounts the whole surface of the service. Every route needs a valid token; the
// scope decides who may call it, and every request counts against its user's rate limit.
func (h *HTTP) Routes(r chi.Router) {
	r.Group(func(r chi.Router) {
		r.Use(h.verifier.Require(authtoken.ScopeUserOrders, h.log), h.limit)
		r.Post("/orders", h.create)
		r.Get("/orders/me", h.mine)
		r.Get("/orders/{id}", h.get)
	})
	r.Group(func(r chi.Router) {
		r.Use(h.verifier.Require(authtoken.ScopeAdminOrders, h.log), h.limit)
		r.Get("/orders", h.list)
		r.Get("/orders/export.csv", h.export)
		r.Patch("/orders/{id}", h.decide)
	})
}

// orderJSON is an order as the API shows it.
type orderJSON struct {
	ID        string     `json:"id"`
	UserID    string     `json:"user_id"`
	Username  string     `json:"username"`
	ItemName  string     `json:"item_name"`
	Quantity  int        `json:"quantity"`
	Notes     string     `json:"notes"`
	Status    string     `json:"status"`
	CreatedAt time.Time  `json:"created_at"`
	UpdatedAt time.Time  `json:"updated_at"`
	DecidedBy *string    `json:"decided_by"`
	DecidedAt *time.Time `json:"decided_at"`
}

func toJSON(s domain.Snapshot) orderJSON {
	o := orderJSON{ID: s.ID, UserID: s.Owner.UserID, Username: s.Owner.Username, ItemName: s.ItemName, Quantity: s.Quantity,
		Notes: s.Notes, Status: string(s.Status), CreatedAt: s.CreatedAt, UpdatedAt: s.UpdatedAt, DecidedAt: s.DecidedAt}
	if s.DecidedBy != nil {
		o.DecidedBy = &s.DecidedBy.Username
	}
	return o
}

type listJSON struct {
	Orders []orderJSON `json:"orders"`
	Total  int         `json:"total"`
}

func toList(list []domain.Snapshot, total int) listJSON {
	out := listJSON{Orders: make([]orderJSON, len(list)), Total: total}
	for i, s := range list {
		out.Orders[i] = toJSON(s)
	}
	return out
}

func viewer(r *http.Request) app.Viewer {
	c, _ := authtoken.FromContext(r.Context())
	return app.Viewer{UserID: c.UserID, Username: c.Username, IsAdmin: c.HasScope(authtoken.ScopeAdminOrders)}
}

type createRequest struct {
	ItemName *string `json:"item_name"`
	Quantity *int    `json:"quantity"`
	Notes    string  `json:"notes"`
}

var idempotencyKey = regexp.MustCompile(`^[\x21-\x7e]{1,255}$`)

func (h *HTTP) create(w http.ResponseWriter, r *http.Request) {
	var req createRequest
	if err := httpserver.DecodeJSON(w, r, &req, maxBody); err != nil {
		h.fail(w, r, err)
		return
	}
	var missing domain.ValidationError
	if req.ItemName == nil {
		missing = append(missing, domain.FieldError{Field: "item_name", Rule: "is required"})
	}
	if req.Quantity == nil {
		missing = append(missing, domain.FieldError{Field: "quantity", Rule: "is required"})
	}
	if len(missing) > 0 {
		h.fail(w, r, missing)
		return
	}
	key := r.Header.Get("Idempotency-Key")
	if key != "" && !idempotencyKey.MatchString(key) {
		h.fail(w, r, problem.Validation(problem.FieldError{Field: "Idempotency-Key", Rule: "must be 1–255 printable ASCII characters"}))
		return
	}
	s, created, err := h.app.Create(r.Context(), viewer(r), domain.Draft{ItemName: *req.ItemName, Quantity: *req.Quantity, Notes: req.Notes},
		key, requestid.FromContext(r.Context()))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if !created {
		w.Header().Set("Idempotent-Replayed", "true")
	}
	w.Header().Set("Location", "/orders/"+s.ID)
	problem.WriteJSON(w, http.StatusCreated, map[string]any{"order_id": s.ID, "status": s.Status, "created_at": s.CreatedAt})
}

func (h *HTTP) mine(w http.ResponseWriter, r *http.Request) {
	q, err := parseQuery(r, false)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	list, total, err := h.app.Mine(r.Context(), viewer(r), q.Status, q.Limit, q.Offset)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	problem.WriteJSON(w, http.StatusOK, toList(list, total))
}

func (h *HTTP) get(w http.ResponseWriter, r *http.Request) {
	id := chi.URLParam(r, "id")
	if !isUUID(id) {
		h.fail(w, r, domain.ErrNotFound)
		return
	}
	s, err := h.app.Get(r.Context(), viewer(r), id)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	problem.WriteJSON(w, http.StatusOK, toJSON(s))
}

func (h *HTTP) list(w http.ResponseWriter, r *http.Request) {
	f, err := parseQuery(r, true)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	list, total, err := h.app.List(r.Context(), f)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	problem.WriteJSON(w, http.StatusOK, toList(list, total))
}

type decideRequest struct {
	Status string `json:"status"`
}

func (h *HTTP) decide(w http.ResponseWriter, r *http.Request) {
	id := chi.URLParam(r, "id")
	var req decideRequest
	if err := httpserver.DecodeJSON(w, r, &req, maxBody); err != nil {
		h.fail(w, r, err)
		return
	}
	if _, err := domain.ParseDecision(req.Status); err != nil {
		h.fail(w, r, err)
		return
	}
	if !isUUID(id) {
		h.fail(w, r, domain.ErrNotFound)
		return
	}
	s, err := h.app.Decide(r.Context(), viewer(r), id, req.Status, requestid.FromContext(r.Context()))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	problem.WriteJSON(w, http.StatusOK, map[string]any{"order_id": s.ID, "status": s.Status, "updated_at": s.UpdatedAt,
		"decided_by": s.DecidedBy.Username})
}

// fail maps the application's errors to problems: the one place that knows both.
func (h *HTTP) fail(w http.ResponseWriter, r *http.Request, err error) {
	switch {
	case errors.Is(err, domain.ErrNotFound):
		err = problem.New(http.StatusNotFound, "no such order")
	case errors.Is(err, domain.ErrNotPending):
		err = problem.New(http.StatusConflict, "the order was already decided")
	case errors.Is(err, app.ErrKeyConflict):
		err = problem.New(http.StatusUnprocessableEntity, "this Idempotency-Key was used with a different request")
	}
	problem.Write(w, r, h.log, err)
}

var uuidPattern = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

func isUUID(s string) bool { return uuidPattern.MatchString(s) }
