package projection

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/caasdemo/orderdemo/services/platform/postgres"
)

// Entry is one row of the audit log.
type Entry struct {
	EventID       string          `json:"event_id"`
	Type          string          `json:"type"`
	ActorID       *string         `json:"actor_id"`
	ActorUsername *string         `json:"actor_username"`
	Subject       string          `json:"subject"`
	OccurredAt    time.Time       `json:"occurred_at"`
	CorrelationID *string         `json:"correlation_id"`
	Stream        string          `json:"stream"`
	StreamSeq     int64           `json:"stream_seq"`
	Event         json.RawMessage `json:"event"`
}

// EntryFilter selects audit log rows. Zero values mean "any".
type EntryFilter struct {
	Type    string
	Actor   string // username (case-insensitive) or user id
	Subject string // order or user id
	From    *time.Time
	To      *time.Time
	Limit   int
	Offset  int
}

const entryColumns = `event_id::text, event_type, actor_id::text, actor_username, subject, occurred_at, correlation_id, stream, stream_seq, event`

func (f EntryFilter) where() *postgres.Where {
	w := &postgres.Where{}
	if f.Type != "" {
		w.And("event_type = ?", f.Type)
	}
	if f.Actor != "" {
		w.And("(lower(actor_username) = lower(?) OR actor_id::text = lower(?))", f.Actor, f.Actor)
	}
	if f.Subject != "" {
		w.And("subject = ?", f.Subject)
	}
	if f.From != nil {
		w.And("occurred_at >= ?", *f.From)
	}
	if f.To != nil {
		w.And("occurred_at < ?", *f.To)
	}
	return w
}

// ListEntries returns a page of the audit log, newest first, and how many rows match.
func ListEntries(ctx context.Context, pool *pgxpool.Pool, f EntryFilter) ([]Entry, int, error) {
	w := f.where()
	var total int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM audit_log`+w.SQL(), w.Args()...).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("count audit log: %w", err)
	}
	page := ` LIMIT ` + w.Param(f.Limit) + ` OFFSET ` + w.Param(f.Offset)
	rows, _ := pool.Query(ctx, `SELECT `+entryColumns+` FROM audit_log`+w.SQL()+` ORDER BY occurred_at DESC, stream, stream_seq DESC`+page, w.Args()...)
	list, err := pgx.CollectRows(rows, pgx.RowToStructByPos[Entry])
	if err != nil {
		return nil, 0, fmt.Errorf("list audit log: %w", err)
	}
	return list, total, nil
}

// EachEntry streams every matching row, newest first, at the pace of fn (the export's
// client): each wait for the server is bounded by the call timeout, the statement as a whole
// is not.
func EachEntry(ctx context.Context, pool *pgxpool.Pool, f EntryFilter, fn func(Entry) error) error {
	w := f.where()
	err := postgres.Stream(ctx, pool, `SELECT `+entryColumns+` FROM audit_log`+w.SQL()+` ORDER BY occurred_at DESC, stream, stream_seq DESC`, w.Args(), fn)
	if err != nil {
		return fmt.Errorf("export audit log: %w", err)
	}
	return nil
}

// OrderHistory returns one order's events in stream order.
func OrderHistory(ctx context.Context, pool *pgxpool.Pool, orderID string) ([]Entry, error) {
	rows, _ := pool.Query(ctx, `SELECT `+entryColumns+` FROM audit_log WHERE subject = $1 AND stream = 'ORDERS' ORDER BY stream_seq`, orderID)
	list, err := pgx.CollectRows(rows, pgx.RowToStructByPos[Entry])
	if err != nil {
		return nil, fmt.Errorf("order history: %w", err)
	}
	return list, nil
}
