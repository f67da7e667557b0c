package ui

import (
	"errors"
	"net/http"
	"strconv"

	"github.com/caasdemo/orderdemo/services/gateway/internal/upstream"
)

// pageSize is how many orders a page of the history shows: the spec paginates beyond 20.
const pageSize = 20

// NewOrderPage shows the order form.
func (u *UI) NewOrderPage(w http.ResponseWriter, r *http.Request) {
	u.render(w, r, http.StatusOK, "order_new", "", u.newView(r, "New order"))
}

// CreateOrder places the order; to htmx it answers with the confirmation (or the form with
// its errors) to swap in, to a plain form post with a redirect.
func (u *UI) CreateOrder(w http.ResponseWriter, r *http.Request) {
	v := u.newView(r, "New order")
	for _, f := range []string{"item_name", "quantity", "notes"} {
		v.Form[f] = r.PostFormValue(f)
	}
	htmx := r.Header.Get("HX-Request") == "true"
	qty, err := strconv.Atoi(v.Form["quantity"])
	if err != nil {
		v.Fields["quantity"] = "Quantity must be a whole number from 1 to 100."
		u.renderOrderForm(w, r, htmx, http.StatusBadRequest, v)
		return
	}
	token, ok, err := u.token(r)
	if err != nil {
		u.upstreamFailed(w, r, err)
		return
	}
	if !ok {
		u.sessionEnded(w, r, htmx)
		return
	}
	created, err := u.orders.Create(r.Context(), token, v.Form["item_name"], qty, v.Form["notes"])
	var p *upstream.Problem
	switch {
	case err == nil:
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
	case errors.As(err, &p) && p.Status == http.StatusUnauthorized:
		u.sessionEnded(w, r, htmx)
	default:
		u.upstreamFailed(w, r, err)
	}
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
