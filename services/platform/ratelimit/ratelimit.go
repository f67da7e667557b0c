// Package ratelimit limits how often one caller — a user, a client address — may call an API.
// The count lives in Valkey, so every replica of a service shares it: a user spreading
// requests over three replicas gets the quota once, not three times.
//
// The algorithm is GCRA (the generic cell rate algorithm, a token bucket kept as one
// timestamp): a policy of Quota requests per Window allows a burst of Quota requests, then
// one more every Window/Quota, and the whole quota is back after a quiet Window. One key per
// caller holds the "theoretical arrival time"; one Lua script reads and moves it, so
// checking and counting a request is one atomic round trip however many replicas race.
//
// Middleware answers a refused request with 429, Retry-After and a problem+json body, and
// describes the policy on every response of the routes it guards with the RateLimit-Policy
// and RateLimit fields of draft-ietf-httpapi-ratelimit-headers (revision 11):
//
//	RateLimit-Policy: "per-user";q=600;w=60
//	RateLimit: "per-user";r=599;t=1
//
// r is how many requests may follow at once; t is the seconds until the quota is whole
// again, or, on a refusal (r=0), until the next request is allowed — the same moment as
// Retry-After. A client that spends r requests within t seconds is never refused.
//
// When Valkey cannot count (down, too slow, out of memory), the request is answered 503
// naming valkey through problem.Write: the limit is not silently dropped, and nothing waits
// longer than the Valkey client's own deadline (valkeyconn).
package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/valkey-io/valkey-go"

	"github.com/caasdemo/orderdemo/services/platform/problem"
	"github.com/caasdemo/orderdemo/services/platform/valkeyconn"
)

// Policy is one limit: Quota requests per Window for each partition (user, client address).
type Policy struct {
	// Name identifies the policy in the RateLimit fields and in Valkey keys: lower-case
	// letters, digits and dashes ("per-user").
	Name string
	// Quota is the requests allowed per Window; 0 turns the policy off.
	Quota int
	// Window is a whole number of seconds: the RateLimit fields carry seconds.
	Window time.Duration
}

// Off reports whether the policy limits nothing (a quota of 0; the configuration refuses a
// negative one).
func (p Policy) Off() bool { return p.Quota <= 0 }

// interval is the time one request takes from the quota, in whole microseconds, so that the
// arithmetic in the script stays exact; at least one (the configuration refuses a quota of
// more than one request a microsecond).
func (p Policy) interval() int64 { return max(1, p.Window.Microseconds()/int64(p.Quota)) }

// Decision is the outcome of one request under a policy.
type Decision struct {
	Allowed bool
	// Remaining is how many more requests the partition may make at once.
	Remaining int
	// Reset is, for an allowed request, the time until the whole quota is back.
	Reset time.Duration
	// RetryAfter is, for a refused request, the time until the next one is allowed.
	RetryAfter time.Duration
}

// allowScript counts one request of the partition KEYS[1] by GCRA, in microseconds: the key
// holds the theoretical arrival time (tat) — when the partition's quota would be whole if it
// stopped now. A request moves it one interval later, unless that would put it more than
// the whole quota (burst = quota × interval) ahead of now: then nothing is counted. The key
// expires when the quota is whole again.
//
// ARGV: now, interval, burst. Returns {1, remaining, until whole} or {0, 0, retry after}.
var allowScript = valkey.NewLuaScript(`
local now = tonumber(ARGV[1])
local interval = tonumber(ARGV[2])
local burst = tonumber(ARGV[3])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local after = tat + interval
if after - now > burst then
  return {0, 0, tat - now - burst + interval}
end
redis.call('SET', KEYS[1], after, 'PX', math.ceil((after - now) / 1000))
return {1, math.floor((burst - (after - now)) / interval), after - now}
`)

// Limiter counts requests in Valkey, under prefix + "ratelimit:" + scope.
type Limiter struct {
	client valkey.Client
	prefix string
	now    func() time.Time
}

// New returns a limiter on client, which should be a valkeyconn client so that each count has
// a deadline. prefix separates deployments (or tests) sharing a server (VALKEY_KEY_PREFIX);
// scope separates the services, each of which counts its own API. now is the clock: the
// replicas' clocks must agree to within a small part of a policy's interval (NTP does).
func New(client valkey.Client, prefix, scope string, now func() time.Time) *Limiter {
	return &Limiter{client: client, prefix: prefix + "ratelimit:" + scope + ":", now: now}
}

// Allow counts one request of partition under p, unless its quota is spent. A policy that is
// off allows everything without asking Valkey. An error means nothing could be counted: it
// is a *problem.UnavailableError naming valkey (503), unless ctx itself ended.
func (l *Limiter) Allow(ctx context.Context, p Policy, partition string) (Decision, error) {
	if p.Off() {
		return Decision{Allowed: true}, nil
	}
	interval := p.interval()
	args := []string{
		strconv.FormatInt(l.now().UnixMicro(), 10),
		strconv.FormatInt(interval, 10),
		strconv.FormatInt(interval*int64(p.Quota), 10),
	}
	res, err := allowScript.Exec(ctx, l.client, []string{l.prefix + p.Name + ":" + partition}, args).AsIntSlice()
	if err == nil && len(res) != 3 {
		err = fmt.Errorf("the limit script answered %v", res)
	}
	if err != nil {
		err = fmt.Errorf("rate limit %s: %w", p.Name, err)
		var ue *problem.UnavailableError
		if ctx.Err() == nil && !errors.As(err, &ue) {
			// Valkey answered, but with an error (out of memory, say): it cannot count.
			err = problem.Unavailable(valkeyconn.Dependency, err)
		}
		return Decision{}, err
	}
	wait := time.Duration(res[2]) * time.Microsecond
	if res[0] == 0 {
		return Decision{RetryAfter: wait}, nil
	}
	return Decision{Allowed: true, Remaining: int(res[1]), Reset: wait}, nil
}
