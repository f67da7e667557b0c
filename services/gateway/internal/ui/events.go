package ui

import (
	"bytes"
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
	sub := u.hub.Subscribe(s.UserID, s.IsAdmin)
	defer u.hub.Unsubscribe(sub)

	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	_, _ = fmt.Fprint(w, "retry: 2000\n\n")
	_ = rc.Flush()

	var sent uint64
	if last, err := strconv.ParseUint(r.Header.Get("Last-Event-ID"), 10, 64); err == nil && last > 0 {
		missed, err := live.Replay(r.Context(), u.js, last, s.UserID, s.IsAdmin)
		if err != nil {
			u.log.WarnContext(r.Context(), "replay for a reconnecting browser failed", "error", err)
		}
		sent = last
		for _, e := range missed {
			if err := u.send(w, rc, e); err != nil {
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
			if e.Seq <= sent {
				continue // already replayed
			}
			if err := u.send(w, rc, e); err != nil {
				return
			}
			sent = e.Seq
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

// send writes one event: its name is what the page listens for, its data the fragment.
func (u *UI) send(w http.ResponseWriter, rc *http.ResponseController, e live.Event) error {
	name, block, data := "", "", any(nil)
	switch p := e.Payload.(type) {
	case *events.OrderCreated:
		name, block = "order-created", "order-row"
		data = upstream.Order{ID: p.OrderID, UserID: p.UserID, Username: p.Username, ItemName: p.ItemName,
			Quantity: p.Quantity, Notes: p.Notes, Status: p.Status, CreatedAt: p.CreatedAt}
	case *events.OrderApproved:
		name, block, data = "order-"+p.OrderID, "order-status", decided(events.OrderDecision(*p), "approved")
	case *events.OrderRejected:
		name, block, data = "order-"+p.OrderID, "order-status", decided(events.OrderDecision(*p), "rejected")
	default:
		return nil
	}
	var buf bytes.Buffer
	if err := u.pages.Render(&buf, "orders", block, data); err != nil {
		u.log.Error("render a live update", "event", name, "error", err)
		return err
	}
	frag := strings.ReplaceAll(buf.String(), "\n", " ")
	if _, err := fmt.Fprintf(w, "id: %d\nevent: %s\ndata: %s\n\n", e.Seq, name, frag); err != nil {
		return err
	}
	return rc.Flush()
}

func decided(d events.OrderDecision, status string) upstream.Order {
	return upstream.Order{ID: d.OrderID, UserID: d.UserID, Status: status, DecidedBy: &d.AdminUsername, DecidedAt: &d.DecidedAt}
}
