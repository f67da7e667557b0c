package consumer

import "time"

// SetLagCache sets how long r reuses the pending counts read from JetStream.
func SetLagCache(r *Runner, d time.Duration) { r.lag.ttl = d }
