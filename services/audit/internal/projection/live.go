package projection

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/caasdemo/orderdemo/events"
	"github.com/caasdemo/orderdemo/services/platform/consumer"
)

// SwapLock is the PostgreSQL advisory lock between the live consumers and a replay's swap:
// every live write holds it shared; the swap holds it exclusively while it catches up and
// renames the tables, so no live write lands in a table being swapped out.
const SwapLock = 0x61756469 // "audi"

// Handler applies one delivered event to the live tables of every projection.
func Handler() consumer.Handler {
	return func(ctx context.Context, tx pgx.Tx, ev events.Envelope, d consumer.Delivery) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock_shared($1)`, SwapLock); err != nil {
			return fmt.Errorf("swap lock: %w", err)
		}
		p, err := ev.Payload()
		if err != nil {
			return err
		}
		raw, err := events.Encode(ev)
		if err != nil {
			return err
		}
		rec := Record{Env: ev, Payload: p, Raw: raw, Stream: d.Stream, Seq: d.StreamSeq}
		return Apply(ctx, tx, Live, Set{AuditLog: true, Orders: true}, []Record{rec})
	}
}
