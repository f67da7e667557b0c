package events

import (
	"slices"
	"time"
)

// Payload is the typed data of one event type.
type Payload interface {
	// EventType is the CloudEvents type, e.g. "OrderCreated".
	EventType() string
	// AggregateID is the id of the user or order the event is about: the envelope's subject.
	AggregateID() string
	// NATSSubject is the subject the event is published on.
	NATSSubject() string
}

// Event types.
const (
	TypeUserRegistered  = "UserRegistered"
	TypeUserLoggedIn    = "UserLoggedIn"
	TypeUserLoginFailed = "UserLoginFailed"
	TypeUserLoggedOut   = "UserLoggedOut"
	TypeOrderCreated    = "OrderCreated"
	TypeOrderApproved   = "OrderApproved"
	TypeOrderRejected   = "OrderRejected"
)

// registry maps each type to a constructor of its payload.
var registry = map[string]func() Payload{
	TypeUserRegistered:  func() Payload { return &UserRegistered{} },
	TypeUserLoggedIn:    func() Payload { return &UserLoggedIn{} },
	TypeUserLoginFailed: func() Payload { return &UserLoginFailed{} },
	TypeUserLoggedOut:   func() Payload { return &UserLoggedOut{} },
	TypeOrderCreated:    func() Payload { return &OrderCreated{} },
	TypeOrderApproved:   func() Payload { return &OrderApproved{} },
	TypeOrderRejected:   func() Payload { return &OrderRejected{} },
}

// Types lists every event type of the contract, sorted.
func Types() []string {
	types := make([]string, 0, len(registry))
	for t := range registry {
		types = append(types, t)
	}
	slices.Sort(types)
	return types
}

// NewPayload returns an empty payload of the given type, for decoding.
func NewPayload(eventType string) (Payload, bool) {
	f, ok := registry[eventType]
	if !ok {
		return nil, false
	}
	return f(), true
}

// SchemaURI is the dataschema of an event type: the $id of its JSON Schema in schemas/.
func SchemaURI(eventType string) string { return "urn:caasdemo:schema:" + eventType + ":1" }

// UserRegistered: a new account exists. Admin accounts created at start-up are registered too.
type UserRegistered struct {
	UserID   string `json:"user_id"`
	Username string `json:"username"`
	IsAdmin  bool   `json:"is_admin"`
}

// UserLoggedIn: a password was checked and an access token issued.
type UserLoggedIn struct {
	UserID   string `json:"user_id"`
	Username string `json:"username"`
}

// Reasons a login fails.
const (
	ReasonUnknownUser = "unknown_user"
	ReasonBadPassword = "bad_password"
	ReasonRateLimited = "rate_limited"
)

// UserLoginFailed: a login was refused. UserID is empty when no such user exists. The
// password tried never appears here.
type UserLoginFailed struct {
	UserID   string `json:"user_id,omitempty"`
	Username string `json:"username"`
	Reason   string `json:"reason"`
}

// UserLoggedOut: a token was revoked at the user's request.
type UserLoggedOut struct {
	UserID   string `json:"user_id"`
	Username string `json:"username"`
}

// OrderCreated: a user placed an order; it is pending.
type OrderCreated struct {
	OrderID   string    `json:"order_id"`
	UserID    string    `json:"user_id"`
	Username  string    `json:"username"`
	ItemName  string    `json:"item_name"`
	Quantity  int       `json:"quantity"`
	Notes     string    `json:"notes"`
	Status    string    `json:"status"`
	CreatedAt time.Time `json:"created_at"`
}

// OrderDecision is the payload of OrderApproved and OrderRejected.
type OrderDecision struct {
	OrderID       string    `json:"order_id"`
	UserID        string    `json:"user_id"` // the owner of the order
	AdminID       string    `json:"admin_id"`
	AdminUsername string    `json:"admin_username"`
	DecidedAt     time.Time `json:"decided_at"`
}

// OrderApproved: an admin approved a pending order.
type OrderApproved OrderDecision

// OrderRejected: an admin rejected a pending order.
type OrderRejected OrderDecision

func (UserRegistered) EventType() string  { return TypeUserRegistered }
func (UserLoggedIn) EventType() string    { return TypeUserLoggedIn }
func (UserLoginFailed) EventType() string { return TypeUserLoginFailed }
func (UserLoggedOut) EventType() string   { return TypeUserLoggedOut }
func (OrderCreated) EventType() string    { return TypeOrderCreated }
func (OrderApproved) EventType() string   { return TypeOrderApproved }
func (OrderRejected) EventType() string   { return TypeOrderRejected }

func (p UserRegistered) AggregateID() string { return p.UserID }
func (p UserLoggedIn) AggregateID() string   { return p.UserID }
func (p UserLoggedOut) AggregateID() string  { return p.UserID }
func (p OrderCreated) AggregateID() string   { return p.OrderID }
func (p OrderApproved) AggregateID() string  { return p.OrderID }
func (p OrderRejected) AggregateID() string  { return p.OrderID }

// AggregateID of a failed login is the user's id, or "unknown" when there is no such user.
func (p UserLoginFailed) AggregateID() string { return orUnknown(p.UserID) }

func (p UserRegistered) NATSSubject() string  { return authSubject("registered", p.UserID) }
func (p UserLoggedIn) NATSSubject() string    { return authSubject("logged_in", p.UserID) }
func (p UserLoginFailed) NATSSubject() string { return authSubject("login_failed", p.UserID) }
func (p UserLoggedOut) NATSSubject() string   { return authSubject("logged_out", p.UserID) }
func (p OrderCreated) NATSSubject() string    { return orderSubject("created", p.UserID, p.OrderID) }
func (p OrderApproved) NATSSubject() string   { return orderSubject("approved", p.UserID, p.OrderID) }
func (p OrderRejected) NATSSubject() string   { return orderSubject("rejected", p.UserID, p.OrderID) }

func orUnknown(id string) string {
	if id == "" {
		return "unknown"
	}
	return id
}
