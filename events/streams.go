package events

import (
	"strings"
	"time"
)

// Stream describes one JetStream stream. The transport code turns it into a stream
// configuration; the values live here so the contract, the code and docs/events.md agree.
type Stream struct {
	Name        string
	Subjects    []string
	Description string
	// Duplicates is the window in which JetStream drops a second message with the same
	// Nats-Msg-Id (the event id). It must outlast the longest outage the outbox relay
	// retries through without losing track of what it already published.
	Duplicates time.Duration
}

// The streams, one per producing service. Both keep every event (no age or count limit) so
// projections can be rebuilt from sequence 1.
var (
	AuthStream = Stream{
		Name:        "AUTH",
		Subjects:    []string{"auth.>"},
		Description: "Events of the auth service: registrations, logins, failed logins, logouts.",
		Duplicates:  10 * time.Minute,
	}
	OrdersStream = Stream{
		Name:        "ORDERS",
		Subjects:    []string{"orders.>"},
		Description: "Events of the order service: orders created, approved and rejected.",
		Duplicates:  10 * time.Minute,
	}
)

// Streams lists every stream.
func Streams() []Stream { return []Stream{AuthStream, OrdersStream} }

// The subject scheme:
//
//	auth.<event>.<user_id>               auth.registered.7c0e…  (user_id "unknown" for a failed
//	                                     login of a user that does not exist)
//	orders.<event>.<user_id>.<order_id>  orders.approved.7c0e….91ab…
//
// so a nats CLI user can filter by event (orders.created.>), by owner (orders.*.<user_id>.*)
// or by order (orders.*.*.<order_id>).

func authSubject(event, userID string) string {
	return "auth." + event + "." + token(orUnknown(userID))
}

func orderSubject(event, userID, orderID string) string {
	return "orders." + event + "." + token(userID) + "." + token(orderID)
}

// OrderSubjectFilter matches every event of one order.
func OrderSubjectFilter(orderID string) string { return "orders.*.*." + token(orderID) }

// UserOrdersSubjectFilter matches every order event of one user.
func UserOrdersSubjectFilter(userID string) string { return "orders.*." + token(userID) + ".*" }

// token keeps a subject token well formed: ids are UUIDs, but a stray '.', '*', '>' or
// space would change what the subject matches.
func token(s string) string {
	if s == "" {
		return "_"
	}
	return strings.Map(func(r rune) rune {
		switch r {
		case '.', '*', '>', ' ', '\t', '\n', '\r':
			return '_'
		}
		return r
	}, s)
}
