package replay

import (
	"context"
	"encoding/json"
	"sync"

	"github.com/nats-io/nats.go"
)

// ProgressSubject is the NATS subject replay progress is published on, for the admin page.
const ProgressSubject = "audit.replay.progress"

// Control starts replays in the background for the API and keeps the latest progress.
type Control struct {
	r    *Replayer
	nc   *nats.Conn
	base context.Context // replays outlive the request that started them, not the service

	mu      sync.Mutex
	current *Progress
}

// NewControl returns a control whose replays stop when base ends.
func NewControl(base context.Context, r *Replayer, nc *nats.Conn) *Control {
	return &Control{r: r, nc: nc, base: base}
}

// Start begins a replay and returns its first progress once it holds the replay lock, or
// ErrRunning (or another error) if it could not start.
func (c *Control) Start(projection string, verify bool) (Progress, error) {
	started := make(chan Progress, 1)
	failed := make(chan error, 1)
	var once sync.Once
	go func() {
		_, err := c.r.Run(c.base, projection, verify, func(p Progress) {
			c.publish(p)
			once.Do(func() { started <- p })
		})
		if err != nil {
			once.Do(func() { failed <- err })
		}
	}()
	select {
	case p := <-started:
		return p, nil
	case err := <-failed:
		return Progress{}, err
	}
}

func (c *Control) publish(p Progress) {
	c.mu.Lock()
	c.current = &p
	c.mu.Unlock()
	if b, err := json.Marshal(p); err == nil {
		_ = c.nc.Publish(ProgressSubject, b)
	}
}

// Status returns the progress of the replay running in this process, or else the last
// recorded replay (nil when there has been none).
func (c *Control) Status(ctx context.Context) (*Progress, error) {
	c.mu.Lock()
	cur := c.current
	c.mu.Unlock()
	if cur != nil && (cur.State == "running" || cur.State == "verifying") {
		return cur, nil
	}
	last, err := c.r.Last(ctx)
	if err != nil || last == nil || cur == nil || cur.RunID != last.RunID {
		return last, err
	}
	return cur, nil // the same run, with its rate and differences
}
