package upstream

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// List lists every order matching q (the order service's admin filters), for admins.
func (o Orders) List(ctx context.Context, token string, q url.Values) (Page, error) {
	var p Page
	return p, o.do(ctx, http.MethodGet, "/orders?"+q.Encode(), token, "", nil, nil, &p)
}

// Decision is the order service's answer to a decision.
type Decision struct {
	OrderID   string    `json:"order_id"`
	Status    string    `json:"status"`
	UpdatedAt time.Time `json:"updated_at"`
	DecidedBy string    `json:"decided_by"`
}

// Decide approves or rejects an order.
func (o Orders) Decide(ctx context.Context, token, id, status string) (Decision, error) {
	var d Decision
	return d, o.do(ctx, http.MethodPatch, "/orders/"+url.PathEscape(id), token, "application/json",
		strings.NewReader(`{"status":`+fmt.Sprintf("%q", status)+`}`), nil, &d)
}

// Stream GETs path and hands the open answer to the caller, who closes it: for CSV exports
// passed through as they are produced. The answer must begin within the client's timeout;
// the rest may take longer, as an export does.
func (c Client) Stream(ctx context.Context, token, path string) (*http.Response, error) {
	ctx, cancel := context.WithCancel(ctx)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.Base+path, nil)
	if err != nil {
		cancel()
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	client := *c.HTTP
	client.Timeout = 0
	var late *time.Timer // none when the client has no timeout
	if t := c.HTTP.Timeout; t > 0 {
		late = time.AfterFunc(t, cancel)
	}
	resp, err := client.Do(req)
	if late != nil && !late.Stop() && err == nil {
		err = context.DeadlineExceeded // the deadline passed as the answer came
	}
	if err != nil {
		cancel()
		if resp != nil {
			resp.Body.Close()
		}
		return nil, c.unavailable(fmt.Errorf("GET %s: %w", path, err))
	}
	resp.Body = cancelOnClose{ReadCloser: resp.Body, cancel: cancel}
	if unavailableStatus(resp.StatusCode) {
		resp.Body.Close()
		return nil, c.unavailable(fmt.Errorf("GET %s: %s", path, resp.Status))
	}
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		resp.Body.Close()
		return nil, refusal(resp, body)
	}
	return resp, nil
}

// cancelOnClose ends the request's context when its body is closed.
type cancelOnClose struct {
	io.ReadCloser
	cancel context.CancelFunc
}

func (c cancelOnClose) Close() error {
	err := c.ReadCloser.Close()
	c.cancel()
	return err
}

// Audit is the audit service.
type Audit struct{ Client }

// Stats are the admin statistics.
type Stats struct {
	TotalOrders        int64    `json:"total_orders"`
	Pending            int64    `json:"pending"`
	Approved           int64    `json:"approved"`
	Rejected           int64    `json:"rejected"`
	ApprovalRate       *float64 `json:"approval_rate"`
	AvgDecisionSeconds *float64 `json:"avg_decision_seconds"`
	RegisteredUsers    int64    `json:"registered_users"`
	FailedLogins24h    int64    `json:"failed_logins_24h"`
}

// Stats reads the statistics.
func (a Audit) Stats(ctx context.Context, token string) (Stats, error) {
	var s Stats
	return s, a.do(ctx, http.MethodGet, "/audit/stats", token, "", nil, nil, &s)
}

// Entry is one audit log row.
type Entry struct {
	EventID       string    `json:"event_id"`
	Type          string    `json:"type"`
	ActorID       *string   `json:"actor_id"`
	ActorUsername *string   `json:"actor_username"`
	Subject       string    `json:"subject"`
	OccurredAt    time.Time `json:"occurred_at"`
	CorrelationID *string   `json:"correlation_id"`
	Stream        string    `json:"stream"`
	StreamSeq     int64     `json:"stream_seq"`
}

// Entries is a page of the audit log.
type Entries struct {
	Events []Entry `json:"events"`
	Total  int     `json:"total"`
}

// Events reads a page of the audit log.
func (a Audit) Events(ctx context.Context, token string, q url.Values) (Entries, error) {
	var e Entries
	return e, a.do(ctx, http.MethodGet, "/audit/events?"+q.Encode(), token, "", nil, nil, &e)
}

// History is one order's events.
type History struct {
	OrderID     string  `json:"order_id"`
	Events      []Entry `json:"events"`
	NATSCommand string  `json:"nats_command"`
}

// OrderHistory reads one order's events.
func (a Audit) OrderHistory(ctx context.Context, token, id string) (History, error) {
	var h History
	return h, a.do(ctx, http.MethodGet, "/audit/orders/"+url.PathEscape(id)+"/events", token, "", nil, nil, &h)
}

// DeadLetter is a parked event.
type DeadLetter struct {
	ID         int64     `json:"id"`
	Consumer   string    `json:"consumer"`
	Stream     string    `json:"stream"`
	StreamSeq  int64     `json:"stream_seq"`
	EventID    string    `json:"event_id"`
	EventType  string    `json:"event_type"`
	Error      string    `json:"error"`
	Deliveries int       `json:"deliveries"`
	ParkedAt   time.Time `json:"parked_at"`
}

// DeadLetters lists the parked events.
func (a Audit) DeadLetters(ctx context.Context, token string) ([]DeadLetter, error) {
	var out struct {
		DeadLetters []DeadLetter `json:"dead_letters"`
	}
	return out.DeadLetters, a.do(ctx, http.MethodGet, "/audit/dead-letters", token, "", nil, nil, &out)
}

// Redrive applies a parked event again.
func (a Audit) Redrive(ctx context.Context, token string, id int64) error {
	return a.do(ctx, http.MethodPost, fmt.Sprintf("/audit/dead-letters/%d/redrive", id), token, "", nil, nil, nil)
}

// Replay is a replay's progress.
type Replay struct {
	RunID       int64    `json:"run_id"`
	Projection  string   `json:"projection"`
	State       string   `json:"state"`
	Done        int64    `json:"done"`
	Total       int64    `json:"total"`
	Rate        float64  `json:"events_per_second"`
	ETA         float64  `json:"eta_seconds"`
	Differences []string `json:"differences"`
	Error       string   `json:"error"`
}

// Percent is how far the replay is, 0–100.
func (r Replay) Percent() int {
	if r.Total == 0 {
		if r.State == "done" {
			return 100
		}
		return 0
	}
	return int(r.Done * 100 / r.Total)
}

// StartReplay starts a rebuild of projection.
func (a Audit) StartReplay(ctx context.Context, token, projection string, verify bool) (Replay, error) {
	var r Replay
	body := fmt.Sprintf(`{"projection":%q,"verify":%t}`, projection, verify)
	return r, a.do(ctx, http.MethodPost, "/audit/replay", token, "application/json", strings.NewReader(body), nil, &r)
}

// LastReplay reads the running or last replay; a 404 (none yet) is a nil result.
func (a Audit) LastReplay(ctx context.Context, token string) (*Replay, error) {
	var r Replay
	err := a.do(ctx, http.MethodGet, "/audit/replay", token, "", nil, nil, &r)
	var p *Problem
	if errors.As(err, &p) && p.Status == http.StatusNotFound {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return &r, nil
}
