// Package live carries order events from JetStream to the browsers that should see them: a
// Feed reads the ORDERS stream from its live end, a Hub hands each event to the subscribers
// allowed to see it (the order's owner; admins see every order), and Replay fetches what a
// reconnecting browser missed. Event ids are stream sequences, so a browser's Last-Event-ID
// says exactly where it stopped.
package live

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/caasdemo/orderdemo/events"
)

// Event is an order event with its stream sequence, or (Kind set) a notice for admins: the
// statistics or a replay's progress, as JSON in Data.
type Event struct {
	Seq     uint64
	Env     events.Envelope
	Payload events.Payload
	OwnerID string
	Kind    string // "" for an order event; "stats" or "replay" for a notice
	Data    []byte
}

// owner is the user whose order the event is about.
func owner(p events.Payload) string {
	switch e := p.(type) {
	case *events.OrderCreated:
		return e.UserID
	case *events.OrderApproved:
		return e.UserID
	case *events.OrderRejected:
		return e.UserID
	}
	return ""
}

func decode(raw []byte, seq uint64) (Event, error) {
	env, err := events.Decode(raw)
	if err != nil {
		return Event{}, err
	}
	p, err := env.Payload()
	if err != nil {
		return Event{}, err
	}
	return Event{Seq: seq, Env: env, Payload: p, OwnerID: owner(p)}, nil
}

// Subscriber receives the events one browser may see. C is closed when the hub drops the
// subscriber (it fell behind), replaces it (its session opened too many streams) or it
// unsubscribes.
type Subscriber struct {
	C        chan *Event // shared by every subscriber it went to: read only
	userID   string
	session  string
	admin    bool
	dropped  bool
	replaced bool
}

// Hub fans events out to subscribers without ever waiting for one: a subscriber whose buffer
// is full is dropped (its browser reconnects and replays from its last event id), so a slow
// client never delays the others. Each session holds at most perSession subscribers: a new
// one past that replaces the session's oldest, so one login cannot pile up streams (and the
// buffer and goroutine each costs) without bound.
type Hub struct {
	mu         sync.Mutex
	subs       map[*Subscriber]struct{}
	bySession  map[string][]*Subscriber // oldest first
	size       int
	perSession int
}

// NewHub returns a hub giving each subscriber a buffer of size events and each session at
// most perSession subscribers (at least one).
func NewHub(size, perSession int) *Hub {
	return &Hub{subs: map[*Subscriber]struct{}{}, bySession: map[string][]*Subscriber{}, size: size, perSession: max(perSession, 1)}
}

// Subscribe registers a browser of userID in session sessionID (admin: all orders). When the
// session already has the most subscribers allowed, its oldest is replaced: closed, and
// Replaced says so.
func (h *Hub) Subscribe(userID, sessionID string, admin bool) *Subscriber {
	s := &Subscriber{C: make(chan *Event, h.size), userID: userID, session: sessionID, admin: admin}
	h.mu.Lock()
	defer h.mu.Unlock()
	for len(h.bySession[sessionID]) >= h.perSession {
		oldest := h.bySession[sessionID][0]
		oldest.replaced = true
		h.remove(oldest)
	}
	h.subs[s] = struct{}{}
	h.bySession[sessionID] = append(h.bySession[sessionID], s)
	return s
}

// Unsubscribe removes s; it is safe after s was dropped or replaced.
func (h *Hub) Unsubscribe(s *Subscriber) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.remove(s)
}

// remove takes s out of the hub and closes its channel, once; h.mu is held.
func (h *Hub) remove(s *Subscriber) {
	if _, ok := h.subs[s]; !ok {
		return
	}
	delete(h.subs, s)
	close(s.C)
	list := h.bySession[s.session]
	for i, other := range list {
		if other == s {
			list = append(list[:i:i], list[i+1:]...)
			break
		}
	}
	if len(list) == 0 {
		delete(h.bySession, s.session)
	} else {
		h.bySession[s.session] = list
	}
}

// Publish hands e to every subscriber allowed to see it (one copy, shared).
func (h *Hub) Publish(ev Event) {
	e := &ev
	h.mu.Lock()
	defer h.mu.Unlock()
	for s := range h.subs {
		if !s.admin && (e.Kind != "" || s.userID != e.OwnerID) {
			continue
		}
		select {
		case s.C <- e:
		default:
			s.dropped = true
			h.remove(s)
		}
	}
}

// Dropped reports whether the hub dropped s for falling behind.
func (h *Hub) Dropped(s *Subscriber) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return s.dropped
}

// Replaced reports whether the hub closed s because its session opened a newer stream past
// the limit.
func (h *Hub) Replaced(s *Subscriber) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return s.replaced
}

// Count is the number of subscribers.
func (h *Hub) Count() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.subs)
}

// Feed reads the ORDERS stream from its live end into the hub.
type Feed struct {
	js   jetstream.JetStream
	hub  *Hub
	log  *slog.Logger
	last atomic.Uint64 // the last sequence delivered, to resume after an interruption without a gap
}

// NewFeed returns a feed into hub that starts after the stream's current last message.
func NewFeed(ctx context.Context, js jetstream.JetStream, hub *Hub, log *slog.Logger) (*Feed, error) {
	st, err := js.Stream(ctx, events.OrdersStream.Name) // fetches the stream's info
	if err != nil {
		return nil, fmt.Errorf("live feed: %w", err)
	}
	f := &Feed{js: js, hub: hub, log: log.With("component", "live-feed")}
	f.last.Store(st.CachedInfo().State.LastSeq)
	return f, nil
}

// Last is the sequence of the last event the feed has delivered (at first, the stream's
// last sequence when the feed was made). A page rendered now opens its event stream after
// it: nothing the page may not show is missed, and the stream never asks NATS per page.
// Events the page already shows may come again; they change nothing.
func (f *Feed) Last() uint64 { return f.last.Load() }

// Subscribe subscribes a browser's stream to the feed's hub (see Hub.Subscribe) and returns
// the feed's position just before: every later event the browser may see either comes
// through the subscriber or was already in the stream for Replay to read after that
// position (an event the feed delivers meanwhile is in both, and must be sent once). A
// position read after subscribing could pass an event the subscriber is yet to get.
func (f *Feed) Subscribe(userID, sessionID string, admin bool) (sub *Subscriber, joined uint64) {
	joined = f.last.Load()
	return f.hub.Subscribe(userID, sessionID, admin), joined
}

// Run delivers new events until ctx ends. An ordered consumer keeps no state on the server
// and recreates itself after a disconnect, resuming where it was.
func (f *Feed) Run(ctx context.Context) error {
	for {
		err := f.run(ctx)
		if ctx.Err() != nil {
			return nil
		}
		f.log.Warn("live feed interrupted; restarting", "error", err)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(time.Second):
		}
	}
}

func (f *Feed) run(ctx context.Context) error {
	// Always from the sequence after the last delivered, even at 0 (an empty stream when
	// the feed was made): "new" events would be those after the consumer starts, passing
	// any published since the feed's position was read.
	cfg := jetstream.OrderedConsumerConfig{DeliverPolicy: jetstream.DeliverByStartSequencePolicy, OptStartSeq: f.last.Load() + 1}
	cons, err := f.js.OrderedConsumer(ctx, events.OrdersStream.Name, cfg)
	if err != nil {
		return err
	}
	cc, err := cons.Consume(func(msg jetstream.Msg) {
		md, err := msg.Metadata()
		if err != nil {
			return
		}
		e, err := decode(msg.Data(), md.Sequence.Stream)
		if err != nil {
			f.log.Warn("undecodable order event skipped", "seq", md.Sequence.Stream, "error", err)
		} else {
			f.hub.Publish(e)
		}
		f.last.Store(md.Sequence.Stream) // after the hub has it: a page that reads it gets it live
	})
	if err != nil {
		return err
	}
	defer cc.Stop()
	<-ctx.Done()
	return nil
}

// maxReplay bounds what one replay returns; a browser further behind catches up in batches.
const maxReplay = 1000

// ErrTooFarBehind: more events were missed than one replay returns. The events returned are
// the oldest missed, in order; the rest follow a replay after the last of them.
var ErrTooFarBehind = errors.New("too many missed events to replay at once")

// Notices forwards the audit service's core NATS notices (statistics, replay progress) to
// the admins' streams. The returned function unsubscribes.
func Notices(nc *nats.Conn, hub *Hub, subjects map[string]string) (func(), error) {
	var subs []*nats.Subscription
	stop := func() {
		for _, s := range subs {
			_ = s.Unsubscribe()
		}
	}
	for subject, kind := range subjects {
		s, err := nc.Subscribe(subject, func(m *nats.Msg) { hub.Publish(Event{Kind: kind, Data: m.Data}) })
		if err != nil {
			stop()
			return nil, err
		}
		subs = append(subs, s)
	}
	return stop, nil
}

// Replay returns the events after sequence after that userID may see (admin: all), up to
// the stream's current end, in order, at most maxReplay of them (then with ErrTooFarBehind).
// It reads them with direct gets of the next message on the user's subjects, so the events
// of other users are never read. On any other error the events returned are only those
// read before it. after is taken as it is: the caller bounds a position a browser sent (see
// Feed.Subscribe), as one past the stream's end would return nothing, ever.
func Replay(ctx context.Context, js jetstream.JetStream, after uint64, userID string, admin bool) ([]Event, error) {
	st, err := js.Stream(ctx, events.OrdersStream.Name)
	if err != nil {
		return nil, fmt.Errorf("replay: %w", err)
	}
	filter := "orders.>"
	if !admin {
		filter = events.UserOrdersSubjectFilter(userID)
	}
	var out []Event
	for seq := after + 1; ; {
		msg, err := st.GetMsg(ctx, seq, jetstream.WithGetMsgSubject(filter))
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			return out, nil
		}
		if err != nil {
			return out, fmt.Errorf("replay: %w", err)
		}
		if len(out) == maxReplay {
			return out, ErrTooFarBehind
		}
		if e, err := decode(msg.Data, msg.Sequence); err == nil {
			out = append(out, e)
		}
		seq = msg.Sequence + 1
	}
}
