// Package outbox is the transactional outbox: a producer records its events in its own
// schema's outbox table inside the same transaction as the state change, and the Relay
// publishes them to JetStream after commit.
//
// The promise: an event is published if and only if its transaction committed, and at least
// once; JetStream's duplicate window, keyed by the event id sent as Nats-Msg-Id, turns "at
// least once" into "once" on the stream, and consumers are idempotent on the event id besides.
//
// The relay is woken by LISTEN/NOTIFY at commit, sweeps periodically in case a notification
// was missed, claims rows with FOR UPDATE SKIP LOCKED so several replicas can run side by
// side, and marks each row published only after JetStream acknowledged it. It never keeps an
// "id > last id" cursor: ids are taken at insert and commit out of order.
package outbox

import (
	"context"
	"embed"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/caasdemo/orderdemo/events"
	"github.com/caasdemo/orderdemo/services/platform/postgres"
)

//go:embed *.sql
var migrationFiles embed.FS

// Migrations creates the outbox table in the service's schema; pass it to postgres.Open.
var Migrations = postgres.Migrations{Name: "outbox", FS: migrationFiles}

// Headers set on every published message besides Nats-Msg-Id (the event id).
const (
	HeaderCorrelationID = "Correlation-Id"
	HeaderEventType     = "Ce-Type"
	HeaderContentType   = "Content-Type"
)

// Record writes envs into the outbox inside tx, the caller's transaction. They are published
// after tx commits, and never if it rolls back.
func Record(ctx context.Context, tx pgx.Tx, envs ...events.Envelope) error {
	if len(envs) == 0 {
		return nil
	}
	batch := &pgx.Batch{}
	for _, env := range envs {
		body, err := events.Encode(env)
		if err != nil {
			return fmt.Errorf("outbox: %w", err)
		}
		subject, err := env.NATSSubject()
		if err != nil {
			return fmt.Errorf("outbox: %w", err)
		}
		batch.Queue(`INSERT INTO outbox (event_id, event_type, subject, envelope, correlation_id)
			VALUES ($1, $2, $3, $4, $5)`, env.ID, env.Type, subject, body, env.CorrelationID)
	}
	if err := tx.SendBatch(ctx, batch).Close(); err != nil {
		return fmt.Errorf("outbox: record %d events: %w", len(envs), err)
	}
	return nil
}
