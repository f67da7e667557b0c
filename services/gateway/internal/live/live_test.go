package live_test

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/caasdemo/orderdemo/services/gateway/internal/live"
)

func TestHubRoutesEventsToTheOwnerAndAdmins(t *testing.T) {
	t.Parallel()
	h := live.NewHub(4, 10)
	alice, bob, admin := h.Subscribe("alice", "s1", false), h.Subscribe("bob", "s2", false), h.Subscribe("root", "s3", true)
	h.Publish(live.Event{Seq: 1, OwnerID: "alice"})
	assert.Equal(t, uint64(1), (<-alice.C).Seq)
	assert.Equal(t, uint64(1), (<-admin.C).Seq)
	assert.Empty(t, bob.C, "bob never sees alice's orders")
}

func TestASlowClientIsDroppedWithoutDelayingOthers(t *testing.T) {
	t.Parallel()
	h := live.NewHub(2, 10)
	slow, fast := h.Subscribe("alice", "s1", false), h.Subscribe("alice", "s1", false)
	for seq := range uint64(5) {
		h.Publish(live.Event{Seq: seq + 1, OwnerID: "alice"})
		<-fast.C // the fast one keeps up
	}
	assert.True(t, h.Dropped(slow))
	assert.False(t, h.Dropped(fast))
	n := 0
	for range slow.C { // closed after what it had buffered
		n++
	}
	assert.Equal(t, 2, n)
	assert.Equal(t, 1, h.Count())
	h.Unsubscribe(slow) // safe after a drop
	h.Unsubscribe(fast)
	assert.Zero(t, h.Count())
}

func TestASessionPastItsStreamLimitLosesItsOldestStream(t *testing.T) {
	t.Parallel()
	h := live.NewHub(4, 3)
	var mine []*live.Subscriber
	for range 3 {
		mine = append(mine, h.Subscribe("alice", "tabs", false))
	}
	other := h.Subscribe("alice", "phone", false) // another login of the same user
	fourth := h.Subscribe("alice", "tabs", false)

	_, open := <-mine[0].C
	assert.False(t, open, "the oldest stream of the session is closed")
	assert.True(t, h.Replaced(mine[0]))
	assert.False(t, h.Dropped(mine[0]), "replaced, not dropped for being slow")
	assert.Equal(t, 4, h.Count(), "three for the session, one for the other login")

	h.Publish(live.Event{Seq: 1, OwnerID: "alice"})
	for _, s := range []*live.Subscriber{mine[1], mine[2], fourth, other} {
		assert.Equal(t, uint64(1), (<-s.C).Seq)
		assert.False(t, h.Replaced(s))
	}

	h.Unsubscribe(mine[1]) // a tab closed: room for one more without replacing
	h.Subscribe("alice", "tabs", false)
	assert.False(t, h.Replaced(mine[2]))
	h.Unsubscribe(mine[0]) // safe after a replacement
	assert.Equal(t, 4, h.Count())
}
