package service_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/caasdemo/orderdemo/events"
)

func TestALineBreakInOrderTextCannotForgeEventsInTheAdminsStream(t *testing.T) {
	t.Parallel()
	h := start(t)
	h.fake.admin = true
	h.login()
	stream := h.eventsAt("/events?view=admin", "")
	time.Sleep(200 * time.Millisecond) // subscribed

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
	h.publish(events.OrderApproved(events.OrderDecision{OrderID: events.NewID(), UserID: userID, AdminID: events.NewID(),
		AdminUsername: "root", DecidedAt: time.Now()}), 2)
	streams := map[string]*sse{
		"Last-Event-ID far past the end":       h.eventsAt("/events", "999999999"),
		"?after= far past the end":             h.eventsAt("/events?after=999999999", ""),
		"a Last-Event-ID that is not a number": h.eventsAt("/events?after=999999999", "abc"),
	}
	time.Sleep(200 * time.Millisecond) // subscribed

	orderID := events.NewID()
	seq := h.publish(events.OrderApproved(events.OrderDecision{OrderID: orderID, UserID: userID, AdminID: events.NewID(),
		AdminUsername: "root", DecidedAt: time.Now()}), 2)
	for name, stream := range streams {
		id, event, _ := stream.next(t)
		assert.Equal(t, itoa(seq), id, name)
		assert.Equal(t, "order-"+orderID, event, name)
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
	time.Sleep(200 * time.Millisecond) // the ten are subscribed, in order
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
