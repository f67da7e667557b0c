package chaos

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats.go"

	"github.com/caasdemo/orderdemo/events"
	"github.com/caasdemo/orderdemo/infrastructure/localstack"
)

// Options shape one run of the suite.
type Options struct {
	Dir         string        // data of the run's servers; removed by the caller
	Users       int           // users placing orders and watching their live stream
	OrdersEvery time.Duration // each user places an order this often
	Before      time.Duration // load before each fault
	Outage      time.Duration // how long a killed piece stays down
	Stopped     time.Duration // how long the audit service stays SIGSTOPped
	After       time.Duration // load after the piece is back
	Settle      time.Duration // how long the system may take to catch up before counting
	Hang        time.Duration // a client call taking longer than this counts as hung
	Out         io.Writer     // progress lines and the table
}

// Short is the form `make test` runs: every fault, briefly.
func Short(dir string, out io.Writer) Options {
	return Options{Dir: dir, Users: 3, OrdersEvery: 250 * time.Millisecond, Before: 2 * time.Second,
		Outage: 2 * time.Second, Stopped: 8 * time.Second, After: 2 * time.Second, Settle: 90 * time.Second,
		Hang: 2 * time.Second, Out: out}
}

// Long is `make chaos`: more users, longer outages, the audit service stopped for 20 s.
func Long(dir string, out io.Writer) Options {
	return Options{Dir: dir, Users: 6, OrdersEvery: 200 * time.Millisecond, Before: 10 * time.Second,
		Outage: 5 * time.Second, Stopped: 20 * time.Second, After: 10 * time.Second, Settle: 120 * time.Second,
		Hang: 2 * time.Second, Out: out}
}

// Fault is one thing done to the running system; it returns when the piece is back (or,
// for a poison message, once it is on the stream).
type Fault struct {
	Name string
	Do   func(ctx context.Context, r *Run) error
}

// Faults are the suite's faults, in the order they are done.
func Faults() []Fault {
	var out []Fault
	for _, name := range localstack.ServiceNames {
		out = append(out, kill(name, syscall.SIGKILL, "kill -9 "+name))
	}
	out = append(out,
		kill(NATS, syscall.SIGKILL, "kill -9 nats"),
		kill(Postgres, syscall.SIGQUIT, "postgres immediate stop"),
		kill(Valkey, syscall.SIGKILL, "kill -9 valkey"),
		Fault{Name: "SIGSTOP audit", Do: func(ctx context.Context, r *Run) error {
			if err := r.sys.Signal("audit", syscall.SIGSTOP); err != nil {
				return err
			}
			pause(ctx, r.opt.Stopped)
			return r.sys.Signal("audit", syscall.SIGCONT)
		}},
		Fault{Name: "poison on orders.>", Do: func(ctx context.Context, r *Run) error { return r.poison(ctx) }},
	)
	return out
}

func kill(piece string, sig syscall.Signal, name string) Fault {
	return Fault{Name: name, Do: func(ctx context.Context, r *Run) error {
		if err := r.sys.Signal(piece, sig); err != nil {
			return err
		}
		pause(ctx, r.opt.Outage)
		return r.sys.Restart(ctx, piece)
	}}
}

// Run is one run of the suite.
type Run struct {
	opt     Options
	sys     *System
	load    *Load
	streams *streamIndex
	prev    Snapshot
	poisons []string // event ids of the poison messages published
	Rows    []Counts
	Replay  string // the outcome of the final replay with verification
}

// serviceEnv keeps the services' logs short and lifts the request limits: the load comes
// from one address and its admin decides faster than a person. The rest are the defaults
// an operator gets.
var serviceEnv = append([]string{"LOG_LEVEL=warn"}, localstack.LoadGeneratorEnv...)

// Execute starts the system, runs the load and every fault, and ends with a replay that
// verifies the projections. It returns the run whatever was found; err is for a run that
// could not be carried out.
func Execute(ctx context.Context, opt Options, faults []Fault) (*Run, error) {
	say := func(format string, args ...any) { fmt.Fprintf(opt.Out, "chaos: "+format+"\n", args...) }
	say("starting PostgreSQL, Valkey, JetStream and the four services as separate processes (data in %s)", opt.Dir)
	sys, err := Start(ctx, opt.Dir, serviceEnv)
	if err != nil {
		return nil, err
	}
	defer sys.Stop()
	nc, err := nats.Connect(sys.NATSURL, nats.MaxReconnects(-1), nats.ReconnectWait(100*time.Millisecond))
	if err != nil {
		return nil, err
	}
	defer nc.Close()
	r := &Run{opt: opt, sys: sys}
	if r.streams, err = newStreamIndex(nc); err != nil {
		return nil, err
	}
	if r.load, err = NewLoad(ctx, sys, opt.Users, opt.OrdersEvery, opt.Hang); err != nil {
		return nil, err
	}
	r.load.Run(ctx)
	defer r.load.Stop()
	for _, f := range faults {
		r.load.Resume()
		pause(ctx, opt.Before)
		say("%s", f.Name)
		c := Counts{Fault: f.Name}
		if err := f.Do(ctx, r); err != nil {
			return r, fmt.Errorf("%s: %w", f.Name, err)
		}
		if c.ReadyAfter, err = sys.WaitReady(ctx, opt.Settle); err != nil {
			c.Note = err.Error()
		}
		pause(ctx, opt.After)
		r.load.Hold(ctx)
		if err := r.settle(ctx, &c); err != nil {
			return r, fmt.Errorf("%s: %w", f.Name, err)
		}
		r.Rows = append(r.Rows, c)
		r.prev = r.load.Snapshot()
		if ctx.Err() != nil {
			return r, ctx.Err()
		}
	}
	r.load.Stop()
	r.Replay = r.replay(ctx)
	return r, nil
}

// settle checks until everything that flows by itself has arrived, or opt.Settle passes.
func (r *Run) settle(ctx context.Context, c *Counts) error {
	deadline := time.Now().Add(r.opt.Settle)
	for {
		err := r.check(ctx, c)
		if err == nil && c.settled() && r.poisonsParked(ctx) {
			return nil
		}
		if time.Now().After(deadline) {
			if err != nil {
				return err
			}
			if !r.poisonsParked(ctx) {
				c.Note = "poison message not parked"
			}
			return nil
		}
		pause(ctx, 250*time.Millisecond)
	}
}

// poison publishes a message that decodes but cannot be applied: its ids are not UUIDs.
func (r *Run) poison(ctx context.Context) error {
	data, _ := json.Marshal(map[string]any{"order_id": "not-a-uuid", "user_id": "not-a-uuid", "username": "poison",
		"item_name": "poison", "quantity": 1, "notes": "", "status": "pending", "created_at": time.Now().UTC()})
	env := events.Envelope{SpecVersion: events.SpecVersion, ID: events.NewID(), Source: "chaos", Type: "OrderCreated",
		Subject: "not-a-uuid", Time: time.Now().UTC(), DataContentType: "application/json",
		DataSchema: events.SchemaURI("OrderCreated"), AggregateVersion: 1, Data: data}
	body, err := json.Marshal(env)
	if err != nil {
		return err
	}
	js := r.streams.js
	msg := &nats.Msg{Subject: "orders.created.not-a-uuid.not-a-uuid", Data: body, Header: nats.Header{}}
	msg.Header.Set("Nats-Msg-Id", env.ID)
	msg.Header.Set("Ce-Type", env.Type)
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if _, err := js.PublishMsg(pctx, msg); err != nil {
		return err
	}
	r.poisons = append(r.poisons, env.ID)
	return nil
}

// poisonsParked reports whether the audit consumer parked every poison message.
func (r *Run) poisonsParked(ctx context.Context) bool {
	if len(r.poisons) == 0 {
		return true
	}
	qctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	db, err := pgx.Connect(qctx, r.sys.DatabaseURL)
	if err != nil {
		return false
	}
	defer db.Close(context.Background())
	var n int
	err = db.QueryRow(qctx, `SELECT count(DISTINCT event_id) FROM audit.dead_letters WHERE event_id = ANY($1)`, r.poisons).Scan(&n)
	return err == nil && n == len(r.poisons)
}

// replay runs `audit replay --verify` and returns its last line (and the error, if any).
func (r *Run) replay(ctx context.Context) string {
	env, err := r.sys.AuditEnv()
	if err != nil {
		return "failed: " + err.Error()
	}
	cctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(cctx, r.sys.Bin("audit"), "replay", "--verify")
	cmd.Env = append(env, serviceEnv...)
	out, err := cmd.CombinedOutput()
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	last := lines[len(lines)-1]
	if i := strings.LastIndex(last, "\r"); i >= 0 {
		last = last[i+1:]
	}
	if err != nil {
		return fmt.Sprintf("failed (%v): %s", err, strings.TrimSpace(string(out)))
	}
	return last
}

// Clean reports whether every fault left every count at zero and the replay verified.
func (r *Run) Clean() bool {
	for _, c := range r.Rows {
		if !c.Clean() || c.Note != "" {
			return false
		}
	}
	return strings.HasPrefix(r.Replay, "verified: no differences")
}

// Table writes the run as a table: one row per fault.
func (r *Run) Table(w io.Writer) {
	tw := tabwriter.NewWriter(w, 0, 0, 1, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "fault\tacked orders\tacked decisions\tacked users\torders lost\tdecisions lost\tusers lost\tevents lost\tevents doubled\tprojection ≠ orders\tunpublished\tlive missed\thung > 2s\trefused\tgave up\tready after\t")
	for _, c := range r.Rows {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%s\t\n", c.Fault, c.OrdersAcked, c.DecisionsAcked,
			c.UsersAcked, c.OrdersMissing, c.DecisionsMissing, c.UsersMissing, c.EventsMissing, c.DuplicateEvents,
			c.ProjectionDiff, c.Unpublished, c.LiveMissed, c.Hung, c.Refused, c.Unfinished, c.ReadyAfter.Round(time.Millisecond))
	}
	_ = tw.Flush()
	for _, c := range r.Rows {
		if len(c.Exited) > 0 {
			fmt.Fprintf(w, "%s: exited by themselves: %s\n", c.Fault, strings.Join(c.Exited, ", "))
		}
		if c.Note != "" {
			fmt.Fprintf(w, "%s: %s\n", c.Fault, c.Note)
		}
	}
	fmt.Fprintf(w, "slowest client call: %s\n", r.load.Snapshot().Worst.Round(time.Millisecond))
	fmt.Fprintf(w, "replay --verify: %s\n", r.Replay)
}

// TempDir makes a data directory the postgres user can enter.
func TempDir() (string, error) {
	dir, err := os.MkdirTemp("", "chaos-")
	if err != nil {
		return "", err
	}
	return dir, os.Chmod(dir, 0o755)
}
