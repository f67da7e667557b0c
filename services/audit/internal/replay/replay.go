// Package replay rebuilds projections from the event streams, from sequence 1, into rebuild
// tables while the live projection keeps serving; then, under the swap lock, it catches up
// with whatever arrived meanwhile, optionally compares rebuilt and live row by row, and swaps
// the rebuilt tables in, in one transaction.
//
// A replay killed midway leaves only its rebuild tables behind: the live projection is
// untouched, and the next replay starts by dropping them. One replay runs at a time across
// every process (a session advisory lock); another start gets ErrRunning.
package replay

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/caasdemo/orderdemo/events"
	"github.com/caasdemo/orderdemo/services/audit/internal/projection"
)

// ErrRunning: another replay holds the replay lock.
var ErrRunning = errors.New("a replay is already running")

// RunLock keys the session advisory lock that makes replays exclusive.
const RunLock = 0x7265706c // "repl"

// batchSize is how many events go into one transaction of the rebuild.
const batchSize = 2000

// Progress is a replay's state, reported as it goes.
type Progress struct {
	RunID       int64     `json:"run_id"`
	Projection  string    `json:"projection"`
	State       string    `json:"state"` // running, verifying, done, failed
	Done        int64     `json:"done"`
	Total       int64     `json:"total"`
	Rate        float64   `json:"events_per_second"`
	ETA         float64   `json:"eta_seconds"`
	Differences []string  `json:"differences,omitempty"`
	Error       string    `json:"error,omitempty"`
	StartedAt   time.Time `json:"started_at"`
}

// Truth gives the order counts by status from the order service's own tables.
type Truth interface {
	OrderCounts(ctx context.Context) (map[string]int64, error)
}

// Replayer runs replays for one audit service.
type Replayer struct {
	pool  *pgxpool.Pool
	js    jetstream.JetStream
	truth Truth
	log   *slog.Logger
}

// New returns a replayer; truth may be nil when no verification against the order service
// is wanted.
func New(pool *pgxpool.Pool, js jetstream.JetStream, truth Truth, log *slog.Logger) *Replayer {
	return &Replayer{pool: pool, js: js, truth: truth, log: log.With("component", "replay")}
}

// streams are what every projection is built from: the audit log takes all events, the
// orders projection takes the orders and the registrations.
var streams = []string{events.AuthStream.Name, events.OrdersStream.Name}

// Run rebuilds projection ("all", "audit-log" or "orders"), calling report as it goes (at
// most every 200 ms, and at the end). With verify, the differences between the live and
// the rebuilt rows, and between the statistics and the order service, are listed in the
// final progress. It returns ErrRunning if another replay runs.
func (r *Replayer) Run(ctx context.Context, name string, verify bool, report func(Progress)) (Progress, error) {
	set, err := projection.SetOf(name)
	if err != nil {
		return Progress{}, err
	}
	conn, err := r.pool.Acquire(ctx)
	if err != nil {
		return Progress{}, err
	}
	defer conn.Release()
	var locked bool
	if err := conn.QueryRow(ctx, `SELECT pg_try_advisory_lock($1)`, RunLock).Scan(&locked); err != nil {
		return Progress{}, fmt.Errorf("replay lock: %w", err)
	}
	if !locked {
		return Progress{}, ErrRunning
	}
	defer func() { _, _ = conn.Exec(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1)`, RunLock) }()

	p := Progress{Projection: name, State: "running", StartedAt: time.Now().UTC()}
	if err := conn.QueryRow(ctx, `INSERT INTO replay_runs (projection, state) VALUES ($1, 'running') RETURNING id`, name).Scan(&p.RunID); err != nil {
		return p, fmt.Errorf("record replay: %w", err)
	}
	err = r.run(ctx, set, verify, &p, report)
	if err != nil {
		p.State, p.Error = "failed", err.Error()
	} else {
		p.State = "done"
	}
	r.finish(context.WithoutCancel(ctx), p)
	report(p)
	return p, err
}

func (r *Replayer) run(ctx context.Context, set projection.Set, verify bool, p *Progress, report func(Progress)) error {
	if err := r.prepare(ctx, set); err != nil {
		return err
	}
	targets := map[string]uint64{}
	for _, name := range streams {
		st, err := r.js.Stream(ctx, name)
		if errors.Is(err, jetstream.ErrStreamNotFound) {
			continue // nothing was ever published on it
		}
		if err != nil {
			return fmt.Errorf("stream %s: %w", name, err)
		}
		info := st.CachedInfo() // js.Stream has just fetched it
		targets[name] = info.State.LastSeq
		p.Total += int64(info.State.Msgs)
	}
	start := time.Now()
	last := time.Time{}
	tick := func(n int) {
		p.Done += int64(n)
		if elapsed := time.Since(start).Seconds(); elapsed > 0 {
			p.Rate = float64(p.Done) / elapsed
			if p.Rate > 0 {
				p.ETA = float64(p.Total-p.Done) / p.Rate
			}
		}
		if time.Since(last) > 200*time.Millisecond {
			last = time.Now()
			r.save(ctx, *p)
			report(*p)
		}
	}
	for _, name := range streams {
		if targets[name] == 0 {
			continue
		}
		err := r.read(ctx, name, 1, targets[name], func(batch []projection.Record, consumed int) error {
			err := pgx.BeginFunc(ctx, r.pool, func(tx pgx.Tx) error {
				return projection.Apply(ctx, tx, projection.Rebuild, set, batch)
			})
			if err == nil {
				tick(consumed)
			}
			return err
		})
		if err != nil {
			return err
		}
	}
	p.State = "verifying"
	report(*p)
	if err := r.swap(ctx, set, targets, verify, p); err != nil {
		return err
	}
	if verify && set.Orders {
		diffs, err := CompareWithTruth(ctx, r)
		if err != nil {
			return err
		}
		p.Differences = append(p.Differences, diffs...)
	}
	return nil
}

// prepare drops what an earlier, interrupted replay left and makes empty rebuild tables.
func (r *Replayer) prepare(ctx context.Context, set projection.Set) error {
	live, rebuild := projection.Live.Of(set), projection.Rebuild.Of(set)
	for i := range live {
		l, rb := pgx.Identifier{live[i]}.Sanitize(), pgx.Identifier{rebuild[i]}.Sanitize()
		if _, err := r.pool.Exec(ctx, `DROP TABLE IF EXISTS `+rb); err != nil {
			return fmt.Errorf("drop %s: %w", rebuild[i], err)
		}
		if _, err := r.pool.Exec(ctx, `CREATE TABLE `+rb+` (LIKE `+l+` INCLUDING ALL)`); err != nil {
			return fmt.Errorf("create %s: %w", rebuild[i], err)
		}
	}
	return nil
}

// read delivers the stream's events from sequence from through to, in batches.
func (r *Replayer) read(ctx context.Context, stream string, from, to uint64, apply func(batch []projection.Record, consumed int) error) error {
	cfg := jetstream.OrderedConsumerConfig{DeliverPolicy: jetstream.DeliverAllPolicy}
	if from > 1 {
		cfg = jetstream.OrderedConsumerConfig{DeliverPolicy: jetstream.DeliverByStartSequencePolicy, OptStartSeq: from}
	}
	cons, err := r.js.OrderedConsumer(ctx, stream, cfg)
	if err != nil {
		return fmt.Errorf("read %s: %w", stream, err)
	}
	batch := make([]projection.Record, 0, batchSize)
	next := from
	for next <= to {
		// Ask for exactly what is left, so the last fetch returns without waiting.
		msgs, err := cons.Fetch(int(min(batchSize, to-next+1)), jetstream.FetchMaxWait(5*time.Second))
		if err != nil {
			return fmt.Errorf("read %s: %w", stream, err)
		}
		got := 0
		for msg := range msgs.Messages() {
			got++
			md, err := msg.Metadata()
			if err != nil {
				return err
			}
			seq := md.Sequence.Stream
			if seq > to {
				next = seq
				break
			}
			next = seq + 1
			rec, err := projection.NewRecord(msg.Data(), stream, seq)
			if err != nil {
				// The live consumer parks such a message; a rebuild skips it the same way.
				r.log.Warn("skipping an undecodable message", "stream", stream, "seq", seq, "error", err)
				continue
			}
			batch = append(batch, rec)
		}
		if err := msgs.Error(); err != nil {
			return fmt.Errorf("read %s: %w", stream, err)
		}
		if got > 0 {
			if err := apply(batch, got); err != nil {
				return err
			}
			batch = batch[:0]
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if got == 0 {
			return fmt.Errorf("read %s: no message at sequence %d of %d", stream, next, to)
		}
	}
	return nil
}

// swap catches up with what arrived since the targets, compares, and renames the rebuild
// tables into place, all under the exclusive swap lock.
func (r *Replayer) swap(ctx context.Context, set projection.Set, targets map[string]uint64, verify bool, p *Progress) error {
	return pgx.BeginFunc(ctx, r.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, projection.SwapLock); err != nil {
			return fmt.Errorf("swap lock: %w", err)
		}
		for _, name := range streams {
			st, err := r.js.Stream(ctx, name)
			if errors.Is(err, jetstream.ErrStreamNotFound) {
				continue
			}
			if err != nil {
				return err
			}
			info := st.CachedInfo() // fetched by js.Stream just now
			if info.State.LastSeq > targets[name] {
				err := r.read(ctx, name, targets[name]+1, info.State.LastSeq, func(batch []projection.Record, consumed int) error {
					p.Done += int64(consumed)
					p.Total += int64(consumed)
					return projection.Apply(ctx, tx, projection.Rebuild, set, batch)
				})
				if err != nil {
					return fmt.Errorf("catch up %s: %w", name, err)
				}
			}
		}
		if verify {
			diffs, err := compare(ctx, tx, set)
			if err != nil {
				return err
			}
			p.Differences = diffs
		}
		live, rebuild := projection.Live.Of(set), projection.Rebuild.Of(set)
		for i := range live {
			l, rb, old := pgx.Identifier{live[i]}.Sanitize(), pgx.Identifier{rebuild[i]}.Sanitize(), pgx.Identifier{live[i] + "_old"}.Sanitize()
			if _, err := tx.Exec(ctx, `ALTER TABLE `+l+` RENAME TO `+pgx.Identifier{live[i] + "_old"}.Sanitize()); err != nil {
				return fmt.Errorf("swap %s: %w", live[i], err)
			}
			if _, err := tx.Exec(ctx, `ALTER TABLE `+rb+` RENAME TO `+l); err != nil {
				return fmt.Errorf("swap %s: %w", live[i], err)
			}
			if _, err := tx.Exec(ctx, `DROP TABLE `+old); err != nil {
				return fmt.Errorf("swap %s: %w", live[i], err)
			}
		}
		return nil
	})
}

// save records progress for the admin page.
func (r *Replayer) save(ctx context.Context, p Progress) {
	_, err := r.pool.Exec(ctx, `UPDATE replay_runs SET state = $2, done = $3, total = $4 WHERE id = $1`, p.RunID, p.State, p.Done, p.Total)
	if err != nil {
		r.log.Warn("could not save replay progress", "error", err)
	}
}

func (r *Replayer) finish(ctx context.Context, p Progress) {
	_, err := r.pool.Exec(ctx, `UPDATE replay_runs SET state = $2, done = $3, total = $4, finished_at = now(),
		differences = $5, error = NULLIF($6, '') WHERE id = $1`, p.RunID, p.State, p.Done, p.Total, p.Differences, p.Error)
	if err != nil {
		r.log.Warn("could not save replay result", "error", err)
	}
}

// Last returns the most recent replay, or nil when there has been none.
func (r *Replayer) Last(ctx context.Context) (*Progress, error) {
	var p Progress
	var diffs []string
	var errText *string
	err := r.pool.QueryRow(ctx, `SELECT id, projection, state, done, total, started_at, coalesce(differences, '[]'::jsonb), error
		FROM replay_runs ORDER BY id DESC LIMIT 1`).Scan(&p.RunID, &p.Projection, &p.State, &p.Done, &p.Total, &p.StartedAt, &diffs, &errText)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	p.Differences = diffs
	if errText != nil {
		p.Error = *errText
	}
	return &p, nil
}
