package replay_test

import (
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/caasdemo/orderdemo/events"
	"github.com/caasdemo/orderdemo/services/audit/internal/migrations"
	"github.com/caasdemo/orderdemo/services/audit/internal/replay"
	"github.com/caasdemo/orderdemo/services/platform/config"
	"github.com/caasdemo/orderdemo/services/platform/consumer"
	"github.com/caasdemo/orderdemo/services/platform/natsconn"
	"github.com/caasdemo/orderdemo/services/platform/postgres"
	"github.com/caasdemo/orderdemo/services/platform/testenv"
)

// BenchmarkReplay100k rebuilds every projection from 100,000 events (orders created and
// decided) and reports the rebuild rate.
//
//	go test -run '^$' -bench Replay100k -benchtime 1x ./services/audit/internal/replay/
func BenchmarkReplay100k(b *testing.B) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	pool, err := postgres.Open(b.Context(), postgres.Config{URL: config.URL(testenv.PostgresURL(b)), ConnectTimeout: 5 * time.Second, MaxConns: 8, CallTimeout: testenv.DatabaseCallTimeout},
		"audit", "audit", log, postgres.Migrations{FS: migrations.FS}, consumer.Migrations)
	require.NoError(b, err)
	defer pool.Close()
	nc, js, err := natsconn.Connect(b.Context(), natsconn.Config{URL: config.URL(testenv.NATS(b)), ConnectTimeout: time.Second}, "bench", log)
	require.NoError(b, err)
	defer nc.Close()
	for _, s := range events.Streams() {
		_, err := natsconn.EnsureStream(b.Context(), js, s)
		require.NoError(b, err)
	}
	const n = 100_000
	user := events.NewID()
	for i := 0; i < n; i += 2 {
		if i%2000 == 0 {
			<-js.PublishAsyncComplete() // stay under the client's limit of pending publishes
		}
		id := events.NewID()
		now := time.Now()
		created, _ := events.New(events.OrderCreated{OrderID: id, UserID: user, Username: "bench", ItemName: "x", Quantity: 1, Status: "pending", CreatedAt: now},
			events.Metadata{Source: "bench", AggregateVersion: 1})
		decided, _ := events.New(events.OrderApproved{OrderID: id, UserID: user, AdminID: user, AdminUsername: "root", DecidedAt: now},
			events.Metadata{Source: "bench", AggregateVersion: 2})
		for _, env := range []events.Envelope{created, decided} {
			raw, _ := events.Encode(env)
			subject, _ := env.NATSSubject()
			_, err := js.PublishAsync(subject, raw, jetstream.WithMsgID(env.ID))
			require.NoError(b, err)
		}
	}
	<-js.PublishAsyncComplete()
	r := replay.New(pool, js, nil, log)
	b.ResetTimer()
	for b.Loop() {
		start := time.Now()
		p, err := r.Run(b.Context(), "all", false, func(replay.Progress) {})
		require.NoError(b, err)
		require.EqualValues(b, n, p.Done)
		b.ReportMetric(float64(n)/time.Since(start).Seconds(), "events/s")
	}
}
