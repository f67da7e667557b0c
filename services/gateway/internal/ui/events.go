package ui

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/caasdemo/orderdemo/events"
	"github.com/caasdemo/orderdemo/services/gateway/internal/live"
	"github.com/caasdemo/orderdemo/services/gateway/internal/session"
	"github.com/caasdemo/orderdemo/services/gateway/internal/sse"
	"github.com/caasdemo/orderdemo/services/gateway/internal/upstream"
)

// heartbeat keeps proxies from closing an idle stream, and is when the session is checked.
const heartbeat = 15 * time.Second

// Names of the events that end a stream. The pages close their EventSource on stream-closed
// (sse-close), so a stream replaced by a newer one does not reconnect and replace another.
const (
	eventSessionEnded = "session-ended"
	eventStreamClosed = "stream-closed"
)

// Events is GET /events: a Server-Sent Events stream of the changes to the user's orders
// (an admin's: every order), each a server-rendered fragment htmx swaps in place. Event ids
// are stream sequences: a reconnect with Last-Event-ID first replays what was missed. The
// answer begins once the stream is subscribed to the live feed. The stream ends when the
// session ends (logout, expiry), the hub drops a slow client, the session opens more
// streams than allowed (the oldest is closed), or the replay cannot send all that was
// missed (see replayMissed).
func (u *UI) Events(w http.ResponseWriter, r *http.Request) {
	s := currentSession(r)
	rc := http.NewResponseController(w)
	if err := rc.SetWriteDeadline(time.Time{}); err != nil {
		u.log.WarnContext(r.Context(), "cannot clear the write deadline of the event stream", "error", err)
	}
	// An admin's own pages follow their own orders; the admin pages follow everything.
	adminView := s.IsAdmin && r.URL.Query().Get("view") == "admin"
	sub, joined := u.feed.Subscribe(s.UserID, s.ID, adminView)
	defer u.hub.Unsubscribe(sub)

	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	out := sse.NewWriter(w, rc.Flush)
	_ = out.Retry(2 * time.Second)

	var sent uint64
	if after, ok := resumePosition(r); ok {
		// A position past the feed's when the stream subscribed (a stale or forged
		// Last-Event-ID) counts as the feed's. Taken as it is, it would hide every later
		// event; bounded by the stream's end instead, it would pass events the feed had yet
		// to hand to the subscriber, which would then be skipped as already sent.
		after = min(after, joined)
		var more bool
		if sent, more = u.replayMissed(r.Context(), out, after, s.UserID, adminView); !more {
			return
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
				if u.hub.Replaced(sub) {
					u.log.InfoContext(r.Context(), "event stream replaced by a newer one of the session", "user_id", s.UserID)
					_ = out.Event("", eventStreamClosed, "")
					return
				}
				u.log.InfoContext(r.Context(), "slow event stream dropped", "user_id", s.UserID)
				return
			}
			if e.Kind == "" && e.Seq <= sent {
				continue // already replayed
			}
			if err := u.send(r.Context(), out, *e, adminView); err != nil {
				return
			}
			if e.Kind == "" {
				sent = e.Seq
			}
		case <-tick.C:
			_, err := u.sessions.Get(r.Context(), s.ID)
			if errors.Is(err, session.ErrNotFound) {
				_ = out.Event("", eventSessionEnded, "")
				return
			}
			if err != nil { // the session store is away: the session may well live on
				u.log.WarnContext(r.Context(), "session not checked at a heartbeat", "error", err)
			}
			if err := out.Comment("heartbeat"); err != nil {
				return
			}
		}
	}
}

// replayMissed sends the events after sequence after that the stream missed and returns the
// last one sent (after, when none). more is false when the stream must end instead of going
// on live: the browser then reconnects (after the retry delay) with the Last-Event-ID it
// has, so nothing is lost. That is when the browser is gone, when more events were missed
// than one replay sends (this batch is sent; the next replay starts after it), and when the
// replay failed (NATS away or slow): then nothing is sent, as an event sent now would move
// the browser's Last-Event-ID past the ones the replay could not read.
func (u *UI) replayMissed(ctx context.Context, out *sse.Writer, after uint64, userID string, admin bool) (sent uint64, more bool) {
	rctx, cancel := context.WithTimeout(ctx, u.replayTimeout)
	missed, err := live.Replay(rctx, u.js, after, userID, admin)
	cancel()
	tooFar := errors.Is(err, live.ErrTooFarBehind)
	if err != nil && !tooFar {
		u.log.WarnContext(ctx, "replay for a resuming event stream failed; the stream ends for the browser to retry",
			"after", after, "error", err)
		return after, false
	}
	sent = after
	for _, e := range missed {
		if err := u.send(ctx, out, e, admin); err != nil {
			return sent, false
		}
		sent = e.Seq
	}
	if tooFar {
		u.log.InfoContext(ctx, "resuming event stream too far behind; it ends after a batch to resume from there",
			"after", after, "sent", sent)
		return sent, false
	}
	return sent, true
}

// resumePosition is where a stream resumes: the browser's Last-Event-ID after a reconnect,
// or on the first connection the stream position the page was rendered at (?after=). A
// value that is not a sequence number counts as absent.
func resumePosition(r *http.Request) (uint64, bool) {
	for _, v := range []string{r.Header.Get("Last-Event-ID"), r.URL.Query().Get("after")} {
		if seq, err := strconv.ParseUint(strings.TrimSpace(v), 10, 64); err == nil {
			return seq, true
		}
	}
	return 0, false
}

// send writes one event: its name is what the page listens for, its data the fragment. On
// the admin pages an order event updates the review queue; on a user's page, their list.
func (u *UI) send(ctx context.Context, out *sse.Writer, e live.Event, admin bool) error {
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
		u.log.ErrorContext(ctx, "render a live update", "event", name, "error", err)
		return err
	}
	id := ""
	if e.Kind == "" {
		id = strconv.FormatUint(e.Seq, 10)
	}
	err := out.Event(id, name, buf.String())
	if errors.Is(err, sse.ErrLineBreak) { // an order id with a line break: not an order of ours
		u.log.WarnContext(ctx, "live update with a line break in its name skipped", "seq", e.Seq)
		return nil
	}
	return err
}

func decided(d events.OrderDecision, status string) upstream.Order {
	return upstream.Order{ID: d.OrderID, UserID: d.UserID, Status: status, DecidedBy: &d.AdminUsername, DecidedAt: &d.DecidedAt}
}
