package adapters

import (
	"context"
	"crypto/rand"
	"errors"
	"sync"

	"golang.org/x/crypto/bcrypt"

	"github.com/caasdemo/orderdemo/services/auth/internal/app"
)

// BcryptPool is app.Hasher with bcrypt, running at most Workers hashes at once and letting at
// most Queue more wait. Past that it refuses at once with app.ErrBusy, so a login storm gets
// fast 503s and never starves the other requests of CPU or of goroutines piling up.
type BcryptPool struct {
	cost     int
	slots    chan struct{} // running hashes
	admitted chan struct{} // running plus waiting
	dummy    func() []byte
}

// NewBcryptPool returns a pool hashing at cost.
func NewBcryptPool(cost, workers, queue int) *BcryptPool {
	p := &BcryptPool{cost: cost, slots: make(chan struct{}, workers), admitted: make(chan struct{}, workers+queue)}
	p.dummy = sync.OnceValue(func() []byte {
		pw := make([]byte, 32)
		_, _ = rand.Read(pw)
		h, _ := bcrypt.GenerateFromPassword(pw, cost)
		return h
	})
	return p
}

// Cost is the bcrypt cost of new hashes.
func (p *BcryptPool) Cost() int { return p.cost }

// DummyHash is a hash of a random password at the pool's cost, made once; comparing against
// it takes as long as checking a real user's password.
func (p *BcryptPool) DummyHash() []byte { return p.dummy() }

// Hash implements app.Hasher.
func (p *BcryptPool) Hash(ctx context.Context, password string) ([]byte, error) {
	var h []byte
	var err error
	if perr := p.run(ctx, func() { h, err = bcrypt.GenerateFromPassword([]byte(password), p.cost) }); perr != nil {
		return nil, perr
	}
	return h, err
}

// Compare implements app.Hasher.
func (p *BcryptPool) Compare(ctx context.Context, hash []byte, password string) (bool, error) {
	var err error
	if perr := p.run(ctx, func() { err = bcrypt.CompareHashAndPassword(hash, []byte(password)) }); perr != nil {
		return false, perr
	}
	if errors.Is(err, bcrypt.ErrMismatchedHashAndPassword) {
		return false, nil
	}
	return err == nil, err
}

func (p *BcryptPool) run(ctx context.Context, f func()) error {
	select {
	case p.admitted <- struct{}{}:
	default:
		return app.ErrBusy
	}
	defer func() { <-p.admitted }()
	select {
	case p.slots <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-p.slots }()
	f()
	return nil
}
