package ui

import (
	"errors"
	"net/http"
	"strconv"

	"github.com/caasdemo/orderdemo/services/gateway/internal/session"
	"github.com/caasdemo/orderdemo/services/gateway/internal/upstream"
	"github.com/caasdemo/orderdemo/services/platform/problem"
)

// pageSize is how many orders a page of the history shows: the spec paginates beyond 20.
const pageSize = 20

// orderKeyField is the order form's hidden field holding the order's Idempotency-Key. It is
// made when the form is rendered and kept while the same order is tried again (after a
// validation error, or a service that did not answer in time — the order may have been
// placed all the same): sending such a form again returns the order the first sending
// placed, never a second one. A form for another order gets a new key.
const orderKeyField = "idempotency_key"

// NewOrderPage shows the order form, with a new key.
func (u *UI) NewOrderPage(w http.ResponseWriter, r *http.Request) {
	v := u.newView(r, "New order")
	v.Form[orderKeyField] = session.NewID()
	u.render(w, r, http.StatusOK, "order_new", "", v)
}

// CreateOrder places the order; to htmx it answers with the confirmation (or the form with
// its errors) to swap in, to a plain form post with a redirect.
func (u *UI) CreateOrder(w http.ResponseWriter, r *http.Request) {
	v := u.newView(r, "New order")
	for _, f := range []string{"item_name", "quantity", "notes", orderKeyField} {
		v.Form[f] = r.PostFormValue(f)
	}
	htmx := r.Header.Get("HX-Request") == "true"
	if !upstream.ValidIdempotencyKey(v.Form[orderKeyField]) {
		// A form without a usable key (altered, or rendered before forms had one) is not
		// sent: without its key, sending it again could place the order twice.
		v.Form[orderKeyField] = session.NewID()
		v.Error = "This form could not be sent as it was. Please check it and place the order again."
		u.renderOrderForm(w, r, htmx, http.StatusBadRequest, v)
		return
	}
	qty, err := strconv.Atoi(v.Form["quantity"])
	if err != nil {
		v.Fields["quantity"] = "Quantity must be a whole number from 1 to 100."
		u.renderOrderForm(w, r, htmx, http.StatusBadRequest, v)
		return
	}
	token, ok, err := u.token(r)
	if err != nil {
		u.orderFailed(w, r, htmx, v, err)
		return
	}
	if !ok {
		u.sessionEnded(w, r, htmx)
		return
	}
	created, err := u.orders.Create(r.Context(), token, v.Form[orderKeyField], v.Form["item_name"], qty, v.Form["notes"])
	var p *upstream.Problem
	switch {
	case err == nil:
		// The answer holds no form: the next order starts from a new form, with a new key.
		if !htmx {
			http.Redirect(w, r, "/orders", http.StatusSeeOther)
			return
		}
		v.Created = created
		u.render(w, r, http.StatusCreated, "order_new", "order-created", v)
	case errors.As(err, &p) && p.Status == http.StatusBadRequest:
		for f, rule := range p.Fields {
			v.Fields[f] = rule
		}
		if len(p.Fields) == 0 {
			v.Error = p.Detail
		}
		u.renderOrderForm(w, r, htmx, http.StatusBadRequest, v)
	case errors.As(err, &p) && p.Status == http.StatusUnprocessableEntity:
		// The key was used for another order: the form was sent before (it may have been
		// placed, unanswered) and then changed. It becomes a new form, for a new order.
		v.Form[orderKeyField] = session.NewID()
		v.Error = "This form was sent before with other details, and that order may have been placed: please check My orders. " +
			"Send the form again to place this one as a new order."
		u.renderOrderForm(w, r, htmx, http.StatusUnprocessableEntity, v)
	case errors.As(err, &p) && p.Status == http.StatusUnauthorized:
		u.sessionEnded(w, r, htmx)
	default:
		u.orderFailed(w, r, htmx, v, err)
	}
}

// orderFailed answers an order that failed. A dependency that is down or did not answer
// in time keeps the form, with its key, and 503 with Retry-After: the order may have been
// placed, and sending the form again is how the user finds out without placing it twice.
// Anything else is answered as any page's failure.
func (u *UI) orderFailed(w http.ResponseWriter, r *http.Request, htmx bool, v view, err error) {
	ue := problem.AsUnavailable(err)
	if ue == nil || r.Context().Err() != nil {
		u.upstreamFailed(w, r, err)
		return
	}
	u.log.WarnContext(r.Context(), "dependency unavailable", "dependency", ue.Dependency, "error", err)
	v.Error = upperFirst(dependencyName(ue.Dependency)) + " is not answering right now. Please send the form again in a moment."
	if ue.Dependency == u.orders.Name {
		v.Error = "The order service is not answering right now, so your order may or may not have been placed. " +
			"Please send the form again in a moment: it will not be placed twice."
	}
	setRetryAfter(w, problem.UnavailableRetryAfter)
	u.renderOrderForm(w, r, htmx, http.StatusServiceUnavailable, v)
}

func (u *UI) renderOrderForm(w http.ResponseWriter, r *http.Request, htmx bool, status int, v view) {
	block := ""
	if htmx {
		block = "order-form"
	}
	u.render(w, r, status, "order_new", block, v)
}

// sessionEnded sends the user back to the login page.
func (u *UI) sessionEnded(w http.ResponseWriter, r *http.Request, htmx bool) {
	u.clearCookie(w, sessionCookie)
	if htmx {
		w.Header().Set("HX-Redirect", "/login?m=expired")
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	http.Redirect(w, r, "/login?m=expired", http.StatusSeeOther)
}

// MyOrders shows the user's orders, newest first, with a status filter and pages; to htmx
// it answers with the table only.
func (u *UI) MyOrders(w http.ResponseWriter, r *http.Request) {
	v := u.newView(r, "My orders")
	v.Status = r.URL.Query().Get("status")
	switch v.Status {
	case "", "pending", "approved", "rejected":
	default:
		v.Status = ""
	}
	page, err := strconv.Atoi(r.URL.Query().Get("page"))
	if err != nil || page < 1 {
		page = 1
	}
	htmx := r.Header.Get("HX-Request") == "true"
	token, ok, err := u.token(r)
	if err != nil {
		u.upstreamFailed(w, r, err)
		return
	}
	if !ok {
		u.sessionEnded(w, r, htmx)
		return
	}
	v.LastSeq = u.feed.Last() // before reading the orders: see Feed.Last
	v.Page, err = u.orders.Mine(r.Context(), token, v.Status, pageSize, (page-1)*pageSize)
	var p *upstream.Problem
	if errors.As(err, &p) && p.Status == http.StatusUnauthorized {
		u.sessionEnded(w, r, htmx)
		return
	}
	if err != nil {
		u.upstreamFailed(w, r, err)
		return
	}
	if page > 1 {
		v.Prev = page - 1
	}
	if page*pageSize < v.Page.Total {
		v.Next = page + 1
	}
	v.LiveNew = page == 1 && (v.Status == "" || v.Status == "pending")
	block := ""
	if htmx && r.Header.Get("HX-Target") == "orders-table" {
		block = "orders-table"
	}
	u.render(w, r, http.StatusOK, "orders", block, v)
}

// NotFound is the friendly 404 page.
func (u *UI) NotFound(w http.ResponseWriter, r *http.Request) {
	u.fail(w, r, http.StatusNotFound, "There is no page at this address.")
}
