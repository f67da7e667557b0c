// Package adapters implements the order application's port in PostgreSQL: orders, their
// events through the outbox, idempotency keys, and the list and export queries.
package adapters

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/caasdemo/orderdemo/events"
	"github.com/caasdemo/orderdemo/services/order/internal/app"
	"github.com/caasdemo/orderdemo/services/order/internal/domain"
	"github.com/caasdemo/orderdemo/services/platform/outbox"
	"github.com/caasdemo/orderdemo/services/platform/postgres"
	"github.com/caasdemo/orderdemo/services/platform/recent"
)

// Orders is the PostgreSQL order store of the orders schema.
type Orders struct {
	pool *pgxpool.Pool
	// The totals of the lists over every user's orders (the admin's), reused for
	// countMaxAge: counting a hundred thousand rows for each of a hundred dashboards a second
	// would keep both cores busy, while the rows of a page are always read fresh. A user's own
	// list is never cached: its count is small, and it must follow their new orders at once.
	totals      recent.Results[int]
	countMaxAge time.Duration
}

// NewOrders returns the store; the pool's search_path is the orders schema. The totals of
// the lists over every user's orders are reused for countMaxAge (0: counted every time).
func NewOrders(pool *pgxpool.Pool, countMaxAge time.Duration) *Orders {
	return &Orders{pool: pool, countMaxAge: countMaxAge}
}

const columns = `id::text, user_id::text, username, item_name, quantity, notes, status, created_at, updated_at,
	admin_id::text, admin_username, admin_action_at, version`

// orderRow is the orders table's row.
type orderRow struct {
	ID            string
	UserID        string
	Username      string
	ItemName      string
	Quantity      int
	Notes         string
	Status        string
	CreatedAt     time.Time
	UpdatedAt     time.Time
	AdminID       *string
	AdminUsername *string
	AdminActionAt *time.Time
	Version       int64
}

func toSnapshot(r orderRow) domain.Snapshot {
	s := domain.Snapshot{ID: r.ID, Owner: domain.Owner{UserID: r.UserID, Username: r.Username}, ItemName: r.ItemName,
		Quantity: r.Quantity, Notes: r.Notes, Status: domain.Status(r.Status), CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt,
		DecidedAt: r.AdminActionAt, Version: r.Version}
	if r.AdminID != nil {
		s.DecidedBy = &domain.Admin{UserID: *r.AdminID, Username: deref(r.AdminUsername)}
	}
	return s
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func scan(rows pgx.Rows) ([]domain.Snapshot, error) {
	recs, err := pgx.CollectRows(rows, pgx.RowToStructByPos[orderRow])
	if err != nil {
		return nil, err
	}
	out := make([]domain.Snapshot, len(recs))
	for i, r := range recs {
		out[i] = toSnapshot(r)
	}
	return out, nil
}

// Create implements app.Orders.
func (s *Orders) Create(ctx context.Context, o domain.Order, evs []events.Envelope, key *app.IdempotencyKey) (domain.Snapshot, bool, error) {
	snap := o.Snapshot()
	var stored domain.Snapshot
	created := true
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO orders (id, user_id, username, item_name, quantity, notes, status, created_at, updated_at, version)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8, $9)`,
			snap.ID, snap.Owner.UserID, snap.Owner.Username, snap.ItemName, snap.Quantity, snap.Notes, string(snap.Status), snap.CreatedAt, snap.Version)
		if err != nil {
			return fmt.Errorf("insert order: %w", err)
		}
		if key != nil {
			// A concurrent request with the same key waits here for the first to commit.
			tag, err := tx.Exec(ctx, `INSERT INTO idempotency_keys (user_id, key, request_hash, order_id)
				VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING`, snap.Owner.UserID, key.Key, key.RequestHash, snap.ID)
			if err != nil {
				return fmt.Errorf("record idempotency key: %w", err)
			}
			if tag.RowsAffected() == 0 {
				created = false
				return errKeyUsed
			}
		}
		stored = snap
		return outbox.Record(ctx, tx, evs...)
	})
	if errors.Is(err, errKeyUsed) {
		return s.replay(ctx, snap.Owner.UserID, key)
	}
	if err != nil {
		return domain.Snapshot{}, false, err
	}
	return stored, created, nil
}

// errKeyUsed rolls back a creation whose idempotency key exists.
var errKeyUsed = errors.New("idempotency key used")

// replay returns the order first created with the key.
func (s *Orders) replay(ctx context.Context, userID string, key *app.IdempotencyKey) (domain.Snapshot, bool, error) {
	var hash, orderID string
	err := s.pool.QueryRow(ctx, `SELECT request_hash, order_id::text FROM idempotency_keys WHERE user_id = $1 AND key = $2`,
		userID, key.Key).Scan(&hash, &orderID)
	if err != nil {
		return domain.Snapshot{}, false, fmt.Errorf("read idempotency key: %w", err)
	}
	if hash != key.RequestHash {
		return domain.Snapshot{}, false, app.ErrKeyConflict
	}
	first, err := s.Get(ctx, orderID)
	return first, false, err
}

// Get implements app.Orders.
func (s *Orders) Get(ctx context.Context, id string) (domain.Snapshot, error) {
	rows, _ := s.pool.Query(ctx, `SELECT `+columns+` FROM orders WHERE id = $1`, id)
	list, err := scan(rows)
	if err != nil {
		return domain.Snapshot{}, fmt.Errorf("get order: %w", err)
	}
	if len(list) == 0 {
		return domain.Snapshot{}, domain.ErrNotFound
	}
	return list[0], nil
}

// Update implements app.Orders: the row is locked (FOR UPDATE), so concurrent decisions on
// one order run one after the other and all but the first find it decided. A change with no
// events writes nothing.
func (s *Orders) Update(ctx context.Context, id string, change func(*domain.Order) ([]events.Envelope, error)) (domain.Snapshot, error) {
	var out domain.Snapshot
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		rows, _ := tx.Query(ctx, `SELECT `+columns+` FROM orders WHERE id = $1 FOR UPDATE`, id)
		list, err := scan(rows)
		if err != nil {
			return fmt.Errorf("lock order: %w", err)
		}
		if len(list) == 0 {
			return domain.ErrNotFound
		}
		o := domain.Rehydrate(list[0])
		evs, err := change(&o)
		if err != nil {
			return err
		}
		out = o.Snapshot()
		if len(evs) == 0 {
			return nil
		}
		var adminID, adminName *string
		if out.DecidedBy != nil {
			adminID, adminName = &out.DecidedBy.UserID, &out.DecidedBy.Username
		}
		_, err = tx.Exec(ctx, `UPDATE orders SET status = $2, updated_at = $3, admin_id = $4, admin_username = $5,
			admin_action_at = $6, version = $7 WHERE id = $1`,
			out.ID, string(out.Status), out.UpdatedAt, adminID, adminName, out.DecidedAt, out.Version)
		if err != nil {
			return fmt.Errorf("update order: %w", err)
		}
		return outbox.Record(ctx, tx, evs...)
	})
	return out, err
}

// where builds the WHERE clause of f.
func where(f app.Filter) *postgres.Where {
	w := &postgres.Where{}
	if f.UserID != "" {
		w.And("user_id = ?", f.UserID)
	}
	if f.Status != "" {
		w.And("status = ?", string(f.Status))
	}
	if f.Search != "" {
		w.And(`lower(username) LIKE ? ESCAPE '\'`, "%"+escapeLike(strings.ToLower(f.Search))+"%")
	}
	if f.From != nil {
		w.And("created_at >= ?", *f.From)
	}
	if f.To != nil {
		w.And("created_at < ?", *f.To)
	}
	return w
}

// orderBy turns the filter's sort into SQL from a fixed set: never from user text.
func orderBy(f app.Filter) string {
	dir := " DESC"
	if f.Asc {
		dir = " ASC"
	}
	switch f.Sort {
	case app.SortUsername:
		return " ORDER BY lower(username)" + dir + ", created_at DESC, id"
	case app.SortStatus:
		return " ORDER BY status" + dir + ", created_at DESC, id"
	default:
		return " ORDER BY created_at" + dir + ", id"
	}
}

func escapeLike(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
}

// List implements app.Orders.
func (s *Orders) List(ctx context.Context, f app.Filter) ([]domain.Snapshot, int, error) {
	w := where(f)
	countSQL, countArgs := `SELECT count(*) FROM orders`+w.SQL(), w.Args()
	countRows := func(ctx context.Context) (int, error) {
		var n int
		if err := s.pool.QueryRow(ctx, countSQL, countArgs...).Scan(&n); err != nil {
			return 0, fmt.Errorf("count orders: %w", err)
		}
		return n, nil
	}
	var total int
	var err error
	if f.UserID != "" {
		total, err = countRows(ctx)
	} else {
		total, err = s.totals.Get(ctx, fmt.Sprint(countSQL, countArgs), time.Now().Add(-s.countMaxAge), countRows)
	}
	if err != nil {
		return nil, 0, err
	}
	page := " LIMIT " + w.Param(f.Limit) + " OFFSET " + w.Param(f.Offset)
	rows, _ := s.pool.Query(ctx, `SELECT `+columns+` FROM orders`+w.SQL()+orderBy(f)+page, w.Args()...)
	list, err := scan(rows)
	if err != nil {
		return nil, 0, fmt.Errorf("list orders: %w", err)
	}
	return list, total, nil
}

// Each implements app.Orders. Rows are read one at a time from the server, so memory stays
// flat however many match, at the pace of fn (the export's client): each wait for the server
// is bounded by the call timeout, the statement as a whole is not.
func (s *Orders) Each(ctx context.Context, f app.Filter, fn func(domain.Snapshot) error) error {
	w := where(f)
	err := postgres.Stream(ctx, s.pool, `SELECT `+columns+` FROM orders`+w.SQL()+orderBy(f), w.Args(),
		func(r orderRow) error { return fn(toSnapshot(r)) })
	if err != nil {
		return fmt.Errorf("export orders: %w", err)
	}
	return nil
}
