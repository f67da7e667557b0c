package outbox_test

import (
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/caasdemo/orderdemo/events"
	"github.com/caasdemo/orderdemo/services/platform/outbox"
)

// BenchmarkCommitToStream measures, at low load (one event at a time), the time from the
// commit of a transaction that recorded an event to the event's arrival on the stream, as
// seen by a subscriber. Reports p50 and p99 in milliseconds.
//
//	go test -run '^$' -bench CommitToStream -benchtime 300x ./services/platform/outbox/
func BenchmarkCommitToStream(b *testing.B) {
	f := newFixture(b)
	f.relay(b, outbox.Options{Sweep: time.Second})
	ctx := b.Context()
	arrived := make(chan time.Time, 1)
	cons, err := f.js.OrderedConsumer(ctx, "ORDERS", jetstream.OrderedConsumerConfig{DeliverPolicy: jetstream.DeliverNewPolicy})
	require.NoError(b, err)
	cc, err := cons.Consume(func(jetstream.Msg) { arrived <- time.Now() })
	require.NoError(b, err)
	defer cc.Stop()

	var lat []time.Duration
	for b.Loop() {
		env := newOrderEvent(b)
		require.NoError(b, pgx.BeginFunc(ctx, f.pool, func(tx pgx.Tx) error { return outbox.Record(ctx, tx, env) }))
		committed := time.Now()
		lat = append(lat, (<-arrived).Sub(committed))
	}
	slices.Sort(lat)
	b.ReportMetric(ms(lat[len(lat)/2]), "p50-ms")
	b.ReportMetric(ms(lat[len(lat)*99/100]), "p99-ms")
}

// BenchmarkPipeline10k measures 10,000 events recorded in 100-event transactions, through the
// relay to the stream and through a consumer into a projection table.
//
//	go test -run '^$' -bench Pipeline10k -benchtime 1x ./services/platform/outbox/
func BenchmarkPipeline10k(b *testing.B) {
	for b.Loop() {
		f := newFixture(b)
		ctx := b.Context()
		start := time.Now()
		f.relay(b, outbox.Options{})
		f.project(b)
		for range 100 {
			require.NoError(b, pgx.BeginFunc(ctx, f.pool, func(tx pgx.Tx) error {
				envs := make([]events.Envelope, 100)
				for i := range envs {
					envs[i] = newOrderEvent(b)
				}
				return outbox.Record(ctx, tx, envs...)
			}))
		}
		recorded := time.Since(start)
		require.Eventually(b, func() bool { return f.streamMsgs(b) == 10000 }, 5*time.Minute, 5*time.Millisecond)
		b.ReportMetric(time.Since(start).Seconds(), "on-stream-s")
		require.Eventually(b, func() bool { return f.projected(b) == 10000 }, 5*time.Minute, 20*time.Millisecond)
		b.ReportMetric(recorded.Seconds(), "record-s")
		b.ReportMetric(time.Since(start).Seconds(), "end-to-end-s")
		b.ReportMetric(10000/time.Since(start).Seconds(), "events/s")
	}
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
