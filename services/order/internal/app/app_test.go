package app_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/caasdemo/orderdemo/events"
	"github.com/caasdemo/orderdemo/services/order/internal/app"
	"github.com/caasdemo/orderdemo/services/order/internal/domain"
)

// memOrders is an in-memory app.Orders for unit tests.
type memOrders struct {
	mu     sync.Mutex
	orders map[string]domain.Snapshot
	keys   map[string]app.IdempotencyKey
	byKey  map[string]string
	events []events.Envelope
	fail   error
}

func newMem() *memOrders {
	return &memOrders{orders: map[string]domain.Snapshot{}, keys: map[string]app.IdempotencyKey{}, byKey: map[string]string{}}
}

func (m *memOrders) Create(_ context.Context, o domain.Order, evs []events.Envelope, key *app.IdempotencyKey) (domain.Snapshot, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail != nil {
		return domain.Snapshot{}, false, m.fail
	}
	s := o.Snapshot()
	if key != nil {
		k := s.Owner.UserID + "/" + key.Key
		if prev, ok := m.keys[k]; ok {
			if prev.RequestHash != key.RequestHash {
				return domain.Snapshot{}, false, app.ErrKeyConflict
			}
			return m.orders[m.byKey[k]], false, nil
		}
		m.keys[k], m.byKey[k] = *key, s.ID
	}
	m.orders[s.ID] = s
	m.events = append(m.events, evs...)
	return s, true, nil
}

func (m *memOrders) Get(_ context.Context, id string) (domain.Snapshot, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s, ok := m.orders[id]
	if !ok {
		return domain.Snapshot{}, domain.ErrNotFound
	}
	return s, nil
}

func (m *memOrders) Update(_ context.Context, id string, change func(*domain.Order) ([]events.Envelope, error)) (domain.Snapshot, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s, ok := m.orders[id]
	if !ok {
		return domain.Snapshot{}, domain.ErrNotFound
	}
	o := domain.Rehydrate(s)
	evs, err := change(&o)
	if err != nil {
		return domain.Snapshot{}, err
	}
	m.orders[id] = o.Snapshot()
	m.events = append(m.events, evs...)
	return o.Snapshot(), nil
}

func (m *memOrders) List(_ context.Context, f app.Filter) ([]domain.Snapshot, int, error) {
	var out []domain.Snapshot
	_ = m.Each(context.Background(), f, func(s domain.Snapshot) error { out = append(out, s); return nil })
	return out, len(out), nil
}

func (m *memOrders) Each(_ context.Context, f app.Filter, fn func(domain.Snapshot) error) error {
	m.mu.Lock()
	var list []domain.Snapshot
	for _, s := range m.orders {
		if f.UserID == "" || s.Owner.UserID == f.UserID {
			list = append(list, s)
		}
	}
	m.mu.Unlock()
	for _, s := range list {
		if err := fn(s); err != nil {
			return err
		}
	}
	return nil
}

func newApp() (*app.App, *memOrders) {
	m := newMem()
	return app.New(m, time.Now, slog.New(slog.NewTextHandler(io.Discard, nil)), nil), m
}

var (
	alice = app.Viewer{UserID: "u-alice", Username: "alice"}
	bob   = app.Viewer{UserID: "u-bob", Username: "bob"}
	root  = app.Viewer{UserID: "u-root", Username: "root", IsAdmin: true}
)

func TestCreateValidatesAndEmitsOrderCreated(t *testing.T) {
	t.Parallel()
	a, m := newApp()
	s, created, err := a.Create(t.Context(), alice, domain.Draft{ItemName: " Lamp ", Quantity: 2}, "", "req-1")
	require.NoError(t, err)
	assert.True(t, created)
	assert.Equal(t, "Lamp", s.ItemName)
	require.Len(t, m.events, 1)
	assert.Equal(t, events.TypeOrderCreated, m.events[0].Type)
	assert.Equal(t, "req-1", m.events[0].CorrelationID)

	_, _, err = a.Create(t.Context(), alice, domain.Draft{ItemName: "", Quantity: 0}, "", "req")
	var ve domain.ValidationError
	assert.ErrorAs(t, err, &ve)

	m.fail = errors.New("db down")
	_, _, err = a.Create(t.Context(), alice, domain.Draft{ItemName: "x", Quantity: 1}, "", "req")
	assert.ErrorContains(t, err, "db down")
}

func TestIdempotentCreate(t *testing.T) {
	t.Parallel()
	a, m := newApp()
	d := domain.Draft{ItemName: "Lamp", Quantity: 2}
	first, _, err := a.Create(t.Context(), alice, d, "k", "req")
	require.NoError(t, err)
	again, created, err := a.Create(t.Context(), alice, domain.Draft{ItemName: "  Lamp", Quantity: 2}, "k", "req")
	require.NoError(t, err)
	assert.False(t, created)
	assert.Equal(t, first.ID, again.ID, "the same request after trimming")
	_, _, err = a.Create(t.Context(), alice, domain.Draft{ItemName: "Lamp", Quantity: 3}, "k", "req")
	assert.ErrorIs(t, err, app.ErrKeyConflict)
	assert.Len(t, m.events, 1)
}

func TestGetHidesForeignOrders(t *testing.T) {
	t.Parallel()
	a, _ := newApp()
	s, _, err := a.Create(t.Context(), alice, domain.Draft{ItemName: "Lamp", Quantity: 1}, "", "req")
	require.NoError(t, err)
	_, err = a.Get(t.Context(), bob, s.ID)
	assert.ErrorIs(t, err, domain.ErrNotFound)
	got, err := a.Get(t.Context(), root, s.ID)
	require.NoError(t, err)
	assert.Equal(t, s.ID, got.ID)
	_, err = a.Get(t.Context(), alice, "missing")
	assert.ErrorIs(t, err, domain.ErrNotFound)
	mine, total, err := a.Mine(t.Context(), bob, "", 20, 0)
	require.NoError(t, err)
	assert.Empty(t, mine)
	assert.Zero(t, total)
}

func TestDecide(t *testing.T) {
	t.Parallel()
	a, m := newApp()
	s, _, err := a.Create(t.Context(), alice, domain.Draft{ItemName: "Lamp", Quantity: 1}, "", "req")
	require.NoError(t, err)
	_, err = a.Decide(t.Context(), root, s.ID, "maybe", "req")
	var ve domain.ValidationError
	assert.ErrorAs(t, err, &ve)

	d, err := a.Decide(t.Context(), root, s.ID, "rejected", "req-2")
	require.NoError(t, err)
	assert.Equal(t, domain.Rejected, d.Status)
	last := m.events[len(m.events)-1]
	assert.Equal(t, events.TypeOrderRejected, last.Type)
	assert.EqualValues(t, 2, last.AggregateVersion)
	p, err := last.Payload()
	require.NoError(t, err)
	assert.Equal(t, "u-alice", p.(*events.OrderRejected).UserID)

	_, err = a.Decide(t.Context(), root, s.ID, "approved", "req")
	assert.ErrorIs(t, err, domain.ErrNotPending)

	// The same decision by the same admin again (its answer was lost): the order as it is,
	// and no second event.
	n := len(m.events)
	again, err := a.Decide(t.Context(), root, s.ID, "rejected", "req-3")
	require.NoError(t, err)
	assert.Equal(t, d, again)
	assert.Len(t, m.events, n)

	var exported int
	require.NoError(t, a.Export(t.Context(), app.Filter{}, func(domain.Snapshot) error { exported++; return nil }))
	assert.Equal(t, 1, exported)
	list, total, err := a.List(t.Context(), app.Filter{})
	require.NoError(t, err)
	assert.Len(t, list, 1)
	assert.Equal(t, 1, total)
}
