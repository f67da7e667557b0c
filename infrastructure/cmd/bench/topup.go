package main

import (
	"context"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/caasdemo/orderdemo/events"
)

// topUp publishes n valid OrderCreated events straight to the stream, so the replay has the
// volume to measure.
func topUp(ctx context.Context, js jetstream.JetStream, n int) error {
	user := events.NewID()
	for i := range n {
		if i%2000 == 0 {
			select {
			case <-js.PublishAsyncComplete():
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		env, err := events.New(events.OrderCreated{OrderID: events.NewID(), UserID: user, Username: "bench", ItemName: "x",
			Quantity: 1, Status: "pending", CreatedAt: time.Now()}, events.Metadata{Source: "bench", AggregateVersion: 1})
		if err != nil {
			return err
		}
		b, _ := events.Encode(env)
		subject, _ := env.NATSSubject()
		if _, err := js.PublishAsync(subject, b, jetstream.WithMsgID(env.ID)); err != nil {
			return err
		}
	}
	<-js.PublishAsyncComplete()
	return nil
}
