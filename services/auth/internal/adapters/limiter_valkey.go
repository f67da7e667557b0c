package adapters

import (
	"context"
	"strconv"
	"time"

	"github.com/valkey-io/valkey-go"

	"github.com/caasdemo/orderdemo/events"
	"github.com/caasdemo/orderdemo/services/auth/internal/app"
)

// acquireScript counts one attempt in every sliding window (a sorted set of attempt ids
// scored by time), unless one window is full: then it counts nothing and returns the
// milliseconds until the oldest attempt of the fullest window leaves it. Running as one
// script makes check-and-count atomic: six concurrent attempts against a limit of five count
// five and refuse one, even within the same millisecond.
//
// KEYS: the windows. ARGV[1]: now (ms), ARGV[2]: attempt id, then per key: max, window (ms).
var acquireScript = valkey.NewLuaScript(`
local now = tonumber(ARGV[1])
local wait = 0
for i, key in ipairs(KEYS) do
  local max = tonumber(ARGV[1 + 2 * i])
  local window = tonumber(ARGV[2 + 2 * i])
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
  if redis.call('ZCARD', key) >= max then
    local oldest = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
    local w = tonumber(oldest[2]) + window - now
    if w > wait then wait = w end
  end
end
if wait > 0 then return wait end
for i, key in ipairs(KEYS) do
  redis.call('ZADD', key, now, ARGV[2])
  redis.call('PEXPIRE', key, tonumber(ARGV[2 + 2 * i]))
end
return 0
`)

// Limiter is app.Limiter on Valkey sorted sets, one per limit key, under prefix + "ratelimit:".
type Limiter struct {
	client valkey.Client
	prefix string
}

// NewLimiter returns a limiter; prefix separates deployments (or tests) sharing a server.
func NewLimiter(client valkey.Client, prefix string) *Limiter {
	return &Limiter{client: client, prefix: prefix + "ratelimit:"}
}

// Acquire implements app.Limiter.
func (l *Limiter) Acquire(ctx context.Context, now time.Time, limits ...app.Limit) (string, time.Duration, error) {
	attempt := events.NewID()
	keys := make([]string, len(limits))
	args := []string{strconv.FormatInt(now.UnixMilli(), 10), attempt}
	for i, lim := range limits {
		keys[i] = l.prefix + lim.Key
		args = append(args, strconv.Itoa(lim.Max), strconv.FormatInt(lim.Window.Milliseconds(), 10))
	}
	ms, err := acquireScript.Exec(ctx, l.client, keys, args).AsInt64()
	if err != nil {
		return "", 0, err
	}
	return attempt, time.Duration(ms) * time.Millisecond, nil
}

// Release implements app.Limiter.
func (l *Limiter) Release(ctx context.Context, attempt string, limits ...app.Limit) error {
	if attempt == "" {
		return nil
	}
	cmds := make(valkey.Commands, len(limits))
	for i, lim := range limits {
		cmds[i] = l.client.B().Zrem().Key(l.prefix + lim.Key).Member(attempt).Build()
	}
	for _, res := range l.client.DoMulti(ctx, cmds...) {
		if err := res.Error(); err != nil {
			return err
		}
	}
	return nil
}
