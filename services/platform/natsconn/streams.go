package natsconn

import (
	"context"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/caasdemo/orderdemo/events"
)

// StreamConfig is the JetStream configuration of a stream of the event contract: file
// storage, every event kept (projections are rebuilt from sequence 1), and the duplicate
// window that makes a republished event id a no-op.
func StreamConfig(s events.Stream) jetstream.StreamConfig {
	return jetstream.StreamConfig{
		Name:        s.Name,
		Description: s.Description,
		Subjects:    s.Subjects,
		Storage:     jetstream.FileStorage,
		Retention:   jetstream.LimitsPolicy,
		Discard:     jetstream.DiscardOld,
		MaxAge:      0, // keep forever
		MaxMsgs:     -1,
		MaxBytes:    -1,
		Duplicates:  s.Duplicates,
		Replicas:    1,
		AllowDirect: true,
	}
}

// EnsureStream creates the stream, or updates it to the configuration in code. The
// producing service calls it at start-up; it is idempotent.
func EnsureStream(ctx context.Context, js jetstream.JetStream, s events.Stream) (jetstream.Stream, error) {
	st, err := js.CreateOrUpdateStream(ctx, StreamConfig(s))
	if err != nil {
		return nil, fmt.Errorf("stream %s: %w", s.Name, err)
	}
	return st, nil
}
