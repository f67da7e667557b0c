package projection

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/caasdemo/orderdemo/services/platform/recent"
)

// Stats are the admin statistics, computed from the rows of the live views each time (no
// counter that a duplicate could skew).
type Stats struct {
	TotalOrders        int64      `json:"total_orders"`
	Pending            int64      `json:"pending"`
	Approved           int64      `json:"approved"`
	Rejected           int64      `json:"rejected"`
	ApprovalRate       *float64   `json:"approval_rate"` // approved / (approved + rejected); null before any decision
	AvgDecisionSeconds *float64   `json:"avg_decision_seconds"`
	OrdersPerDay       []DayCount `json:"orders_per_day"` // the last 14 days, oldest first, days without orders included
	RegisteredUsers    int64      `json:"registered_users"`
	FailedLogins24h    int64      `json:"failed_logins_24h"`
	AsOf               time.Time  `json:"as_of"`
}

// DayCount is the number of orders created on one day (UTC).
type DayCount struct {
	Day    string `json:"day"`
	Orders int64  `json:"orders"`
}

// ReadStats computes the statistics from the live tables.
func ReadStats(ctx context.Context, pool *pgxpool.Pool) (Stats, error) {
	var s Stats
	err := pool.QueryRow(ctx, `SELECT
			count(*),
			count(*) FILTER (WHERE status = 'pending'),
			count(*) FILTER (WHERE status = 'approved'),
			count(*) FILTER (WHERE status = 'rejected'),
			avg(extract(epoch FROM decided_at - created_at)) FILTER (WHERE decided_at IS NOT NULL AND created_at IS NOT NULL),
			(SELECT count(*) FROM users_view),
			(SELECT count(*) FROM audit_log WHERE event_type = 'UserLoginFailed' AND occurred_at > now() - interval '24 hours'),
			now()
		FROM orders_view`).Scan(&s.TotalOrders, &s.Pending, &s.Approved, &s.Rejected, &s.AvgDecisionSeconds,
		&s.RegisteredUsers, &s.FailedLogins24h, &s.AsOf)
	if err != nil {
		return Stats{}, fmt.Errorf("stats: %w", err)
	}
	if decided := s.Approved + s.Rejected; decided > 0 {
		rate := float64(s.Approved) / float64(decided)
		s.ApprovalRate = &rate
	}
	rows, _ := pool.Query(ctx, `SELECT to_char(d, 'YYYY-MM-DD'), count(o.order_id)
		FROM generate_series((now() AT TIME ZONE 'UTC')::date - 13, (now() AT TIME ZONE 'UTC')::date, interval '1 day') AS d
		LEFT JOIN orders_view o ON (o.created_at AT TIME ZONE 'UTC')::date = d::date
		GROUP BY d ORDER BY d`)
	s.OrdersPerDay, err = pgx.CollectRows(rows, pgx.RowToStructByPos[DayCount])
	if err != nil {
		return Stats{}, fmt.Errorf("stats per day: %w", err)
	}
	s.AsOf = s.AsOf.UTC()
	return s, nil
}

// StatsCache keeps the last statistics computed, so that a hundred dashboards opening at
// once cost one query, not a hundred. Get answers from the cache while it is younger than
// maxAge and otherwise computes the statistics again; Refresh always does. Callers arriving
// while a computation runs wait for it and share its result. The statistics carry their
// as_of time.
type StatsCache struct {
	pool    *pgxpool.Pool
	maxAge  time.Duration
	results recent.Results[Stats]
}

// NewStatsCache returns a cache over the live tables of pool; maxAge bounds how old the
// statistics Get returns may be.
func NewStatsCache(pool *pgxpool.Pool, maxAge time.Duration) *StatsCache {
	return &StatsCache{pool: pool, maxAge: maxAge}
}

// Get returns statistics computed less than maxAge ago.
func (c *StatsCache) Get(ctx context.Context) (Stats, error) {
	return c.get(ctx, time.Now().Add(-c.maxAge))
}

// Refresh returns statistics computed after the call began, so they include every write
// committed before it.
func (c *StatsCache) Refresh(ctx context.Context) (Stats, error) {
	return c.get(ctx, time.Now())
}

func (c *StatsCache) get(ctx context.Context, since time.Time) (Stats, error) {
	return c.results.Get(ctx, "", since, func(ctx context.Context) (Stats, error) { return ReadStats(ctx, c.pool) })
}
