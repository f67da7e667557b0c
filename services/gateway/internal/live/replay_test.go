package live_test

import (
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/caasdemo/orderdemo/events"
	"github.com/caasdemo/orderdemo/services/gateway/internal/live"
	"github.com/caasdemo/orderdemo/services/platform/config"
	"github.com/caasdemo/orderdemo/services/platform/natsconn"
	"github.com/caasdemo/orderdemo/services/platform/testenv"
)

func TestReplayReturnsWhatAUserMissed(t *testing.T) {
	t.Parallel()
	nc, js, err := natsconn.Connect(t.Context(), natsconn.Config{URL: config.URL(testenv.NATS(t)), ConnectTimeout: time.Second}, "test",
		slog.New(slog.NewTextHandler(io.Discard, nil)))
	require.NoError(t, err)
	defer nc.Close()
	_, err = natsconn.EnsureStream(t.Context(), js, events.OrdersStream)
	require.NoError(t, err)
	alice, bob := events.NewID(), events.NewID()
	publish := func(owner string) uint64 {
		env, err := events.New(events.OrderCreated{OrderID: events.NewID(), UserID: owner, Username: "x", ItemName: "x", Quantity: 1,
			Status: "pending", CreatedAt: time.Now()}, events.Metadata{Source: "test", AggregateVersion: 1})
		require.NoError(t, err)
		b, _ := events.Encode(env)
		subject, _ := env.NATSSubject()
		ack, err := js.Publish(t.Context(), subject, b)
		require.NoError(t, err)
		return ack.Sequence
	}
	first := publish(alice)
	publish(bob)
	third := publish(alice)
	fourth := publish(alice)

	got, from, err := live.Replay(t.Context(), js, first, alice, false)
	require.NoError(t, err)
	var seqs []uint64
	for _, e := range got {
		seqs = append(seqs, e.Seq)
	}
	assert.Equal(t, []uint64{third, fourth}, seqs, "alice's events after the first, not bob's")
	assert.Equal(t, first, from)

	all, _, err := live.Replay(t.Context(), js, first, "", true)
	require.NoError(t, err)
	assert.Len(t, all, 3, "an admin sees every order")
	none, _, err := live.Replay(t.Context(), js, fourth, alice, false)
	require.NoError(t, err)
	assert.Empty(t, none)

	// A position past the stream's end (a forged or stale Last-Event-ID) counts as its end.
	none, from, err = live.Replay(t.Context(), js, 999_999_999, alice, false)
	require.NoError(t, err)
	assert.Empty(t, none)
	assert.Equal(t, fourth, from, "clamped to the stream's last sequence")
}
