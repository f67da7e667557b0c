package service_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/caasdemo/orderdemo/events"
	"github.com/caasdemo/orderdemo/services/platform/testenv"
)

func TestALineBreakInOrderTextCannotForgeEventsInTheAdminsStream(t *testing.T) {
	t.Parallel()
	h := start(t)
	h.fake.admin = true
	h.login()
	stream := h.eventsAt("/events?view=admin", "") // subscribed once it returns

	for i, item := range []string{
		"Lamp\rid: 999999999\revent: forged\rdata: <b>gotcha</b>", // a lone CR, as a browser splits lines
		"Lamp\r\nid: 999999998\r\nevent: forged\r\n\r\ndata: x",   // CRLF, and an attempt to end the event
		"Lamp\nid: 999999997\nevent: forged",                      // a lone LF
	} {
		seq := h.publish(events.OrderCreated{OrderID: events.NewID(), UserID: events.NewID(), Username: "mallory",
			ItemName: item, Quantity: 1, Status: "pending", CreatedAt: time.Now()}, 1)
		b := stream.nextEvent(t)
		assert.Equal(t, itoa(seq), b.ID(), "case %d: the id is the stream sequence, not the forged one", i)
		assert.Equal(t, "order-queued", b.Name(), "case %d: no forged event name", i)
		for _, f := range b.Fields {
			assert.Contains(t, []string{"id", "event", "data"}, f.Name, "case %d", i)
		}
		assert.Empty(t, b.Comments, "case %d", i)
		assert.Contains(t, b.Data(), "mallory", "case %d: the row arrives whole", i)
		assert.Contains(t, b.Data(), "event: forged", "case %d: the text is shown as text", i)
		assert.NotContains(t, b.Data(), "<b>gotcha</b>", "case %d: and escaped", i)
	}
}

func TestAResumePositionPastTheStreamsEndStillGetsLaterEvents(t *testing.T) {
	t.Parallel()
	h := start(t)
	h.login()
	// An earlier event, delivered by the live feed before the streams open: a position past
	// the end counts as the feed's, which is past this one, so it is not replayed.
	h.feedAt(h.publish(events.OrderApproved(events.OrderDecision{OrderID: events.NewID(), UserID: userID, AdminID: events.NewID(),
		AdminUsername: "root", DecidedAt: time.Now()}), 2))
	streams := map[string]*sse{ // each open (subscribed) when eventsAt returns
		"Last-Event-ID far past the end":       h.eventsAt("/events", "999999999"),
		"?after= far past the end":             h.eventsAt("/events?after=999999999", ""),
		"a Last-Event-ID that is not a number": h.eventsAt("/events?after=999999999", "abc"),
	}
	require.Equal(t, 3, h.svc.Hub.Count())

	orderID := events.NewID()
	seq := h.publish(events.OrderApproved(events.OrderDecision{OrderID: orderID, UserID: userID, AdminID: events.NewID(),
		AdminUsername: "root", DecidedAt: time.Now()}), 2)
	for name, stream := range streams {
		id, event, _ := stream.next(t)
		assert.Equal(t, itoa(seq), id, name)
		assert.Equal(t, "order-"+orderID, event, name)
	}
}

// An event already on the stream that the gateway's live feed has yet to deliver when a
// stream resumes from past the end (a feed a little behind, or restarting) is sent, once:
// the position counts as the feed's, not as the stream's end, which would pass the event
// and then skip it as already sent when the feed delivers it.
func TestAResumePositionPastTheEndGetsAnEventTheFeedHadYetToDeliver(t *testing.T) {
	t.Parallel()
	h := start(t)
	h.login()
	behind, svc, runFeed := h.heldInstance() // its feed starts only when told
	orderID := events.NewID()
	seq := h.publish(events.OrderApproved(events.OrderDecision{OrderID: orderID, UserID: userID, AdminID: events.NewID(),
		AdminUsername: "root", DecidedAt: time.Now()}), 2)
	stream := h.eventsOn(behind.URL, "/events", "999999999")
	require.Equal(t, 1, svc.Hub.Count(), "subscribed")
	runFeed() // the feed delivers the event now, to the subscribed stream

	id, name, _ := stream.next(t)
	assert.Equal(t, itoa(seq), id)
	assert.Equal(t, "order-"+orderID, name)
	later := h.publish(events.OrderApproved(events.OrderDecision{OrderID: events.NewID(), UserID: userID, AdminID: events.NewID(),
		AdminUsername: "root", DecidedAt: time.Now()}), 2)
	id, _, _ = stream.next(t)
	assert.Equal(t, itoa(later), id, "the event is not sent a second time when the feed delivers it")
}

// A browser further behind than one replay sends gets the oldest batch and the stream ends;
// its EventSource reconnects with the last id it got and gets the next batch, then live
// events: nothing is skipped.
func TestAStreamTooFarBehindCatchesUpInBatches(t *testing.T) {
	t.Parallel()
	h := start(t, "UPSTREAM_TIMEOUT", "30s") // the replay's deadline: a thousand reads on a busy machine
	h.login()
	from := h.publish(events.OrderApproved(events.OrderDecision{OrderID: events.NewID(), UserID: userID, AdminID: events.NewID(),
		AdminUsername: "root", DecidedAt: time.Now()}), 2)
	missed := h.publishDecisions(1005)
	h.feedAt(missed[len(missed)-1]) // delivered live before the stream opens: only the replay can send them

	first := h.events(itoa(from))
	for i := range 1000 {
		id, _, _ := first.next(t)
		require.Equal(t, itoa(missed[i]), id, "event %d of the first batch", i)
	}
	for _, b := range first.end(t) {
		assert.Empty(t, b.Data(), "the stream ends after the batch")
	}

	again := h.events(itoa(missed[999]))
	for i, seq := range missed[1000:] {
		id, _, _ := again.next(t)
		require.Equal(t, itoa(seq), id, "event %d of the second batch", i)
	}
	later := h.publish(events.OrderApproved(events.OrderDecision{OrderID: events.NewID(), UserID: userID, AdminID: events.NewID(),
		AdminUsername: "root", DecidedAt: time.Now()}), 2)
	id, _, _ := again.next(t)
	assert.Equal(t, itoa(later), id, "then it goes on live")
}

// A replay that fails (NATS away) ends the stream without sending anything: an event sent
// then would move the browser's Last-Event-ID past the missed ones. The browser retries
// with the id it had and, once NATS is back, gets what it missed.
func TestAStreamWhoseReplayFailsEndsWithoutSendingAnything(t *testing.T) {
	t.Parallel()
	broker := testenv.StartNATS(t)
	h := start(t, "NATS_URL", broker.URL())
	h.login()
	seen := h.publish(events.OrderApproved(events.OrderDecision{OrderID: events.NewID(), UserID: userID, AdminID: events.NewID(),
		AdminUsername: "root", DecidedAt: time.Now()}), 2)
	missedID := events.NewID()
	missed := h.publish(events.OrderApproved(events.OrderDecision{OrderID: missedID, UserID: userID, AdminID: events.NewID(),
		AdminUsername: "root", DecidedAt: time.Now()}), 2)
	h.feedAt(missed) // delivered live before the stream opens: only the replay can send it
	broker.Stop()

	for _, b := range h.events(itoa(seen)).end(t) {
		assert.Empty(t, b.ID(), "no id")
		assert.Empty(t, b.Data(), "no event")
	}

	broker.Start()
	for deadline := time.Now().Add(30 * time.Second); ; { // the browser's retries, until NATS is back
		b := h.events(itoa(seen)).nextEvent(t)
		if b.ID() != "" {
			assert.Equal(t, itoa(missed), b.ID())
			assert.Equal(t, "order-"+missedID, b.Name())
			break
		}
		require.True(t, time.Now().Before(deadline), "the replay never succeeded again")
		time.Sleep(100 * time.Millisecond) // the retry delay, shortened
	}
}

func TestASessionHoldsAtMostTenStreamsAndTheOldestIsClosed(t *testing.T) {
	t.Parallel()
	h := start(t)
	h.login()
	var streams []*sse
	for range 10 {
		streams = append(streams, h.events(""))
	}
	// The ten are subscribed, in order: each was when its answer began.
	eleventh := h.events("")

	b := streams[0].nextEvent(t)
	assert.Equal(t, "stream-closed", b.Name(), "the oldest is told it was closed (the page stops reconnecting)")
	assert.Empty(t, streams[0].nextEvent(t).Fields, "and it ends")

	orderID := events.NewID()
	h.publish(events.OrderApproved(events.OrderDecision{OrderID: orderID, UserID: userID, AdminID: events.NewID(),
		AdminUsername: "root", DecidedAt: time.Now()}), 2)
	for i, s := range append(streams[1:], eleventh) {
		_, name, _ := s.next(t)
		assert.Equal(t, "order-"+orderID, name, "stream %d still live", i+1)
	}
}

func TestThePagesStopListeningToAClosedStream(t *testing.T) {
	t.Parallel()
	h := start(t)
	h.fake.admin = true
	h.login()
	for _, path := range []string{"/orders", "/admin", "/admin/replay"} {
		resp, body, _ := h.page(path)
		require.Equal(t, http.StatusOK, resp.StatusCode, path)
		for _, tag := range strings.Split(body, "<")[1:] {
			if strings.Contains(tag, "sse-connect=") {
				assert.Contains(t, tag, `sse-close="stream-closed"`, path)
			}
		}
	}
}
