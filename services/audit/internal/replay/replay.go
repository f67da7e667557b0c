// Package replay rebuilds projections from the event streams, from sequence 1, into rebuild
// tables while the live projection keeps serving; then, under the swap lock, it catches up
// with whatever arrived meanwhile, optionally compares rebuilt and live row by row, and swaps
// the rebuilt tables in, in one transaction. The rebuild tables are made like the live ones,
// but get the indexes no insert needs only once loaded, and the live indexes' names with the
// swap, so what is swapped in is defined exactly as what it replaces.
//
// A message that cannot be applied — undecodable, or refused by the database (ids that are
// not UUIDs, say) — is skipped, counted and listed in the replay's report, as the live
// consumers park it: one such message never stops a replay, and since it leaves no row on
// either side, verification agrees with a live projection that parked it.
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
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/caasdemo/orderdemo/events"
	"github.com/caasdemo/orderdemo/services/audit/internal/projection"
	"github.com/caasdemo/orderdemo/services/platform/postgres"
)

// ErrRunning: another replay holds the replay lock.
var ErrRunning = errors.New("a replay is already running")

// RunLock keys the session advisory lock that makes replays exclusive.
const RunLock = 0x7265706c // "repl"

// batchSize is how many events go into one transaction of the rebuild.
const batchSize = 2000

// Progress is a replay's state, reported as it goes.
type Progress struct {
	RunID       int64    `json:"run_id"`
	Projection  string   `json:"projection"`
	State       string   `json:"state"` // running, verifying, done, failed
	Done        int64    `json:"done"`
	Total       int64    `json:"total"`
	Rate        float64  `json:"events_per_second"`
	ETA         float64  `json:"eta_seconds"`
	Differences []string `json:"differences,omitempty"`
	// Skipped counts the messages left out because they cannot be applied; SkippedMessages
	// lists them (the first maxListed), each with its stream, sequence and reason.
	Skipped         int64     `json:"skipped"`
	SkippedMessages []string  `json:"skipped_messages,omitempty"`
	Error           string    `json:"error,omitempty"`
	StartedAt       time.Time `json:"started_at"`
}

// skip records messages left out.
func (p *Progress) skip(reasons []string) {
	for _, r := range reasons {
		p.Skipped++
		switch {
		case len(p.SkippedMessages) < maxListed:
			p.SkippedMessages = append(p.SkippedMessages, r)
		case len(p.SkippedMessages) == maxListed:
			p.SkippedMessages = append(p.SkippedMessages, "… and more: see the count")
		}
	}
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
// final progress. It returns ErrRunning if another replay runs. Its statements are exempt
// from the call timeout: index builds and row-by-row comparisons run long by design.
func (r *Replayer) Run(ctx context.Context, name string, verify bool, report func(Progress)) (Progress, error) {
	ctx = postgres.WithoutCallTimeout(ctx)
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
		err := r.read(ctx, name, 1, targets[name], func(b fetched) error {
			var skipped []string
			err := pgx.BeginFunc(ctx, r.pool, func(tx pgx.Tx) (err error) {
				skipped, err = applyBatch(ctx, tx, set, b.recs)
				return err
			})
			if err == nil {
				p.skip(append(b.skipped, skipped...))
				tick(b.consumed)
			}
			return err
		})
		if err != nil {
			return err
		}
	}
	if err := r.buildIndexes(ctx, set); err != nil {
		return err
	}
	if err := r.analyze(ctx, set); err != nil {
		return err
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

// prepare drops what an earlier, interrupted replay left and makes empty rebuild tables: the
// live tables' columns, defaults, constraints and unique indexes (the inserts' ON CONFLICT
// arbitrates on them), but not their other indexes, which buildIndexes makes once the rows
// are in: one sort per index is much cheaper than keeping it up to date row by row.
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
		idx, err := indexes(ctx, r.pool, rebuild[i])
		if err != nil {
			return err
		}
		for _, ix := range idx {
			if ix.unique {
				continue
			}
			if _, err := r.pool.Exec(ctx, `DROP INDEX `+pgx.Identifier{ix.name}.Sanitize()); err != nil {
				return fmt.Errorf("create %s: drop index %s: %w", rebuild[i], ix.name, err)
			}
		}
	}
	return nil
}

// analyze gathers the planner's statistics of the rebuild tables, so that the queries on
// them plan well from the moment they are live, not only once autovacuum has come by.
func (r *Replayer) analyze(ctx context.Context, set projection.Set) error {
	for _, table := range projection.Rebuild.Of(set) {
		if _, err := r.pool.Exec(ctx, `ANALYZE `+pgx.Identifier{table}.Sanitize()); err != nil {
			return fmt.Errorf("analyze %s: %w", table, err)
		}
	}
	return nil
}

// buildIndexes gives the rebuild tables the indexes of the live ones that prepare left out,
// under names PostgreSQL chooses; the swap renames them.
func (r *Replayer) buildIndexes(ctx context.Context, set projection.Set) error {
	live, rebuild := projection.Live.Of(set), projection.Rebuild.Of(set)
	for i := range live {
		idx, err := indexes(ctx, r.pool, live[i])
		if err != nil {
			return err
		}
		for _, ix := range idx {
			if ix.unique {
				continue
			}
			if _, err := r.pool.Exec(ctx, `CREATE INDEX ON `+pgx.Identifier{rebuild[i]}.Sanitize()+` `+ix.body); err != nil {
				return fmt.Errorf("index %s like %s: %w", rebuild[i], ix.name, err)
			}
		}
	}
	return nil
}

// index is one index of a table: its name, and what it is apart from its name and table, which
// is the same for an index of a live table and its copy on the rebuild table.
type index struct {
	name string
	indexDef
}

type indexDef struct {
	unique     bool   // unique or exclusion: an insert's ON CONFLICT may need it
	constraint string // the constraint it backs, e.g. "PRIMARY KEY (event_id)", or ""
	body       string // what follows "CREATE INDEX name ON table ", e.g. "USING btree (occurred_at DESC)"
}

// querier is the pool or a transaction.
type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

// indexes lists the indexes of table. The body is cut from pg_get_indexdef, after the head
// it always starts with; an index whose definition does not is an error rather than a guess.
func indexes(ctx context.Context, q querier, table string) ([]index, error) {
	rows, err := q.Query(ctx, `SELECT ic.relname, i.indisunique OR i.indisexclusion, coalesce(pg_get_constraintdef(con.oid), ''),
			CASE WHEN starts_with(d.def, d.head) THEN substr(d.def, length(d.head) + 1) END
		FROM pg_index i
		JOIN pg_class ic ON ic.oid = i.indexrelid
		JOIN pg_class tc ON tc.oid = i.indrelid
		JOIN pg_namespace n ON n.oid = tc.relnamespace
		LEFT JOIN pg_constraint con ON con.conindid = i.indexrelid AND con.conrelid = i.indrelid
		CROSS JOIN LATERAL (SELECT pg_get_indexdef(i.indexrelid) AS def, format('CREATE %sINDEX %s ON %s.%s ',
			CASE WHEN i.indisunique THEN 'UNIQUE ' END, quote_ident(ic.relname), quote_ident(n.nspname), quote_ident(tc.relname)) AS head) d
		WHERE i.indrelid = $1::text::regclass
		ORDER BY ic.relname`, table)
	if err != nil {
		return nil, fmt.Errorf("indexes of %s: %w", table, err)
	}
	var out []index
	for rows.Next() {
		var ix index
		var body *string
		if err := rows.Scan(&ix.name, &ix.unique, &ix.constraint, &body); err != nil {
			rows.Close()
			return nil, fmt.Errorf("indexes of %s: %w", table, err)
		}
		if body == nil {
			rows.Close()
			return nil, fmt.Errorf("indexes of %s: cannot read the definition of %s", table, ix.name)
		}
		ix.body = *body
		out = append(out, ix)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("indexes of %s: %w", table, err)
	}
	return out, nil
}

// indexNames pairs the rebuild table's indexes with the live table's, definition for
// definition, and returns the live name of each rebuild index. It fails unless both tables
// have the same set of indexes.
func indexNames(live, rebuilt []index) (map[string]string, error) {
	unpaired := map[indexDef][]string{}
	for _, ix := range rebuilt {
		unpaired[ix.indexDef] = append(unpaired[ix.indexDef], ix.name)
	}
	names := map[string]string{}
	for _, ix := range live {
		candidates := unpaired[ix.indexDef]
		if len(candidates) == 0 {
			return nil, fmt.Errorf("the rebuilt table has no index like %s", ix.name)
		}
		names[candidates[0]] = ix.name
		unpaired[ix.indexDef] = candidates[1:]
	}
	for _, left := range unpaired {
		if len(left) > 0 {
			return nil, fmt.Errorf("the rebuilt table has an index the live one has not: %s", left[0])
		}
	}
	return names, nil
}

// applyBatch writes a batch into the rebuild tables of set inside tx, in bulk. When the
// database refuses the batch's data, it applies the events one at a time instead, each under
// a savepoint as the live consumers do, and leaves out those refused, returning why; any
// other failure (the database gone, the replay cancelled) is returned.
func applyBatch(ctx context.Context, tx pgx.Tx, set projection.Set, batch []projection.Record) ([]string, error) {
	err := pgx.BeginFunc(ctx, tx, func(sp pgx.Tx) error {
		return projection.ApplyBulk(ctx, sp, projection.Rebuild, set, batch)
	})
	if !unappliable(err) {
		return nil, err
	}
	var skipped []string
	for _, rec := range batch {
		err := pgx.BeginFunc(ctx, tx, func(sp pgx.Tx) error {
			return projection.Apply(ctx, sp, projection.Rebuild, set, []projection.Record{rec})
		})
		if !unappliable(err) {
			if err != nil {
				return nil, err
			}
			continue
		}
		skipped = append(skipped, fmt.Sprintf("%s #%d: event %s (%s) cannot be applied: %v", rec.Stream, rec.Seq, rec.Env.ID, rec.Env.Type, err))
	}
	return skipped, nil
}

// unappliable reports whether err is PostgreSQL refusing an event's data — a value of the
// wrong form (class 22) or one breaking a constraint (class 23) — which no retry changes.
func unappliable(err error) bool {
	var pg *pgconn.PgError
	return errors.As(err, &pg) && (strings.HasPrefix(pg.Code, "22") || strings.HasPrefix(pg.Code, "23"))
}

// fetched is one fetch from a stream: its events, decoded, how many messages it took
// (undecodable ones included), and why each undecodable one was left out.
type fetched struct {
	recs     []projection.Record
	consumed int
	skipped  []string
}

// read delivers the stream's events from sequence from through to, in batches, to apply. A
// reader goroutine fetches and decodes the next batch while apply writes the previous one;
// read returns only once that goroutine has ended.
func (r *Replayer) read(ctx context.Context, stream string, from, to uint64, apply func(b fetched) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	batches := make(chan fetched, 1) // one batch ready while the previous one is applied
	var fetchErr error
	go func() {
		defer close(batches)
		fetchErr = r.fetch(ctx, stream, from, to, batches)
	}()
	for b := range batches {
		err := ctx.Err()
		if err == nil {
			err = apply(b)
		}
		if err != nil {
			cancel()
			for range batches { // wait for the reader, cancelled, to end
			}
			return err
		}
	}
	return fetchErr // set before batches was closed
}

// fetch sends read's batches to out, until to or ctx ends.
func (r *Replayer) fetch(ctx context.Context, stream string, from, to uint64, out chan<- fetched) error {
	cfg := jetstream.OrderedConsumerConfig{DeliverPolicy: jetstream.DeliverAllPolicy}
	if from > 1 {
		cfg = jetstream.OrderedConsumerConfig{DeliverPolicy: jetstream.DeliverByStartSequencePolicy, OptStartSeq: from}
	}
	cons, err := r.js.OrderedConsumer(ctx, stream, cfg)
	if err != nil {
		return fmt.Errorf("read %s: %w", stream, err)
	}
	next := from
	for next <= to {
		// Ask for exactly what is left, so the last fetch returns without waiting.
		want := int(min(batchSize, to-next+1))
		msgs, err := cons.Fetch(want, jetstream.FetchMaxWait(5*time.Second))
		if err != nil {
			return fmt.Errorf("read %s: %w", stream, err)
		}
		b := fetched{recs: make([]projection.Record, 0, want)}
		for msg := range msgs.Messages() {
			b.consumed++
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
				b.skipped = append(b.skipped, fmt.Sprintf("%s #%d: undecodable: %v", stream, seq, err))
				continue
			}
			b.recs = append(b.recs, rec)
		}
		if err := msgs.Error(); err != nil {
			return fmt.Errorf("read %s: %w", stream, err)
		}
		if b.consumed == 0 {
			return fmt.Errorf("read %s: no message at sequence %d of %d", stream, next, to)
		}
		select {
		case out <- b:
		case <-ctx.Done():
			return ctx.Err()
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
				err := r.read(ctx, name, targets[name]+1, info.State.LastSeq, func(b fetched) error {
					skipped, err := applyBatch(ctx, tx, set, b.recs)
					if err != nil {
						return err
					}
					p.Done += int64(b.consumed)
					p.Total += int64(b.consumed)
					p.skip(append(b.skipped, skipped...))
					return nil
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
			liveIdx, err := indexes(ctx, tx, live[i])
			if err != nil {
				return err
			}
			rebuiltIdx, err := indexes(ctx, tx, rebuild[i])
			if err != nil {
				return err
			}
			names, err := indexNames(liveIdx, rebuiltIdx)
			if err != nil {
				return fmt.Errorf("swap %s: %w", live[i], err)
			}
			l, rb, old := pgx.Identifier{live[i]}.Sanitize(), pgx.Identifier{rebuild[i]}.Sanitize(), pgx.Identifier{live[i] + "_old"}.Sanitize()
			if _, err := tx.Exec(ctx, `ALTER TABLE `+l+` RENAME TO `+old); err != nil {
				return fmt.Errorf("swap %s: %w", live[i], err)
			}
			if _, err := tx.Exec(ctx, `ALTER TABLE `+rb+` RENAME TO `+l); err != nil {
				return fmt.Errorf("swap %s: %w", live[i], err)
			}
			if _, err := tx.Exec(ctx, `DROP TABLE `+old); err != nil {
				return fmt.Errorf("swap %s: %w", live[i], err)
			}
			// Index names are unique in a schema, so the rebuild's had to differ; with the old
			// table gone, its names are free for them (renaming an index that backs a
			// constraint renames the constraint too).
			for from, to := range names {
				if _, err := tx.Exec(ctx, `ALTER INDEX `+pgx.Identifier{from}.Sanitize()+` RENAME TO `+pgx.Identifier{to}.Sanitize()); err != nil {
					return fmt.Errorf("swap %s: %w", live[i], err)
				}
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
		differences = $5, error = NULLIF($6, ''), skipped = $7, skipped_messages = $8 WHERE id = $1`,
		p.RunID, p.State, p.Done, p.Total, p.Differences, p.Error, p.Skipped, p.SkippedMessages)
	if err != nil {
		r.log.Warn("could not save replay result", "error", err)
	}
}

// Last returns the most recent replay, or nil when there has been none.
func (r *Replayer) Last(ctx context.Context) (*Progress, error) {
	var p Progress
	var diffs, skipped []string
	var errText *string
	err := r.pool.QueryRow(ctx, `SELECT id, projection, state, done, total, started_at, coalesce(differences, '[]'::jsonb), error,
			skipped, coalesce(skipped_messages, '[]'::jsonb)
		FROM replay_runs ORDER BY id DESC LIMIT 1`).Scan(&p.RunID, &p.Projection, &p.State, &p.Done, &p.Total, &p.StartedAt, &diffs, &errText,
		&p.Skipped, &skipped)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	p.Differences = diffs
	if len(skipped) > 0 {
		p.SkippedMessages = skipped
	}
	if errText != nil {
		p.Error = *errText
	}
	return &p, nil
}
