package ui

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/caasdemo/orderdemo/events"
	"github.com/caasdemo/orderdemo/services/gateway/internal/live"
	"github.com/caasdemo/orderdemo/services/gateway/internal/upstream"
)

// heartbeat keeps proxies from closing an idle stream, and is when the session is checked.
const heartbeat = 15 * time.Second

// Events is GET /events: a Server-Sent Events stream of the changes to the user's orders
// (an admin's: every order), each a server-rendered fragment htmx swaps in place. Event ids
// are stream sequences: a reconnect with Last-Event-ID first replays what was missed. The
// stream ends when the session ends (logout, expiry) or the hub drops a slow client.
func (u *UI) Events(w http.ResponseWriter, r *http.Request) {
	s := currentSession(r)
	rc := http.NewResponseController(w)
	if err := rc.SetWriteDeadline(time.Time{}); err != nil {
		u.log.WarnContext(r.Context(), "cannot clear the write deadline of the event stream", "error", err)
	}
	// An admin's own pages follow their own orders; the admin pages follow everything.
	adminView := s.IsAdmin && r.URL.Query().Get("view") == "admin"
	sub := u.hub.Subscribe(s.UserID, adminView)
	defer u.hub.Unsubscribe(sub)

	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	_, _ = fmt.Fprint(w, "retry: 2000\n\n")
	_ = rc.Flush()

	// Where to resume: the browser's Last-Event-ID after a reconnect, or on the first
	// connection the stream position the page was rendered at.
	resume := r.Header.Get("Last-Event-ID")
	if resume == "" {
		resume = r.URL.Query().Get("after")
	}
	var sent uint64
	if last, err := strconv.ParseUint(resume, 10, 64); err == nil {
		missed, err := live.Replay(r.Context(), u.js, last, s.UserID, adminView)
		if err != nil {
			u.log.WarnContext(r.Context(), "replay for a reconnecting browser failed", "error", err)
		}
		sent = last
		for _, e := range missed {
			if err := u.send(w, rc, e, adminView); err != nil {
				return
			}
			sent = e.Seq
		}
	}

	tick := time.NewTicker(heartbeat)
	defer tick.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case e, ok := <-sub.C:
			if !ok {
				u.log.InfoContext(r.Context(), "slow event stream dropped", "user_id", s.UserID)
				return
			}
			if e.Kind == "" && e.Seq <= sent {
				continue // already replayed
			}
			if err := u.send(w, rc, *e, adminView); err != nil {
				return
			}
			if e.Kind == "" {
				sent = e.Seq
			}
		case <-tick.C:
			if _, err := u.sessions.Get(r.Context(), s.ID); err != nil {
				_, _ = fmt.Fprint(w, "event: session-ended\ndata: \n\n")
				_ = rc.Flush()
				return
			}
			if _, err := fmt.Fprint(w, ": heartbeat\n\n"); err != nil {
				return
			}
			_ = rc.Flush()
		}
	}
}

// send writes one event: its name is what the page listens for, its data the fragment. On
// the admin pages an order event updates the review queue; on a user's page, their list.
func (u *UI) send(w http.ResponseWriter, rc *http.ResponseController, e live.Event, admin bool) error {
	page, name, block, data := "orders", "", "", any(nil)
	switch p := e.Payload.(type) {
	case *events.OrderCreated:
		o := upstream.Order{ID: p.OrderID, UserID: p.UserID, Username: p.Username, ItemName: p.ItemName,
			Quantity: p.Quantity, Notes: p.Notes, Status: p.Status, CreatedAt: p.CreatedAt}
		name, block, data = "order-created", "order-row", o
		if admin {
			page, name, block, data = "admin", "order-queued", "queue-row", queueRow{Order: o}
		}
	case *events.OrderApproved:
		name, block, data = "order-"+p.OrderID, "order-status", decided(events.OrderDecision(*p), "approved")
	case *events.OrderRejected:
		name, block, data = "order-"+p.OrderID, "order-status", decided(events.OrderDecision(*p), "rejected")
	}
	if d, ok := data.(upstream.Order); ok && admin && block == "order-status" {
		page, name, block, data = "admin", "queue-"+d.ID, "queue-action", queueRow{Order: d}
	}
	switch e.Kind {
	case "stats":
		var st upstream.Stats
		if err := json.Unmarshal(e.Data, &st); err != nil {
			return nil
		}
		page, name, block, data = "admin", "stats", "stats-panel", st
	case "replay":
		var rp upstream.Replay
		if err := json.Unmarshal(e.Data, &rp); err != nil {
			return nil
		}
		page, name, block, data = "admin_replay", "replay", "replay-progress", &rp
	}
	if name == "" {
		return nil
	}
	var buf bytes.Buffer
	if err := u.pages.Render(&buf, page, block, data); err != nil {
		u.log.Error("render a live update", "event", name, "error", err)
		return err
	}
	frag := strings.ReplaceAll(buf.String(), "\n", " ")
	id := ""
	if e.Kind == "" {
		id = fmt.Sprintf("id: %d\n", e.Seq)
	}
	if _, err := fmt.Fprintf(w, "%sevent: %s\ndata: %s\n\n", id, name, frag); err != nil {
		return err
	}
	return rc.Flush()
}

func decided(d events.OrderDecision, status string) upstream.Order {
	return upstream.Order{ID: d.OrderID, UserID: d.UserID, Status: status, DecidedBy: &d.AdminUsername, DecidedAt: &d.DecidedAt}
}
