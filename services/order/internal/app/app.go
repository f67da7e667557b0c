// Package app is the order service's behaviour: Create, Get, Mine, List, Export and Decide.
// It depends on the Orders port; the PostgreSQL adapter implements it, writing each change
// and its events in one transaction.
package app

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"go.opentelemetry.io/otel/metric"

	"github.com/caasdemo/orderdemo/events"
	"github.com/caasdemo/orderdemo/services/order/internal/domain"
)

// Orders stores orders and, in the same transaction, the events about them.
type Orders interface {
	// Create stores o with its events. With a key, a key the user used before returns the
	// order stored then (created false) if the request hash matches, ErrKeyConflict if not.
	Create(ctx context.Context, o domain.Order, evs []events.Envelope, key *IdempotencyKey) (s domain.Snapshot, created bool, err error)
	// Get returns one order or domain.ErrNotFound.
	Get(ctx context.Context, id string) (domain.Snapshot, error)
	// Update locks the order, lets change modify it and return events, and stores both. A
	// change that returns no events changed nothing: nothing is written, and the order is
	// returned as it is.
	Update(ctx context.Context, id string, change func(*domain.Order) ([]events.Envelope, error)) (domain.Snapshot, error)
	// List returns one page of the orders matching f, and how many match in all.
	List(ctx context.Context, f Filter) ([]domain.Snapshot, int, error)
	// Each streams every order matching f (ignoring Limit and Offset) to fn, in f's order.
	Each(ctx context.Context, f Filter, fn func(domain.Snapshot) error) error
}

// IdempotencyKey is a client's Idempotency-Key with the hash of the request it came with.
type IdempotencyKey struct {
	Key         string
	RequestHash string
}

// ErrKeyConflict: the Idempotency-Key was used before with another request.
var ErrKeyConflict = errors.New("idempotency key already used with a different request")

// Sort columns of List.
const (
	SortCreatedAt = "created_at"
	SortUsername  = "username"
	SortStatus    = "status"
)

// Filter selects and orders orders. Zero values mean "any".
type Filter struct {
	UserID string
	Status domain.Status
	Search string     // username, exact or partial, case-insensitive
	From   *time.Time // created at or after
	To     *time.Time // created before
	Sort   string     // one of the Sort constants; default created_at
	Asc    bool       // default newest first
	Limit  int
	Offset int
}

// App carries the dependencies of the use cases.
type App struct {
	orders  Orders
	now     func() time.Time
	log     *slog.Logger
	metrics metrics
}

// New returns the application. meters (nil: not measured) receives the count of orders
// created and decided.
func New(orders Orders, now func() time.Time, log *slog.Logger, meters metric.MeterProvider) *App {
	return &App{orders: orders, now: now, log: log, metrics: newMetrics(meters)}
}

// Viewer is who asks: the verified token's user.
type Viewer struct {
	UserID   string
	Username string
	IsAdmin  bool
}

// Create places an order for the viewer (OrderCreated). With an idempotency key, the same
// key and body return the first order without a second event (created false); the same key
// with another body returns ErrKeyConflict.
func (a *App) Create(ctx context.Context, v Viewer, d domain.Draft, key, correlationID string) (domain.Snapshot, bool, error) {
	d, err := d.Validate()
	if err != nil {
		return domain.Snapshot{}, false, err
	}
	now := a.now()
	o, err := domain.New(events.NewID(), domain.Owner{UserID: v.UserID, Username: v.Username}, d, now)
	if err != nil {
		return domain.Snapshot{}, false, err
	}
	s := o.Snapshot()
	ev, err := events.New(events.OrderCreated{OrderID: s.ID, UserID: s.Owner.UserID, Username: s.Owner.Username,
		ItemName: s.ItemName, Quantity: s.Quantity, Notes: s.Notes, Status: string(s.Status), CreatedAt: s.CreatedAt},
		events.Metadata{Source: "order", CorrelationID: correlationID, AggregateVersion: s.Version, Time: now})
	if err != nil {
		return domain.Snapshot{}, false, err
	}
	var idem *IdempotencyKey
	if key != "" {
		idem = &IdempotencyKey{Key: key, RequestHash: requestHash(d)}
	}
	stored, created, err := a.orders.Create(ctx, o, []events.Envelope{ev}, idem)
	if err != nil {
		return domain.Snapshot{}, false, fmt.Errorf("create order: %w", err)
	}
	if created {
		a.log.InfoContext(ctx, "order created", "order_id", stored.ID, "user_id", v.UserID)
		a.metrics.created.Add(ctx, 1)
	}
	return stored, created, nil
}

// requestHash identifies a validated draft for idempotency.
func requestHash(d domain.Draft) string {
	b, _ := json.Marshal(d)
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// Get returns an order to its owner or an admin; anyone else gets domain.ErrNotFound, so a
// foreign id reveals nothing.
func (a *App) Get(ctx context.Context, v Viewer, id string) (domain.Snapshot, error) {
	s, err := a.orders.Get(ctx, id)
	if err != nil {
		return domain.Snapshot{}, err
	}
	if !v.IsAdmin && s.Owner.UserID != v.UserID {
		return domain.Snapshot{}, domain.ErrNotFound
	}
	return s, nil
}

// Mine lists the viewer's own orders, newest first.
func (a *App) Mine(ctx context.Context, v Viewer, status domain.Status, limit, offset int) ([]domain.Snapshot, int, error) {
	return a.orders.List(ctx, Filter{UserID: v.UserID, Status: status, Limit: limit, Offset: offset})
}

// List lists every order matching f, for admins.
func (a *App) List(ctx context.Context, f Filter) ([]domain.Snapshot, int, error) {
	return a.orders.List(ctx, f)
}

// Export streams every order matching f, for admins.
func (a *App) Export(ctx context.Context, f Filter, fn func(domain.Snapshot) error) error {
	return a.orders.Each(ctx, f, fn)
}

// Decide approves or rejects a pending order (OrderApproved or OrderRejected). Of concurrent
// decisions on one order exactly one succeeds; the others get domain.ErrNotPending. The same
// admin repeating the decision the order already carries (a retry whose first answer was
// lost) gets the order as it is, with no second event.
func (a *App) Decide(ctx context.Context, admin Viewer, id, status, correlationID string) (domain.Snapshot, error) {
	st, err := domain.ParseDecision(status)
	if err != nil {
		return domain.Snapshot{}, err
	}
	// PostgreSQL keeps microseconds: the first answer shows the time a retry will read back.
	now := a.now().Truncate(time.Microsecond)
	repeated := false
	s, err := a.orders.Update(ctx, id, func(o *domain.Order) ([]events.Envelope, error) {
		err := o.Decide(st, domain.Admin{UserID: admin.UserID, Username: admin.Username}, now)
		if errors.Is(err, domain.ErrAlreadyDecided) {
			repeated = true
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		s := o.Snapshot()
		decision := events.OrderDecision{OrderID: s.ID, UserID: s.Owner.UserID, AdminID: admin.UserID,
			AdminUsername: admin.Username, DecidedAt: now}
		var p events.Payload = events.OrderApproved(decision)
		if st == domain.Rejected {
			p = events.OrderRejected(decision)
		}
		ev, err := events.New(p, events.Metadata{Source: "order", CorrelationID: correlationID, AggregateVersion: s.Version, Time: now})
		return []events.Envelope{ev}, err
	})
	if err != nil {
		return domain.Snapshot{}, err
	}
	if repeated {
		a.log.InfoContext(ctx, "order decision repeated; already so", "order_id", id, "status", st, "admin_id", admin.UserID)
		return s, nil
	}
	a.log.InfoContext(ctx, "order decided", "order_id", id, "status", st, "admin_id", admin.UserID)
	a.metrics.orderDecided(ctx, st)
	return s, nil
}
