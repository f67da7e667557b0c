package ui

import (
	"errors"
	"html/template"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/caasdemo/orderdemo/services/gateway/internal/upstream"
)

// adminView is what the admin pages get besides the common view.
type adminView struct {
	view
	Stats       upstream.Stats
	Queue       []queueRow
	Filter      map[string]string
	Query       template.URL // the filters, already encoded by url.Values, for links
	Entries     upstream.Entries
	History     upstream.History
	Replay      *upstream.Replay
	DeadLetters []upstream.DeadLetter
}

// queueRow is an order in the review queue, with a note when another admin decided it.
type queueRow struct {
	upstream.Order
	Note string
}

// RequireAdmin admits admins; others get the 403 page, anonymous visitors the login.
func (u *UI) RequireAdmin(next http.HandlerFunc) http.HandlerFunc {
	return u.RequireUser(func(w http.ResponseWriter, r *http.Request) {
		if !currentSession(r).IsAdmin {
			u.fail(w, r, http.StatusForbidden, "This page is for admins.")
			return
		}
		next(w, r)
	})
}

// adminToken is the session's access token, renewed when needed; false when the session ended
// (the response is then written).
func (u *UI) adminToken(w http.ResponseWriter, r *http.Request) (string, bool) {
	token, ok, err := u.token(r)
	if err != nil {
		u.upstreamFailed(w, r, err)
		return "", false
	}
	if !ok {
		u.sessionEnded(w, r, r.Header.Get("HX-Request") == "true")
		return "", false
	}
	return token, true
}

// keep copies the named query parameters that are set.
func keep(r *http.Request, names ...string) (url.Values, map[string]string) {
	q, m := url.Values{}, map[string]string{}
	for _, n := range names {
		if v := r.URL.Query().Get(n); v != "" {
			q.Set(n, v)
			m[n] = v
		}
	}
	return q, m
}

func pageOf(r *http.Request) int {
	p, err := strconv.Atoi(r.URL.Query().Get("page"))
	if err != nil || p < 1 {
		return 1
	}
	return p
}

const adminPageSize = 20

// Dashboard shows the statistics, the review queue and the search over all orders.
func (u *UI) Dashboard(w http.ResponseWriter, r *http.Request) {
	token, ok := u.adminToken(w, r)
	if !ok {
		return
	}
	v := adminView{view: u.newView(r, "Dashboard")}
	v.LastSeq = u.feed.Last() // before reading the orders: see Feed.Last
	var err error
	if v.Stats, err = u.audit.Stats(r.Context(), token); err != nil {
		u.upstreamFailed(w, r, err)
		return
	}
	queue, err := u.orders.List(r.Context(), token, url.Values{"status": {"pending"}, "sort": {"created_at"}, "order": {"asc"}, "limit": {"50"}})
	if err != nil {
		u.upstreamFailed(w, r, err)
		return
	}
	for _, o := range queue.Orders {
		v.Queue = append(v.Queue, queueRow{Order: o})
	}
	if !u.allOrders(w, r, token, &v) {
		return
	}
	u.render(w, r, http.StatusOK, "admin", "", v)
}

// AllOrders is the search over all orders, for htmx.
func (u *UI) AllOrders(w http.ResponseWriter, r *http.Request) {
	token, ok := u.adminToken(w, r)
	if !ok {
		return
	}
	v := adminView{view: u.newView(r, "Dashboard")}
	if u.allOrders(w, r, token, &v) {
		u.render(w, r, http.StatusOK, "admin", "admin-orders", v)
	}
}

var orderFilters = []string{"search", "status", "from", "to", "sort", "order"}

func (u *UI) allOrders(w http.ResponseWriter, r *http.Request, token string, v *adminView) bool {
	q, m := keep(r, orderFilters...)
	v.Filter, v.Query = m, template.URL(q.Encode())
	page := pageOf(r)
	list := url.Values{}
	for k, vals := range q {
		list[k] = vals
	}
	list.Set("limit", strconv.Itoa(adminPageSize))
	list.Set("offset", strconv.Itoa((page-1)*adminPageSize))
	var err error
	v.Page, err = u.orders.List(r.Context(), token, list)
	var p *upstream.Problem
	if errors.As(err, &p) && p.Status == http.StatusBadRequest {
		v.Error = p.Detail
		err = nil
	}
	if err != nil {
		u.upstreamFailed(w, r, err)
		return false
	}
	if page > 1 {
		v.Prev = page - 1
	}
	if page*adminPageSize < v.Page.Total {
		v.Next = page + 1
	}
	return true
}

// Decide approves or rejects from the queue and answers with the decided cell; a decision
// another admin made meanwhile is shown as such.
func (u *UI) Decide(w http.ResponseWriter, r *http.Request) {
	token, ok := u.adminToken(w, r)
	if !ok {
		return
	}
	id := chi.URLParam(r, "id")
	d, err := u.orders.Decide(r.Context(), token, id, r.PostFormValue("status"))
	var p *upstream.Problem
	switch {
	case err == nil:
		row := queueRow{Order: upstream.Order{ID: d.OrderID, Status: d.Status, DecidedBy: &d.DecidedBy, DecidedAt: &d.UpdatedAt}}
		u.render(w, r, http.StatusOK, "admin", "queue-action", row)
	case errors.As(err, &p) && p.Status == http.StatusConflict:
		o, err := u.orders.Get(r.Context(), token, id)
		if err != nil {
			u.upstreamFailed(w, r, err)
			return
		}
		u.render(w, r, http.StatusOK, "admin", "queue-action", queueRow{Order: o, Note: "(decided by another admin meanwhile)"})
	case errors.As(err, &p) && (p.Status == http.StatusNotFound || p.Status == http.StatusBadRequest):
		u.fail(w, r, p.Status, p.Detail)
	default:
		u.upstreamFailed(w, r, err)
	}
}

// pass streams an upstream CSV export to the browser.
func (u *UI) pass(w http.ResponseWriter, r *http.Request, c upstream.Client, path, filename string) {
	token, ok := u.adminToken(w, r)
	if !ok {
		return
	}
	resp, err := c.Stream(r.Context(), token, path)
	if err != nil {
		u.upstreamFailed(w, r, err)
		return
	}
	defer resp.Body.Close()
	_ = http.NewResponseController(w).SetWriteDeadline(time.Time{})
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="`+filename+`"`)
	_, _ = io.Copy(w, resp.Body)
}

// ExportOrders streams the CSV of the current filter.
func (u *UI) ExportOrders(w http.ResponseWriter, r *http.Request) {
	q, _ := keep(r, orderFilters...)
	u.pass(w, r, u.orders.Client, "/orders/export.csv?"+q.Encode(), "orders.csv")
}

var auditFilters = []string{"type", "actor", "subject", "from", "to"}

// AuditLog shows the audit log with its filters.
func (u *UI) AuditLog(w http.ResponseWriter, r *http.Request) {
	token, ok := u.adminToken(w, r)
	if !ok {
		return
	}
	q, m := keep(r, auditFilters...)
	v := adminView{view: u.newView(r, "Audit log"), Filter: m, Query: template.URL(q.Encode())}
	page := pageOf(r)
	list := url.Values{}
	for k, vals := range q {
		list[k] = vals
	}
	list.Set("limit", "50")
	list.Set("offset", strconv.Itoa((page-1)*50))
	var err error
	v.Entries, err = u.audit.Events(r.Context(), token, list)
	var p *upstream.Problem
	if errors.As(err, &p) && p.Status == http.StatusBadRequest {
		v.Error, err = p.Detail, nil
	}
	if err != nil {
		u.upstreamFailed(w, r, err)
		return
	}
	if page > 1 {
		v.Prev = page - 1
	}
	if page*50 < v.Entries.Total {
		v.Next = page + 1
	}
	u.render(w, r, http.StatusOK, "admin_audit", "", v)
}

// ExportAudit streams the audit log's CSV of the current filter.
func (u *UI) ExportAudit(w http.ResponseWriter, r *http.Request) {
	q, _ := keep(r, auditFilters...)
	u.pass(w, r, u.audit.Client, "/audit/events.csv?"+q.Encode(), "audit-log.csv")
}

// Timeline shows one order's events in order.
func (u *UI) Timeline(w http.ResponseWriter, r *http.Request) {
	token, ok := u.adminToken(w, r)
	if !ok {
		return
	}
	h, err := u.audit.OrderHistory(r.Context(), token, chi.URLParam(r, "id"))
	var p *upstream.Problem
	if errors.As(err, &p) && p.Status == http.StatusNotFound {
		u.fail(w, r, http.StatusNotFound, "No events are recorded for this order.")
		return
	}
	if err != nil {
		u.upstreamFailed(w, r, err)
		return
	}
	u.render(w, r, http.StatusOK, "admin_timeline", "", adminView{view: u.newView(r, "Order timeline"), History: h})
}

// ReplayPage shows the running or last replay and the button to start one.
func (u *UI) ReplayPage(w http.ResponseWriter, r *http.Request) {
	token, ok := u.adminToken(w, r)
	if !ok {
		return
	}
	last, err := u.audit.LastReplay(r.Context(), token)
	if err != nil {
		u.upstreamFailed(w, r, err)
		return
	}
	v := adminView{view: u.newView(r, "Replay"), Replay: last}
	if r.URL.Query().Get("m") == "running" {
		v.Error = "A replay is already running; wait for it to finish."
	}
	u.render(w, r, http.StatusOK, "admin_replay", "", v)
}

// ReplayStatus is the progress box alone: the page polls it while a replay runs, in case the
// stream's last progress event came before the page was listening.
func (u *UI) ReplayStatus(w http.ResponseWriter, r *http.Request) {
	token, ok := u.adminToken(w, r)
	if !ok {
		return
	}
	last, err := u.audit.LastReplay(r.Context(), token)
	if err != nil {
		u.upstreamFailed(w, r, err)
		return
	}
	u.render(w, r, http.StatusOK, "admin_replay", "replay-progress", last)
}

// StartReplay starts a rebuild; a second one while one runs is refused with a message.
func (u *UI) StartReplay(w http.ResponseWriter, r *http.Request) {
	token, ok := u.adminToken(w, r)
	if !ok {
		return
	}
	_, err := u.audit.StartReplay(r.Context(), token, r.PostFormValue("projection"), true)
	var p *upstream.Problem
	switch {
	case err == nil:
		http.Redirect(w, r, "/admin/replay", http.StatusSeeOther)
	case errors.As(err, &p) && p.Status == http.StatusConflict:
		http.Redirect(w, r, "/admin/replay?m=running", http.StatusSeeOther)
	default:
		u.upstreamFailed(w, r, err)
	}
}

// DeadLettersPage lists the parked events.
func (u *UI) DeadLettersPage(w http.ResponseWriter, r *http.Request) {
	token, ok := u.adminToken(w, r)
	if !ok {
		return
	}
	list, err := u.audit.DeadLetters(r.Context(), token)
	if err != nil {
		u.upstreamFailed(w, r, err)
		return
	}
	v := adminView{view: u.newView(r, "Dead letters"), DeadLetters: list}
	switch r.URL.Query().Get("m") {
	case "redriven":
		v.Flash = "The event was applied again."
	case "failed":
		v.Error = "The event failed again; it stays parked."
	}
	u.render(w, r, http.StatusOK, "admin_dead", "", v)
}

// Redrive applies a parked event again.
func (u *UI) Redrive(w http.ResponseWriter, r *http.Request) {
	token, ok := u.adminToken(w, r)
	if !ok {
		return
	}
	id, _ := strconv.ParseInt(chi.URLParam(r, "id"), 10, 64)
	err := u.audit.Redrive(r.Context(), token, id)
	var p *upstream.Problem
	switch {
	case err == nil:
		http.Redirect(w, r, "/admin/dead-letters?m=redriven", http.StatusSeeOther)
	case errors.As(err, &p) && p.Status < 500:
		http.Redirect(w, r, "/admin/dead-letters?m=failed", http.StatusSeeOther)
	default:
		u.upstreamFailed(w, r, err)
	}
}
