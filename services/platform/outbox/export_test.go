package outbox

// SetAfterPublish installs a hook that runs after JetStream acknowledged a batch and before
// the rows are marked published.
func SetAfterPublish(r *Relay, f func()) { r.afterPublish = f }
