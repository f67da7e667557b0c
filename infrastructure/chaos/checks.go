package chaos

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/caasdemo/orderdemo/events"
)

// Counts is what one check found. Every field but the acknowledged totals and ReadyAfter
// must be zero.
type Counts struct {
	Fault string

	OrdersAcked, DecisionsAcked, UsersAcked int // acknowledged so far, in all

	OrdersMissing    int // acknowledged orders not in the database
	DecisionsMissing int // acknowledged decisions the database does not hold
	UsersMissing     int // acknowledged registrations not in the database
	EventsMissing    int // orders (and their decisions) and users without their event on the stream
	DuplicateEvents  int // event ids found more than once on the streams
	ProjectionDiff   int // orders whose projection row is missing or has another status
	Unpublished      int // outbox rows not yet published
	LiveMissed       int // updates of a watched user's orders their browser never received
	Hung             int64
	Refused          int // operations answered with an error a retry cannot mend (a 500, a 409)
	Unfinished       int // operations still failing when the careful client gave up
	Exited           []string
	ReadyAfter       time.Duration // from the end of the fault until every /ready is 200
	Note             string
}

// Clean reports whether nothing was lost, doubled, refused or left hanging.
func (c Counts) Clean() bool {
	return c.OrdersMissing+c.DecisionsMissing+c.UsersMissing+c.EventsMissing+c.DuplicateEvents+c.ProjectionDiff+
		c.Unpublished+c.LiveMissed+c.Refused+c.Unfinished == 0 && c.Hung == 0 && len(c.Exited) == 0
}

// streamIndex is everything read from the streams so far.
type streamIndex struct {
	js      jetstream.JetStream
	next    map[string]uint64 // stream → next sequence to read
	ids     map[string]int    // event id → times seen
	created map[string]bool   // order id
	decided map[string]string // order id → status of its decision event
	users   map[string]bool   // user id with a UserRegistered event
}

func newStreamIndex(nc *nats.Conn) (*streamIndex, error) {
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, err
	}
	return &streamIndex{js: js, next: map[string]uint64{}, ids: map[string]int{}, created: map[string]bool{},
		decided: map[string]string{}, users: map[string]bool{}}, nil
}

// catchUp reads what the streams gained since the last call.
func (x *streamIndex) catchUp(ctx context.Context) error {
	for _, name := range []string{events.OrdersStream.Name, events.AuthStream.Name} {
		if err := x.read(ctx, name); err != nil {
			return fmt.Errorf("read %s: %w", name, err)
		}
	}
	return nil
}

func (x *streamIndex) read(ctx context.Context, name string) error {
	st, err := x.js.Stream(ctx, name)
	if err != nil {
		return err
	}
	last := st.CachedInfo().State.LastSeq
	start := max(x.next[name], 1)
	if last < start {
		return nil
	}
	cons, err := x.js.OrderedConsumer(ctx, name, jetstream.OrderedConsumerConfig{
		DeliverPolicy: jetstream.DeliverByStartSequencePolicy, OptStartSeq: start})
	if err != nil {
		return err
	}
	for x.next[name] <= last {
		batch, err := cons.Fetch(500, jetstream.FetchMaxWait(2*time.Second))
		if err != nil {
			return err
		}
		n := 0
		for msg := range batch.Messages() {
			n++
			md, err := msg.Metadata()
			if err != nil {
				return err
			}
			x.note(msg.Subject(), msg.Headers().Get("Nats-Msg-Id"), msg.Headers().Get("Ce-Type"))
			x.next[name] = md.Sequence.Stream + 1
		}
		if batch.Error() != nil && !errors.Is(batch.Error(), context.DeadlineExceeded) {
			return batch.Error()
		}
		if n == 0 && ctx.Err() != nil {
			return ctx.Err()
		}
	}
	return nil
}

// note indexes one message by its subject: orders.<event>.<user>.<order>, auth.<event>.<user>.
func (x *streamIndex) note(subject, id, typ string) {
	x.ids[id]++
	parts := strings.Split(subject, ".")
	switch {
	case len(parts) == 4 && parts[1] == "created":
		x.created[parts[3]] = true
	case len(parts) == 4 && (parts[1] == "approved" || parts[1] == "rejected"):
		x.decided[parts[3]] = parts[1]
	case len(parts) == 3 && typ == "UserRegistered":
		x.users[parts[2]] = true
	}
}

// duplicates counts event ids seen more than once.
func (x *streamIndex) duplicates() int {
	n := 0
	for _, c := range x.ids {
		if c > 1 {
			n += c - 1
		}
	}
	return n
}

// check compares what the clients were told with the database, the streams, the
// projection and the browsers.
func (r *Run) check(ctx context.Context, c *Counts) error {
	snap := r.load.Snapshot()
	c.OrdersAcked, c.DecisionsAcked, c.UsersAcked = len(snap.Orders), len(snap.Decisions), len(snap.Registered)
	c.Hung = snap.Hung - r.prev.Hung
	c.Refused, c.Unfinished = snap.Refused-r.prev.Refused, snap.Unfinished-r.prev.Unfinished
	c.Exited = r.sys.Exited()

	qctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	db, err := pgx.Connect(qctx, r.sys.DatabaseURL)
	if err != nil {
		return fmt.Errorf("connect to PostgreSQL: %w", err)
	}
	defer db.Close(context.Background())

	orders := map[string][2]string{} // id → owner, status
	rows, err := db.Query(qctx, `SELECT id::text, user_id::text, status FROM orders.orders`)
	if err != nil {
		return err
	}
	for rows.Next() {
		var id, owner, status string
		if err := rows.Scan(&id, &owner, &status); err != nil {
			return err
		}
		orders[id] = [2]string{owner, status}
	}
	if err := rows.Err(); err != nil {
		return err
	}
	users := map[string]string{} // username → id
	rows, err = db.Query(qctx, `SELECT username, id::text FROM auth.users`)
	if err != nil {
		return err
	}
	for rows.Next() {
		var name, id string
		if err := rows.Scan(&name, &id); err != nil {
			return err
		}
		users[name] = id
	}
	if err := rows.Err(); err != nil {
		return err
	}

	c.OrdersMissing, c.DecisionsMissing, c.UsersMissing = 0, 0, 0
	for id := range snap.Orders {
		if _, ok := orders[id]; !ok {
			c.OrdersMissing++
		}
	}
	for id, status := range snap.Decisions {
		if orders[id][1] != status {
			c.DecisionsMissing++
		}
	}
	for _, name := range snap.Registered {
		if _, ok := users[name]; !ok {
			c.UsersMissing++
		}
	}

	if err := db.QueryRow(qctx, `SELECT (SELECT count(*) FROM orders.outbox WHERE published_at IS NULL)
		+ (SELECT count(*) FROM auth.outbox WHERE published_at IS NULL)`).Scan(&c.Unpublished); err != nil {
		return err
	}
	if err := db.QueryRow(qctx, `SELECT count(*) FROM orders.orders o FULL JOIN audit.orders_view v ON v.order_id = o.id
		WHERE o.id IS NULL OR v.order_id IS NULL OR o.status <> v.status`).Scan(&c.ProjectionDiff); err != nil {
		return err
	}

	if err := r.streams.catchUp(qctx); err != nil {
		return err
	}
	c.EventsMissing = 0
	for id, o := range orders {
		if !r.streams.created[id] {
			c.EventsMissing++
		}
		if o[1] != "pending" && r.streams.decided[id] != o[1] {
			c.EventsMissing++
		}
	}
	for _, id := range users {
		if !r.streams.users[id] {
			c.EventsMissing++
		}
	}
	c.DuplicateEvents = r.streams.duplicates()

	c.LiveMissed = 0
	for _, w := range r.load.watchers {
		for id, o := range orders {
			if o[0] != w.a.id {
				continue
			}
			if !w.saw("created:" + id) {
				c.LiveMissed++
			}
			if o[1] != "pending" && !w.saw(o[1]+":"+id) {
				c.LiveMissed++
			}
		}
	}
	return nil
}

// settled reports whether everything that flows on by itself has arrived: the outbox is
// empty, the projection and the browsers have caught up.
func (c Counts) settled() bool {
	return c.Unpublished+c.ProjectionDiff+c.EventsMissing+c.LiveMissed == 0
}
