package live_test

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/caasdemo/orderdemo/services/gateway/internal/live"
)

func TestHubRoutesEventsToTheOwnerAndAdmins(t *testing.T) {
	t.Parallel()
	h := live.NewHub(4)
	alice, bob, admin := h.Subscribe("alice", false), h.Subscribe("bob", false), h.Subscribe("root", true)
	h.Publish(live.Event{Seq: 1, OwnerID: "alice"})
	assert.Equal(t, uint64(1), (<-alice.C).Seq)
	assert.Equal(t, uint64(1), (<-admin.C).Seq)
	assert.Empty(t, bob.C, "bob never sees alice's orders")
}

func TestASlowClientIsDroppedWithoutDelayingOthers(t *testing.T) {
	t.Parallel()
	h := live.NewHub(2)
	slow, fast := h.Subscribe("alice", false), h.Subscribe("alice", false)
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
