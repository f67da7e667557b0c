// Package app is the auth service's behaviour, one use case per file: Register, Login,
// Refresh, Verify, Logout and BootstrapAdmin. It depends on the ports declared here; the
// adapters implement them against PostgreSQL, Valkey and bcrypt.
package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"go.opentelemetry.io/otel/metric"

	"github.com/caasdemo/orderdemo/events"
	"github.com/caasdemo/orderdemo/services/auth/internal/domain"
	"github.com/caasdemo/orderdemo/services/platform/authtoken"
)

// Users stores accounts and, in the same transaction, the events about them.
type Users interface {
	// ByUsername returns the user, or domain.ErrUnknownUser.
	ByUsername(ctx context.Context, username string) (domain.User, error)
	// Create stores a new user with its events; domain.ErrUsernameTaken if the name is used.
	Create(ctx context.Context, u domain.User, evs ...events.Envelope) error
	// Update locks the user, lets change modify it and return events, and stores both.
	Update(ctx context.Context, userID string, change func(u *domain.User) ([]events.Envelope, error)) error
	// Append stores events that change no user (a failed login of an unknown name).
	Append(ctx context.Context, evs ...events.Envelope) error
}

// Hasher hashes and checks passwords. Both calls may return ErrBusy when too much hashing is
// already queued.
type Hasher interface {
	Hash(ctx context.Context, password string) ([]byte, error)
	// Compare reports whether password matches hash.
	Compare(ctx context.Context, hash []byte, password string) (bool, error)
}

// Limit is one sliding window of attempts: at most Max within Window. Key names what is
// counted and for whom (e.g. "login:user:alice").
type Limit struct {
	Key    string
	Max    int
	Window time.Duration
}

// Limiter counts attempts exactly, in sliding windows shared by every replica.
type Limiter interface {
	// Acquire counts one attempt against every limit, unless one of them is full: then it
	// counts nothing and returns how long until that window frees.
	Acquire(ctx context.Context, now time.Time, limits ...Limit) (attempt string, wait time.Duration, err error)
	// Release uncounts an attempt that did not fail (a successful login).
	Release(ctx context.Context, attempt string, limits ...Limit) error
}

// Sessions are the login sessions behind refresh tokens.
type Sessions interface {
	// Start opens a session and returns its first refresh token.
	Start(ctx context.Context, s Session) (refreshToken string, err error)
	// Rotate exchanges a refresh token for the next one. The token the last rotation replaced
	// gets that rotation's successor again while the grace period lasts (renewals racing
	// each other all end on one chain). Any other token that is unknown, expired or already
	// used returns ErrInvalidRefresh and, if it belonged to a session, ends it.
	Rotate(ctx context.Context, refreshToken string) (Session, string, error)
	// End closes a session; its refresh token stops working.
	End(ctx context.Context, sessionID string) error
}

// Session is a login session.
type Session struct {
	ID        string
	UserID    string
	Username  string
	IsAdmin   bool
	StartedAt time.Time
}

// Errors of the use cases, beyond the domain's.
var (
	ErrBusy           = errors.New("too many password checks in progress")
	ErrInvalidRefresh = errors.New("invalid refresh token")
)

// RateLimitedError is returned by Login and Register while a limit is exhausted.
type RateLimitedError struct {
	Attempts   string // what was limited, as a plural: "failed login attempts", "registrations"
	RetryAfter time.Duration
}

func (e *RateLimitedError) Error() string {
	return fmt.Sprintf("too many %s; try again in %s", e.Attempts, e.RetryAfter.Round(time.Second))
}

// Policy are the login and registration limits.
type Policy struct {
	PerUsername int           // failed logins per username per Window
	PerClient   int           // failed logins per client address per Window
	Window      time.Duration // the sliding window of failed logins
	// RegisterPerClient registrations per client address per RegisterWindow.
	RegisterPerClient int
	RegisterWindow    time.Duration
}

// App carries the dependencies of the use cases.
type App struct {
	users    Users
	hasher   Hasher
	limiter  Limiter
	sessions Sessions
	issuer   *authtoken.Issuer
	verifier *authtoken.Verifier
	revoked  authtoken.RevocationList
	policy   Policy
	now      func() time.Time
	log      *slog.Logger
	dummy    func() []byte // a hash to compare against when the user does not exist
	// adminSettled is closed when the admin bootstrap started by AdminBootstrap has finished;
	// nil when none was started.
	adminSettled chan struct{}
	metrics      metrics
}

// Deps lists what New needs.
type Deps struct {
	Users    Users
	Hasher   Hasher
	Limiter  Limiter
	Sessions Sessions
	Issuer   *authtoken.Issuer
	Verifier *authtoken.Verifier
	Revoked  authtoken.RevocationList
	Policy   Policy
	Now      func() time.Time
	Log      *slog.Logger
	// DummyHash returns a hash of the configured cost, used so that a login for a name that
	// does not exist takes as long as a wrong password.
	DummyHash func() []byte
	// Meters (nil: not measured) receives the count of refused logins by reason.
	Meters metric.MeterProvider
}

// New returns the application.
func New(d Deps) *App {
	return &App{users: d.Users, hasher: d.Hasher, limiter: d.Limiter, sessions: d.Sessions, issuer: d.Issuer,
		verifier: d.Verifier, revoked: d.Revoked, policy: d.Policy, now: d.Now, log: d.Log, dummy: d.DummyHash,
		metrics: newMetrics(d.Meters)}
}

// Tokens is what a login or a refresh hands out.
type Tokens struct {
	AccessToken  string
	ExpiresIn    time.Duration
	RefreshToken string
	Claims       authtoken.Claims
}

// newEvent wraps a payload from the auth service.
func newEvent(p events.Payload, correlationID string, version int64, at time.Time) (events.Envelope, error) {
	return events.New(p, events.Metadata{Source: "auth", CorrelationID: correlationID, AggregateVersion: version, Time: at})
}
