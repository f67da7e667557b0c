package replay

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/caasdemo/orderdemo/services/audit/internal/projection"
)

// maxListed caps the differences listed per table; the count is always given.
const maxListed = 50

// comparisons are, per table, the key and the columns compared.
var comparisons = []struct {
	live, rebuild, key, columns string
	of                          func(projection.Set) bool
}{
	{"audit_log", "audit_log_rebuild", "event_id",
		"event_id, event_type, actor_id, actor_username, subject, occurred_at, correlation_id, stream, stream_seq, event",
		func(s projection.Set) bool { return s.AuditLog }},
	{"orders_view", "orders_view_rebuild", "order_id",
		"order_id, user_id, username, status, created_at, decided_at, decided_by_id, decided_by, version",
		func(s projection.Set) bool { return s.Orders }},
	{"users_view", "users_view_rebuild", "user_id", "user_id, username, is_admin, registered_at",
		func(s projection.Set) bool { return s.Orders }},
}

// compare lists the rows that differ between the live and the rebuilt tables of set.
func compare(ctx context.Context, tx pgx.Tx, set projection.Set) ([]string, error) {
	var diffs []string
	for _, c := range comparisons {
		if !c.of(set) {
			continue
		}
		for _, side := range []struct{ from, other, what string }{
			{c.live, c.rebuild, "only in the live projection (no event explains it)"},
			{c.rebuild, c.live, "missing from the live projection"},
		} {
			rows, err := tx.Query(ctx, fmt.Sprintf(`SELECT %[1]s::text, count(*) OVER () FROM
				(SELECT %[2]s FROM %[3]s EXCEPT SELECT %[2]s FROM %[4]s) d ORDER BY 1 LIMIT %[5]d`,
				c.key, c.columns, side.from, side.other, maxListed))
			if err != nil {
				return nil, fmt.Errorf("compare %s: %w", c.live, err)
			}
			var total int64
			for rows.Next() {
				var key string
				if err := rows.Scan(&key, &total); err != nil {
					rows.Close()
					return nil, err
				}
				diffs = append(diffs, fmt.Sprintf("%s: row %s %s", c.live, key, side.what))
			}
			rows.Close()
			if err := rows.Err(); err != nil {
				return nil, err
			}
			if total > maxListed {
				diffs = append(diffs, fmt.Sprintf("%s: … %d more rows %s", c.live, total-maxListed, side.what))
			}
		}
	}
	return diffs, nil
}

// CompareWithTruth lists where the statistics of the live orders view disagree with the order
// service's own counts.
func CompareWithTruth(ctx context.Context, r *Replayer) ([]string, error) {
	if r.truth == nil {
		return nil, nil
	}
	truth, err := r.truth.OrderCounts(ctx)
	if err != nil {
		return nil, fmt.Errorf("ask the order service: %w", err)
	}
	mine := map[string]int64{}
	rows, err := r.pool.Query(ctx, `SELECT status, count(*) FROM orders_view GROUP BY status`)
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var s string
		var n int64
		if err := rows.Scan(&s, &n); err != nil {
			rows.Close()
			return nil, err
		}
		mine[s] = n
	}
	rows.Close()
	var diffs []string
	for _, status := range []string{"pending", "approved", "rejected"} {
		if mine[status] != truth[status] {
			diffs = append(diffs, fmt.Sprintf("statistics: %d %s orders, the order service has %d", mine[status], status, truth[status]))
		}
	}
	return diffs, nil
}
