package live_test

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/caasdemo/orderdemo/events"
	"github.com/caasdemo/orderdemo/services/gateway/internal/live"
	"github.com/caasdemo/orderdemo/services/platform/config"
	"github.com/caasdemo/orderdemo/services/platform/natsconn"
	"github.com/caasdemo/orderdemo/services/platform/testenv"
)

// stream connects to a fresh JetStream server holding the ORDERS stream.
func stream(t *testing.T) jetstream.JetStream {
	t.Helper()
	nc, js, err := natsconn.Connect(t.Context(), natsconn.Config{URL: config.URL(testenv.NATS(t)), ConnectTimeout: time.Second}, "test",
		slog.New(slog.NewTextHandler(io.Discard, nil)))
	require.NoError(t, err)
	t.Cleanup(nc.Close)
	_, err = natsconn.EnsureStream(t.Context(), js, events.OrdersStream)
	require.NoError(t, err)
	return js
}

// publishOrder puts an order of owner's on the stream and returns its sequence.
func publishOrder(t *testing.T, js jetstream.JetStream, owner string) uint64 {
	t.Helper()
	env, err := events.New(events.OrderCreated{OrderID: events.NewID(), UserID: owner, Username: "x", ItemName: "x", Quantity: 1,
		Status: "pending", CreatedAt: time.Now()}, events.Metadata{Source: "test", AggregateVersion: 1})
	require.NoError(t, err)
	b, _ := events.Encode(env)
	subject, _ := env.NATSSubject()
	ack, err := js.Publish(t.Context(), subject, b)
	require.NoError(t, err)
	return ack.Sequence
}

func seqs(list []live.Event) []uint64 {
	var out []uint64
	for _, e := range list {
		out = append(out, e.Seq)
	}
	return out
}

func TestReplayReturnsWhatAUserMissed(t *testing.T) {
	t.Parallel()
	js := stream(t)
	alice, bob := events.NewID(), events.NewID()
	first := publishOrder(t, js, alice)
	publishOrder(t, js, bob)
	third := publishOrder(t, js, alice)
	fourth := publishOrder(t, js, alice)

	got, err := live.Replay(t.Context(), js, first, alice, false)
	require.NoError(t, err)
	assert.Equal(t, []uint64{third, fourth}, seqs(got), "alice's events after the first, not bob's")

	all, err := live.Replay(t.Context(), js, first, "", true)
	require.NoError(t, err)
	assert.Len(t, all, 3, "an admin sees every order")
	none, err := live.Replay(t.Context(), js, fourth, alice, false)
	require.NoError(t, err)
	assert.Empty(t, none)
}

// A browser further behind than one replay sends gets the oldest events first, told there
// are more; the replay after the last of them returns the rest.
func TestAReplayTooFarBehindReturnsTheOldestBatchAndTheNextFollows(t *testing.T) {
	t.Parallel()
	js := stream(t)
	alice := events.NewID()
	start := publishOrder(t, js, events.NewID())
	var want []uint64
	for range 1003 {
		want = append(want, publishOrder(t, js, alice))
	}

	batch, err := live.Replay(t.Context(), js, start, alice, false)
	require.ErrorIs(t, err, live.ErrTooFarBehind)
	require.Len(t, batch, 1000)
	assert.Equal(t, want[:1000], seqs(batch), "the oldest, in order")

	rest, err := live.Replay(t.Context(), js, batch[len(batch)-1].Seq, alice, false)
	require.NoError(t, err)
	assert.Equal(t, want[1000:], seqs(rest))
}

// The position a stream joins the feed at is the feed's, not the stream's end: an event in
// the stream that the feed has yet to deliver is after it, so a replay from there returns
// it (and the subscriber gets it too, once the feed delivers it: the stream sends it once).
func TestAStreamJoinsAtTheFeedsPositionNotTheStreamsEnd(t *testing.T) {
	t.Parallel()
	js := stream(t)
	alice := events.NewID()
	before := publishOrder(t, js, alice)
	hub := live.NewHub(4, 10)
	feed, err := live.NewFeed(t.Context(), js, hub, slog.New(slog.NewTextHandler(io.Discard, nil)))
	require.NoError(t, err)
	undelivered := publishOrder(t, js, alice) // the feed is not running yet

	sub, joined := feed.Subscribe(alice, "s1", false)
	defer hub.Unsubscribe(sub)
	assert.Equal(t, before, joined, "what the feed had delivered, not the stream's last sequence")
	missed, err := live.Replay(t.Context(), js, min(999_999_999, joined), alice, false)
	require.NoError(t, err)
	assert.Equal(t, []uint64{undelivered}, seqs(missed))

	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { defer close(done); _ = feed.Run(ctx) }()
	defer func() { cancel(); <-done }()
	select {
	case e := <-sub.C:
		assert.Equal(t, undelivered, e.Seq, "and the subscriber gets it live")
	case <-time.After(10 * time.Second):
		t.Fatal("the feed never delivered the event")
	}
}

// A feed made on an empty stream delivers the events published before it runs: its
// position is 0, and it goes on from there, not from whatever is new when it starts.
func TestAFeedMadeOnAnEmptyStreamDeliversWhatCameBeforeItRan(t *testing.T) {
	t.Parallel()
	js := stream(t)
	hub := live.NewHub(4, 10)
	feed, err := live.NewFeed(t.Context(), js, hub, slog.New(slog.NewTextHandler(io.Discard, nil)))
	require.NoError(t, err)
	alice := events.NewID()
	sub, joined := feed.Subscribe(alice, "s1", false)
	defer hub.Unsubscribe(sub)
	assert.Zero(t, joined)
	early := publishOrder(t, js, alice)

	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { defer close(done); _ = feed.Run(ctx) }()
	defer func() { cancel(); <-done }()
	select {
	case e := <-sub.C:
		assert.Equal(t, early, e.Seq)
	case <-time.After(10 * time.Second):
		t.Fatal("the feed never delivered the event published before it ran")
	}
}
