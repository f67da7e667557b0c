// Package domain holds the order rules: what a valid order is, and how its status may move
// (pending → approved | rejected, once). It knows nothing of HTTP, SQL or NATS.
package domain

import (
	"errors"
	"github.com/caasdemo/orderdemo/services/platform/validation"
	"strings"
	"time"
	"unicode/utf8"
)

// Status is where an order stands.
type Status string

// The statuses. An order starts pending; an admin decides it once.
const (
	Pending  Status = "pending"
	Approved Status = "approved"
	Rejected Status = "rejected"
)

// ParseStatus accepts the three statuses.
func ParseStatus(s string) (Status, bool) {
	switch st := Status(s); st {
	case Pending, Approved, Rejected:
		return st, true
	}
	return "", false
}

// ParseDecision accepts the two statuses an admin may set.
func ParseDecision(s string) (Status, error) {
	if st := Status(s); st == Approved || st == Rejected {
		return st, nil
	}
	return "", ValidationError{{Field: "status", Rule: `must be "approved" or "rejected"`}}
}

// Field limits, as stated to the user.
const (
	MaxItemName = 255
	MaxQuantity = 100
	MaxNotes    = 1000
)

// Errors of the order domain.
var (
	ErrNotFound   = errors.New("order not found")
	ErrNotPending = errors.New("order is no longer pending")
	// ErrAlreadyDecided: the order carries this very decision by this very admin already (a
	// retry of a decision whose answer was lost). Nothing changes; the caller answers as if
	// it had just been made.
	ErrAlreadyDecided = errors.New("order already carries this decision")
)

// FieldError says which input field broke which rule.
type FieldError = validation.FieldError

// ValidationError lists every field that broke a rule; the API answers it with a 400 naming
// each one.
type ValidationError = validation.Errors

// Owner is the user an order belongs to, as the verified token names them.
type Owner struct {
	UserID   string
	Username string
}

// Admin is the admin deciding an order.
type Admin struct {
	UserID   string
	Username string
}

// Draft is what a user asks for, checked by Validate.
type Draft struct {
	ItemName string
	Quantity int
	Notes    string
}

// Validate trims the item name, writes every line break of the notes as LF, and checks every
// field, reporting all problems at once. The item name is one line of text and the notes
// may span lines (validation.Line and validation.Lines): no NUL or other control character
// in either, except line feeds and tabs in the notes.
func (d Draft) Validate() (Draft, error) {
	d.ItemName = strings.TrimSpace(d.ItemName)
	d.Notes = validation.NormalizeNewlines(d.Notes)
	var errs ValidationError
	badName := validation.Line("item_name", d.ItemName)
	switch n := utf8.RuneCountInString(d.ItemName); {
	case n == 0:
		errs = append(errs, FieldError{Field: "item_name", Rule: "is required"})
	case n > MaxItemName:
		errs = append(errs, FieldError{Field: "item_name", Rule: "must be at most 255 characters"})
	case badName != nil:
		errs = append(errs, badName...)
	case strings.ContainsAny(d.ItemName, `<>"`):
		errs = append(errs, FieldError{Field: "item_name", Rule: `must not contain <, > or "`})
	}
	if d.Quantity < 1 || d.Quantity > MaxQuantity {
		errs = append(errs, FieldError{Field: "quantity", Rule: "must be a whole number from 1 to 100"})
	}
	if badNotes := validation.Lines("notes", d.Notes); badNotes != nil {
		errs = append(errs, badNotes...)
	} else if utf8.RuneCountInString(d.Notes) > MaxNotes {
		errs = append(errs, FieldError{Field: "notes", Rule: "must be at most 1000 characters"})
	}
	if len(errs) > 0 {
		return Draft{}, errs
	}
	return d, nil
}

// Order is one order. Its fields change only through Decide; the store rebuilds it with
// Rehydrate.
type Order struct {
	id        string
	owner     Owner
	item      Draft
	status    Status
	createdAt time.Time
	updatedAt time.Time
	decidedBy *Admin
	decidedAt *time.Time
	version   int64
}

// New places an order for owner from a validated draft.
func New(id string, owner Owner, d Draft, now time.Time) (Order, error) {
	d, err := d.Validate()
	if err != nil {
		return Order{}, err
	}
	if id == "" || owner.UserID == "" || owner.Username == "" {
		return Order{}, errors.New("new order: id and owner are required")
	}
	return Order{id: id, owner: owner, item: d, status: Pending, createdAt: now, updatedAt: now, version: 1}, nil
}

// Decide approves or rejects a pending order. It returns a ValidationError for any other
// status, ErrAlreadyDecided (changing nothing) when the same admin made the same decision
// already, and ErrNotPending when the order was decided otherwise: another status, or
// another admin (who must learn that someone else decided, not believe they did).
func (o *Order) Decide(status Status, by Admin, now time.Time) error {
	if status != Approved && status != Rejected {
		return ValidationError{{Field: "status", Rule: `must be "approved" or "rejected"`}}
	}
	if o.status == status && o.decidedBy != nil && o.decidedBy.UserID == by.UserID {
		return ErrAlreadyDecided
	}
	if o.status != Pending {
		return ErrNotPending
	}
	o.status, o.decidedBy, o.decidedAt, o.updatedAt = status, &by, &now, now
	o.version++
	return nil
}

// Snapshot is an order's state, read-only.
type Snapshot struct {
	ID        string
	Owner     Owner
	ItemName  string
	Quantity  int
	Notes     string
	Status    Status
	CreatedAt time.Time
	UpdatedAt time.Time
	DecidedBy *Admin
	DecidedAt *time.Time
	Version   int64
}

// Snapshot returns the order's state.
func (o Order) Snapshot() Snapshot {
	return Snapshot{ID: o.id, Owner: o.owner, ItemName: o.item.ItemName, Quantity: o.item.Quantity, Notes: o.item.Notes,
		Status: o.status, CreatedAt: o.createdAt, UpdatedAt: o.updatedAt, DecidedBy: o.decidedBy, DecidedAt: o.decidedAt, Version: o.version}
}

// Rehydrate rebuilds an order from stored state; only the store calls it.
func Rehydrate(s Snapshot) Order {
	return Order{id: s.ID, owner: s.Owner, item: Draft{ItemName: s.ItemName, Quantity: s.Quantity, Notes: s.Notes},
		status: s.Status, createdAt: s.CreatedAt, updatedAt: s.UpdatedAt, decidedBy: s.DecidedBy, decidedAt: s.DecidedAt, version: s.Version}
}
