package ports

import (
	"net/http"
	"strconv"
	"time"

	"github.com/caasdemo/orderdemo/services/order/internal/app"
	"github.com/caasdemo/orderdemo/services/order/internal/domain"
	"github.com/caasdemo/orderdemo/services/platform/problem"
	"github.com/caasdemo/orderdemo/services/platform/validation"
)

// Page sizes.
const (
	defaultLimit = 20
	maxLimit     = 100
)

// parseQuery reads the list parameters, naming every bad one. admin allows the filters only
// admins have (user_id, search, from, to, sort, order). search is the only free text, held
// to the shared rule for one line of text; every other parameter has a fixed form.
func parseQuery(r *http.Request, admin bool) (app.Filter, error) {
	q := r.URL.Query()
	f := app.Filter{Limit: defaultLimit}
	var bad []problem.FieldError
	fail := func(param, rule string) { bad = append(bad, problem.FieldError{Field: param, Rule: rule}) }

	if v := q.Get("status"); v != "" {
		st, ok := domain.ParseStatus(v)
		if !ok {
			fail("status", "must be pending, approved or rejected")
		}
		f.Status = st
	}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxLimit {
			fail("limit", "must be a whole number from 1 to 100")
		}
		f.Limit = n
	}
	if v := q.Get("offset"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			fail("offset", "must be a whole number, 0 or more")
		}
		f.Offset = n
	}
	if admin {
		if v := q.Get("user_id"); v != "" {
			if !isUUID(v) {
				fail("user_id", "must be a UUID")
			}
			f.UserID = v
		}
		if v := q.Get("search"); len(v) > 100 {
			fail("search", "must be at most 100 characters")
		} else if e := validation.Line("search", v); e != nil {
			bad = append(bad, e...)
		} else {
			f.Search = v
		}
		f.From = parseDate(q.Get("from"), false, func() { fail("from", "must be a date (2006-01-02) or a time (RFC 3339)") })
		f.To = parseDate(q.Get("to"), true, func() { fail("to", "must be a date (2006-01-02) or a time (RFC 3339)") })
		switch v := q.Get("sort"); v {
		case "", app.SortCreatedAt, app.SortUsername, app.SortStatus:
			f.Sort = v
		default:
			fail("sort", "must be created_at, username or status")
		}
		switch v := q.Get("order"); v {
		case "", "desc":
		case "asc":
			f.Asc = true
		default:
			fail("order", "must be asc or desc")
		}
	}
	if len(bad) > 0 {
		return app.Filter{}, problem.Validation(bad...)
	}
	return f, nil
}

// parseDate reads a date (a whole day, UTC) or an RFC 3339 time. A date in "to" includes
// that whole day, so from=to=2026-11-29 is that day's orders.
func parseDate(v string, end bool, bad func()) *time.Time {
	if v == "" {
		return nil
	}
	if t, err := time.Parse(time.DateOnly, v); err == nil {
		if end {
			t = t.AddDate(0, 0, 1)
		}
		return &t
	}
	if t, err := time.Parse(time.RFC3339, v); err == nil {
		return &t
	}
	bad()
	return nil
}
