// Package projection turns events into the audit service's read models: the audit log (one
// row per event), the orders view (one row per order) and the users view (one row per
// account), from which the statistics are derived.
//
// Apply is the only writer, used alike by the live consumers (one event at a time) and by a
// replay (thousands at a time, into the rebuild tables, through ApplyBulk, which writes the
// same rows more cheaply). Every write is idempotent and
// commutative: the audit log ignores an event it has, the users view ignores a registration
// it has, and the orders view takes creation facts whenever they come and status changes
// only from a higher aggregate version. So events applied twice, or out of order, give the
// same rows as the stream applied once in order.
package projection

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/caasdemo/orderdemo/events"
)

// The projections a replay can rebuild.
const (
	AuditLog = "audit-log"
	Orders   = "orders"
	All      = "all"
)

// Set says which projections to write.
type Set struct {
	AuditLog bool
	Orders   bool // the orders and users views
}

// SetOf returns the set for a projection name.
func SetOf(name string) (Set, error) {
	switch name {
	case AuditLog:
		return Set{AuditLog: true}, nil
	case Orders:
		return Set{Orders: true}, nil
	case All:
		return Set{AuditLog: true, Orders: true}, nil
	}
	return Set{}, fmt.Errorf("unknown projection %q: want all, audit-log or orders", name)
}

// Tables names the tables Apply writes.
type Tables struct {
	AuditLog   string
	OrdersView string
	UsersView  string
}

// The live tables, and the rebuild tables a replay fills before swapping them in.
var (
	Live    = Tables{AuditLog: "audit_log", OrdersView: "orders_view", UsersView: "users_view"}
	Rebuild = Tables{AuditLog: "audit_log_rebuild", OrdersView: "orders_view_rebuild", UsersView: "users_view_rebuild"}
)

// Of returns the table names of the projections in set.
func (t Tables) Of(set Set) []string {
	var out []string
	if set.AuditLog {
		out = append(out, t.AuditLog)
	}
	if set.Orders {
		out = append(out, t.OrdersView, t.UsersView)
	}
	return out
}

// Record is one event as read from its stream.
type Record struct {
	Env     events.Envelope
	Payload events.Payload
	Raw     []byte // the message as published
	Stream  string
	Seq     uint64
}

// NewRecord decodes a stream message.
func NewRecord(raw []byte, stream string, seq uint64) (Record, error) {
	env, err := events.Decode(raw)
	if err != nil {
		return Record{}, err
	}
	p, err := env.Payload()
	if err != nil {
		return Record{}, err
	}
	return Record{Env: env, Payload: p, Raw: raw, Stream: stream, Seq: seq}, nil
}

// actor is who did what the event reports.
func actor(p events.Payload) (id, username string) {
	switch e := p.(type) {
	case *events.UserRegistered:
		return e.UserID, e.Username
	case *events.UserLoggedIn:
		return e.UserID, e.Username
	case *events.UserLoginFailed:
		return e.UserID, e.Username
	case *events.UserLoggedOut:
		return e.UserID, e.Username
	case *events.OrderCreated:
		return e.UserID, e.Username
	case *events.OrderApproved:
		return e.AdminID, e.AdminUsername
	case *events.OrderRejected:
		return e.AdminID, e.AdminUsername
	}
	return "", ""
}

// Apply writes recs into the tables of set, inside tx.
func Apply(ctx context.Context, tx pgx.Tx, t Tables, set Set, recs []Record) error {
	if set.AuditLog {
		if err := applyAuditLog(ctx, tx, t.AuditLog, recs); err != nil {
			return err
		}
	}
	if set.Orders {
		if err := applyUsers(ctx, tx, t.UsersView, recs); err != nil {
			return err
		}
		if err := applyOrders(ctx, tx, t.OrdersView, recs); err != nil {
			return err
		}
	}
	return nil
}

// ApplyBulk is Apply for a replay's large batches: the same rows, but the audit log's are
// streamed in with COPY, which costs the server much less than inserting them from arrays.
// COPY cannot skip an event the table has (one published twice), so it runs under a
// savepoint, and a batch it fails on is inserted as Apply does.
func ApplyBulk(ctx context.Context, tx pgx.Tx, t Tables, set Set, recs []Record) error {
	if set.AuditLog {
		if err := copyAuditLog(ctx, tx, t.AuditLog, recs); err != nil {
			return err
		}
	}
	return Apply(ctx, tx, t, Set{Orders: set.Orders}, recs)
}

func copyAuditLog(ctx context.Context, tx pgx.Tx, table string, recs []Record) error {
	rows := pgx.CopyFromSlice(len(recs), func(i int) ([]any, error) {
		r := recs[i]
		// The values applyAuditLog's INSERT makes of the same record. The UUIDs are parsed
		// here, as pgx would after failing to encode the strings (which costs an error each).
		var id, actorID pgtype.UUID
		actor, actorName := actor(r.Payload)
		if err := id.Scan(r.Env.ID); err != nil {
			return nil, err
		}
		if actor != "" {
			if err := actorID.Scan(actor); err != nil {
				return nil, err
			}
		}
		return []any{id, r.Env.Type, actorID, nullIfEmpty(actorName), r.Env.Subject, r.Env.Time,
			nullIfEmpty(r.Env.CorrelationID), r.Stream, int64(r.Seq), r.Raw}, nil
	})
	err := pgx.BeginFunc(ctx, tx, func(sp pgx.Tx) error {
		_, err := sp.CopyFrom(ctx, pgx.Identifier{table}, []string{"event_id", "event_type", "actor_id", "actor_username",
			"subject", "occurred_at", "correlation_id", "stream", "stream_seq", "event"}, rows)
		return err
	})
	if err == nil || ctx.Err() != nil {
		return err
	}
	// Most likely an event the table has; whatever it was, the INSERT gives Apply's answer.
	return applyAuditLog(ctx, tx, table, recs)
}

// nullIfEmpty makes an empty string NULL, as applyAuditLog's NULLIF does.
func nullIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func applyAuditLog(ctx context.Context, tx pgx.Tx, table string, recs []Record) error {
	n := len(recs)
	ids, types, actorIDs, actorNames, subjects := make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	times, corr, streams, seqs, bodies := make([]time.Time, n), make([]string, n), make([]string, n), make([]int64, n), make([]string, n)
	for i, r := range recs {
		ids[i], types[i], subjects[i], times[i] = r.Env.ID, r.Env.Type, r.Env.Subject, r.Env.Time
		actorIDs[i], actorNames[i] = actor(r.Payload)
		corr[i], streams[i], seqs[i], bodies[i] = r.Env.CorrelationID, r.Stream, int64(r.Seq), string(r.Raw)
	}
	_, err := tx.Exec(ctx, `INSERT INTO `+pgx.Identifier{table}.Sanitize()+`
		(event_id, event_type, actor_id, actor_username, subject, occurred_at, correlation_id, stream, stream_seq, event)
		SELECT e::uuid, t, NULLIF(a, '')::uuid, NULLIF(an, ''), s, o, NULLIF(c, ''), st, q, b::jsonb
		FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::timestamptz[], $7::text[], $8::text[], $9::bigint[], $10::text[])
			AS x(e, t, a, an, s, o, c, st, q, b)
		ON CONFLICT DO NOTHING`, ids, types, actorIDs, actorNames, subjects, times, corr, streams, seqs, bodies)
	if err != nil {
		return fmt.Errorf("audit log: %w", err)
	}
	return nil
}

func applyUsers(ctx context.Context, tx pgx.Tx, table string, recs []Record) error {
	var ids, names []string
	var admins []bool
	var at []time.Time
	for _, r := range recs {
		if e, ok := r.Payload.(*events.UserRegistered); ok {
			ids, names, admins, at = append(ids, e.UserID), append(names, e.Username), append(admins, e.IsAdmin), append(at, r.Env.Time)
		}
	}
	if len(ids) == 0 {
		return nil
	}
	_, err := tx.Exec(ctx, `INSERT INTO `+pgx.Identifier{table}.Sanitize()+` (user_id, username, is_admin, registered_at)
		SELECT u::uuid, n, a, r FROM unnest($1::text[], $2::text[], $3::bool[], $4::timestamptz[]) AS x(u, n, a, r)
		ON CONFLICT DO NOTHING`, ids, names, admins, at)
	if err != nil {
		return fmt.Errorf("users view: %w", err)
	}
	return nil
}

// decision is the latest decision of one order within a batch.
type decision struct {
	events.OrderDecision
	status  string
	version int64
}

func applyOrders(ctx context.Context, tx pgx.Tx, table string, recs []Record) error {
	created := map[string]*events.OrderCreated{}
	var createdOrder []string
	decided := map[string]decision{}
	var decidedOrder []string
	for _, r := range recs {
		switch e := r.Payload.(type) {
		case *events.OrderCreated:
			if _, seen := created[e.OrderID]; !seen {
				created[e.OrderID] = e
				createdOrder = append(createdOrder, e.OrderID)
			}
		case *events.OrderApproved:
			decidedOrder = keepLatest(decided, decidedOrder, decision{events.OrderDecision(*e), "approved", r.Env.AggregateVersion})
		case *events.OrderRejected:
			decidedOrder = keepLatest(decided, decidedOrder, decision{events.OrderDecision(*e), "rejected", r.Env.AggregateVersion})
		}
	}
	t := pgx.Identifier{table}.Sanitize()
	if len(createdOrder) > 0 {
		n := len(createdOrder)
		ids, users, names, at := make([]string, n), make([]string, n), make([]string, n), make([]time.Time, n)
		statuses, versions := make([]string, n), make([]int64, n)
		decidedAt, adminIDs, admins := make([]*time.Time, n), make([]*string, n), make([]*string, n)
		for i, id := range createdOrder {
			e := created[id]
			ids[i], users[i], names[i], at[i] = e.OrderID, e.UserID, e.Username, e.CreatedAt
			statuses[i], versions[i] = "pending", 1
			// An order created and decided within the batch (the common case in a replay)
			// gets its decision in the same row, as the decision statement below would give
			// it: over the creation's version 1 only.
			if d, ok := decided[id]; ok && d.version > 1 {
				statuses[i], versions[i] = d.status, d.version
				decidedAt[i], adminIDs[i], admins[i] = &d.DecidedAt, &d.AdminID, &d.AdminUsername
				delete(decided, id)
			}
		}
		// Creation facts never change: they fill in a row a decision may have started. The
		// status and the decision go in only over a lower version, as in the next statement
		// (a bare creation is version 1, and every row has at least that).
		_, err := tx.Exec(ctx, `INSERT INTO `+t+` (order_id, user_id, username, status, created_at, decided_at, decided_by_id, decided_by, version)
			SELECT o::uuid, u::uuid, n, s, c, d, a::uuid, an, v
			FROM unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[], $5::text[], $6::timestamptz[], $7::text[], $8::text[], $9::bigint[])
				AS x(o, u, n, c, s, d, a, an, v)
			ON CONFLICT (order_id) DO UPDATE SET user_id = EXCLUDED.user_id, username = EXCLUDED.username, created_at = EXCLUDED.created_at,
				status = CASE WHEN `+t+`.version < EXCLUDED.version THEN EXCLUDED.status ELSE `+t+`.status END,
				decided_at = CASE WHEN `+t+`.version < EXCLUDED.version THEN EXCLUDED.decided_at ELSE `+t+`.decided_at END,
				decided_by_id = CASE WHEN `+t+`.version < EXCLUDED.version THEN EXCLUDED.decided_by_id ELSE `+t+`.decided_by_id END,
				decided_by = CASE WHEN `+t+`.version < EXCLUDED.version THEN EXCLUDED.decided_by ELSE `+t+`.decided_by END,
				version = greatest(`+t+`.version, EXCLUDED.version)`,
			ids, users, names, at, statuses, decidedAt, adminIDs, admins, versions)
		if err != nil {
			return fmt.Errorf("orders view, created: %w", err)
		}
	}
	if len(decided) > 0 {
		n := len(decided)
		ids, users, statuses, at := make([]string, 0, n), make([]string, 0, n), make([]string, 0, n), make([]time.Time, 0, n)
		adminIDs, admins, versions := make([]string, 0, n), make([]string, 0, n), make([]int64, 0, n)
		for _, id := range decidedOrder {
			d, ok := decided[id]
			if !ok {
				continue // went in with its creation
			}
			ids, users, statuses, at = append(ids, d.OrderID), append(users, d.UserID), append(statuses, d.status), append(at, d.DecidedAt)
			adminIDs, admins, versions = append(adminIDs, d.AdminID), append(admins, d.AdminUsername), append(versions, d.version)
		}
		_, err := tx.Exec(ctx, `INSERT INTO `+t+` (order_id, user_id, status, decided_at, decided_by_id, decided_by, version)
			SELECT o::uuid, u::uuid, s, d, a::uuid, an, v
			FROM unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[], $5::text[], $6::text[], $7::bigint[]) AS x(o, u, s, d, a, an, v)
			ON CONFLICT (order_id) DO UPDATE SET status = EXCLUDED.status, decided_at = EXCLUDED.decided_at,
				decided_by_id = EXCLUDED.decided_by_id, decided_by = EXCLUDED.decided_by, version = EXCLUDED.version
			WHERE `+t+`.version < EXCLUDED.version`, ids, users, statuses, at, adminIDs, admins, versions)
		if err != nil {
			return fmt.Errorf("orders view, decided: %w", err)
		}
	}
	return nil
}

func keepLatest(m map[string]decision, order []string, d decision) []string {
	prev, seen := m[d.OrderID]
	if !seen {
		order = append(order, d.OrderID)
	}
	if !seen || d.version > prev.version {
		m[d.OrderID] = d
	}
	return order
}
