package adapters

import (
	"context"
	"crypto/rand"
	"errors"
	"runtime"
	"sync"

	"golang.org/x/crypto/bcrypt"

	"github.com/caasdemo/orderdemo/services/auth/internal/app"
)

// BcryptPool is app.Hasher with bcrypt, running at most Workers hashes at once and letting at
// most Queue more wait. Past that it refuses at once with app.ErrBusy, so a login storm gets
// fast 503s and never starves the other requests of CPU or of goroutines piling up.
//
// The hashes run on worker goroutines, each on an OS thread of its own whose scheduling
// priority is lowered by nice (Linux; elsewhere nice is ignored). The kernel still gives
// them every idle cycle, so logins go as fast as the cores allow, but when other work wants
// the CPU — requests of this or any other service on the machine — it comes first: a login
// storm no longer delays order creation by hundreds of milliseconds.
type BcryptPool struct {
	cost     int
	jobs     chan func()   // taken by a free worker
	admitted chan struct{} // running plus waiting
	stop     chan struct{}
	dummy    func() []byte
}

// NewBcryptPool returns a pool of workers hashing at cost at the given nice value (0 keeps
// the normal priority). Close stops the workers.
func NewBcryptPool(cost, workers, queue, nice int) *BcryptPool {
	p := &BcryptPool{cost: cost, jobs: make(chan func()), admitted: make(chan struct{}, workers+queue), stop: make(chan struct{})}
	for range workers {
		go p.work(nice)
	}
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

// Close stops the workers once they finish the hash in hand.
func (p *BcryptPool) Close() { close(p.stop) }

// work runs hashes on its own OS thread, at a lowered priority, until Close. The thread ends
// with the goroutine (it is never unlocked), so no other goroutine inherits its priority.
func (p *BcryptPool) work(nice int) {
	runtime.LockOSThread()
	if nice != 0 {
		_ = setThreadNice(nice) // best effort: without it, hashes run at the normal priority
	}
	for {
		select {
		case f := <-p.jobs:
			f()
		case <-p.stop:
			return
		}
	}
}

// run hands f to a worker and waits for it; a caller past the queue gets ErrBusy at once.
func (p *BcryptPool) run(ctx context.Context, f func()) error {
	select {
	case p.admitted <- struct{}{}:
	default:
		return app.ErrBusy
	}
	defer func() { <-p.admitted }()
	done := make(chan struct{})
	select {
	case p.jobs <- func() { defer close(done); f() }:
	case <-ctx.Done():
		return ctx.Err()
	case <-p.stop:
		return app.ErrBusy
	}
	<-done
	return nil
}
