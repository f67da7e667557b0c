package app_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"time"

	"github.com/caasdemo/orderdemo/events"
	"github.com/caasdemo/orderdemo/services/auth/internal/app"
	"github.com/caasdemo/orderdemo/services/auth/internal/domain"
	"github.com/caasdemo/orderdemo/services/platform/authtoken"
)

// memUsers is an in-memory app.Users for unit tests; fail injects an error into every call.
type memUsers struct {
	mu     sync.Mutex
	byName map[string]domain.User
	events []events.Envelope
	fail   error
}

func newMemUsers() *memUsers { return &memUsers{byName: map[string]domain.User{}} }

func (m *memUsers) ByUsername(_ context.Context, name string) (domain.User, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail != nil {
		return domain.User{}, m.fail
	}
	u, ok := m.byName[name]
	if !ok {
		return domain.User{}, domain.ErrUnknownUser
	}
	return u, nil
}

func (m *memUsers) Create(_ context.Context, u domain.User, evs ...events.Envelope) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail != nil {
		return m.fail
	}
	if _, ok := m.byName[string(u.Username)]; ok {
		return domain.ErrUsernameTaken
	}
	m.byName[string(u.Username)] = u
	m.events = append(m.events, evs...)
	return nil
}

func (m *memUsers) Update(_ context.Context, id string, change func(*domain.User) ([]events.Envelope, error)) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail != nil {
		return m.fail
	}
	for name, u := range m.byName {
		if u.ID == id {
			evs, err := change(&u)
			if err != nil {
				return err
			}
			m.byName[name] = u
			m.events = append(m.events, evs...)
			return nil
		}
	}
	return domain.ErrUnknownUser
}

func (m *memUsers) Append(_ context.Context, evs ...events.Envelope) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail != nil {
		return m.fail
	}
	m.events = append(m.events, evs...)
	return nil
}

func (m *memUsers) types() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []string
	for _, e := range m.events {
		out = append(out, e.Type)
	}
	return out
}

// plainHasher "hashes" by prefixing; busy and compareErr inject failures.
type plainHasher struct {
	busy       bool
	compareErr error
	compared   int
}

func (p *plainHasher) Hash(_ context.Context, pw string) ([]byte, error) {
	if p.busy {
		return nil, app.ErrBusy
	}
	return []byte("hash:" + pw), nil
}

func (p *plainHasher) Compare(_ context.Context, h []byte, pw string) (bool, error) {
	p.compared++
	if p.busy {
		return false, app.ErrBusy
	}
	if p.compareErr != nil {
		return false, p.compareErr
	}
	return string(h) == "hash:"+pw, nil
}

// countingLimiter refuses once any key has max counted attempts within the window.
type countingLimiter struct {
	mu       sync.Mutex
	attempts map[string][]time.Time
	fail     error
	released int
}

func (c *countingLimiter) Acquire(_ context.Context, now time.Time, limits ...app.Limit) (string, time.Duration, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.fail != nil {
		return "", 0, c.fail
	}
	if c.attempts == nil {
		c.attempts = map[string][]time.Time{}
	}
	for _, l := range limits {
		var live []time.Time
		for _, t := range c.attempts[l.Key] {
			if now.Sub(t) < l.Window {
				live = append(live, t)
			}
		}
		c.attempts[l.Key] = live
		if len(live) >= l.Max {
			return "", live[0].Add(l.Window).Sub(now), nil
		}
	}
	for _, l := range limits {
		c.attempts[l.Key] = append(c.attempts[l.Key], now)
	}
	return "attempt", 0, nil
}

// Release uncounts the latest attempt of each limit (the fake's attempts have no ids).
func (c *countingLimiter) Release(_ context.Context, _ string, limits ...app.Limit) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.released++
	for _, l := range limits {
		if n := len(c.attempts[l.Key]); n > 0 {
			c.attempts[l.Key] = c.attempts[l.Key][:n-1]
		}
	}
	return nil
}

// memSessions keeps sessions in a map; a refresh token is "<id>.<n>".
type memSessions struct {
	mu       sync.Mutex
	sessions map[string]app.Session
	current  map[string]string
	n        int
	fail     error
}

func newMemSessions() *memSessions {
	return &memSessions{sessions: map[string]app.Session{}, current: map[string]string{}}
}

func (m *memSessions) Start(_ context.Context, s app.Session) (string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail != nil {
		return "", m.fail
	}
	m.n++
	tok := s.ID + "." + strings.Repeat("x", m.n)
	m.sessions[s.ID], m.current[s.ID] = s, tok
	return tok, nil
}

func (m *memSessions) Rotate(_ context.Context, tok string) (app.Session, string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	id, _, _ := strings.Cut(tok, ".")
	if m.current[id] != tok {
		delete(m.sessions, id)
		delete(m.current, id)
		return app.Session{}, "", app.ErrInvalidRefresh
	}
	m.n++
	next := id + "." + strings.Repeat("y", m.n)
	m.current[id] = next
	return m.sessions[id], next, nil
}

func (m *memSessions) End(_ context.Context, id string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail != nil {
		return m.fail
	}
	delete(m.sessions, id)
	delete(m.current, id)
	return nil
}

// memRevocations is an in-memory revocation list: token ids and login sessions.
type memRevocations struct {
	mu      sync.Mutex
	revoked map[string]bool
	fail    error
}

func (m *memRevocations) Revoke(_ context.Context, c authtoken.Claims) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail != nil {
		return m.fail
	}
	if m.revoked == nil {
		m.revoked = map[string]bool{}
	}
	m.revoked["token:"+c.TokenID] = true
	if c.SessionID != "" {
		m.revoked["session:"+c.SessionID] = true
	}
	return nil
}

func (m *memRevocations) IsRevoked(_ context.Context, c authtoken.Claims) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.revoked["token:"+c.TokenID] || (c.SessionID != "" && m.revoked["session:"+c.SessionID]), nil
}

var errStore = errors.New("store unavailable")
