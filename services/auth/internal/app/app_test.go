package app_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/caasdemo/orderdemo/events"
	"github.com/caasdemo/orderdemo/services/auth/internal/app"
	"github.com/caasdemo/orderdemo/services/auth/internal/domain"
	"github.com/caasdemo/orderdemo/services/platform/authtoken"
	"github.com/caasdemo/orderdemo/services/platform/testenv"
)

type fixture struct {
	app      *app.App
	users    *memUsers
	hasher   *plainHasher
	limiter  *countingLimiter
	sessions *memSessions
	revoked  *memRevocations
	now      time.Time
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{users: newMemUsers(), hasher: &plainHasher{}, limiter: &countingLimiter{},
		sessions: newMemSessions(), revoked: &memRevocations{}, now: time.Now().Truncate(time.Second)}
	clock := func() time.Time { return f.now }
	tok := authtoken.Config{Secret: testenv.JWTSecret, Issuer: "iss", Audience: "aud"}
	f.app = app.New(app.Deps{
		Users: f.users, Hasher: f.hasher, Limiter: f.limiter, Sessions: f.sessions,
		Issuer: authtoken.NewIssuer(tok, clock), Verifier: authtoken.NewVerifier(tok, f.revoked, clock), Revoked: f.revoked,
		Policy: app.Policy{PerUsername: 5, PerClient: 50, Window: time.Minute, RegisterPerClient: 50, RegisterWindow: time.Hour},
		Now:    clock, Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
		DummyHash: func() []byte { return []byte("hash:dummy-never-matches") },
	})
	return f
}

func (f *fixture) registered(t *testing.T, name, pw string) domain.User {
	t.Helper()
	u, err := f.app.Register(t.Context(), name, pw, "10.0.0.1", "req")
	require.NoError(t, err)
	return u
}

func TestRegister(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	u := f.registered(t, "Nina", "nina password")
	assert.Equal(t, domain.Username("nina"), u.Username)
	assert.Equal(t, []string{events.TypeUserRegistered}, f.users.types())

	_, err := f.app.Register(t.Context(), "NINA", "another pw", "10.0.0.1", "req")
	assert.ErrorIs(t, err, domain.ErrUsernameTaken)
	_, err = f.app.Register(t.Context(), "x", "y", "10.0.0.1", "req")
	var ve domain.ValidationError
	assert.ErrorAs(t, err, &ve)

	f.hasher.busy = true
	_, err = f.app.Register(t.Context(), "olga", "olga password", "10.0.0.1", "req")
	assert.ErrorIs(t, err, app.ErrBusy)
}

func TestRegistrationIsLimitedPerClient(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.app = app.New(app.Deps{Users: f.users, Hasher: f.hasher, Limiter: f.limiter, Sessions: f.sessions,
		Policy: app.Policy{PerUsername: 5, PerClient: 50, Window: time.Minute, RegisterPerClient: 3, RegisterWindow: time.Hour},
		Now:    func() time.Time { return f.now }, Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	register := func(name, pw, client string) error {
		_, err := f.app.Register(t.Context(), name, pw, client, "req")
		return err
	}
	require.NoError(t, register("sam1", "sam password", "198.51.100.7"))
	require.ErrorAs(t, register("x", "y", "198.51.100.7"), new(domain.ValidationError), "invalid fields: not counted")
	f.hasher.busy = true
	require.ErrorIs(t, register("sam2", "sam password", "198.51.100.7"), app.ErrBusy, "not completed: not counted")
	f.hasher.busy = false
	require.ErrorIs(t, register("SAM1", "sam password", "198.51.100.7"), domain.ErrUsernameTaken, "a name found taken counts")
	require.NoError(t, register("sam3", "sam password", "198.51.100.7"))

	f.now = f.now.Add(10 * time.Minute)
	err := register("sam4", "sam password", "198.51.100.7")
	var limited *app.RateLimitedError
	require.ErrorAs(t, err, &limited, "the fourth counted attempt within the hour")
	assert.Equal(t, 50*time.Minute, limited.RetryAfter)
	assert.Equal(t, "too many registrations from this address; try again in 50m0s", limited.Error())
	_, err = f.users.ByUsername(t.Context(), "sam4")
	assert.ErrorIs(t, err, domain.ErrUnknownUser, "nothing was created")

	require.NoError(t, register("sam4", "sam password", "203.0.113.9"), "another client is not affected")
	f.now = f.now.Add(50 * time.Minute)
	require.NoError(t, register("sam5", "sam password", "198.51.100.7"), "the window has freed")
}

func TestLoginOutcomes(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.registered(t, "paul", "paul password")

	tokens, err := f.app.Login(t.Context(), " Paul ", "paul password", "10.0.0.1", "req")
	require.NoError(t, err)
	assert.Equal(t, authtoken.AccessTokenTTL, tokens.ExpiresIn)
	claims, err := f.app.Verify(t.Context(), tokens.AccessToken)
	require.NoError(t, err)
	assert.Equal(t, "paul", claims.Username)
	assert.Equal(t, 2, f.limiter.released, "a success is uncounted in both windows")

	_, err = f.app.Login(t.Context(), "paul", "wrong", "10.0.0.1", "req")
	assert.ErrorIs(t, err, domain.ErrInvalidCredentials)
	before := f.hasher.compared
	_, err = f.app.Login(t.Context(), "nobody", "wrong", "10.0.0.1", "req")
	assert.ErrorIs(t, err, domain.ErrInvalidCredentials)
	assert.Equal(t, before+1, f.hasher.compared, "an unknown user costs a password check too")

	assert.Equal(t, []string{events.TypeUserRegistered, events.TypeUserLoggedIn, events.TypeUserLoginFailed, events.TypeUserLoginFailed}, f.users.types())
	u, _ := f.users.ByUsername(t.Context(), "paul")
	assert.EqualValues(t, 3, u.Version)
	assert.Equal(t, f.now, *u.LastLogin)
}

func TestLoginIsRateLimitedUntilTheWindowFrees(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.registered(t, "quinn", "quinn password")
	for range 5 {
		_, err := f.app.Login(t.Context(), "quinn", "wrong", "ip", "req")
		require.ErrorIs(t, err, domain.ErrInvalidCredentials)
	}
	_, err := f.app.Login(t.Context(), "quinn", "quinn password", "ip", "req")
	var limited *app.RateLimitedError
	require.ErrorAs(t, err, &limited)
	assert.Equal(t, time.Minute, limited.RetryAfter)
	assert.Contains(t, limited.Error(), "try again in 1m0s")

	f.now = f.now.Add(time.Minute)
	_, err = f.app.Login(t.Context(), "quinn", "quinn password", "ip", "req")
	assert.NoError(t, err)
}

func TestLoginFailuresOfItsDependencies(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.registered(t, "rita", "rita password")

	f.hasher.busy = true
	_, err := f.app.Login(t.Context(), "rita", "rita password", "ip", "req")
	assert.ErrorIs(t, err, app.ErrBusy)
	assert.Equal(t, 2, f.limiter.released, "a busy refusal is not a failed attempt, in either window")
	f.hasher.busy = false

	f.limiter.fail = errStore
	_, err = f.app.Login(t.Context(), "rita", "rita password", "ip", "req")
	assert.ErrorIs(t, err, errStore)
	f.limiter.fail = nil

	f.users.fail = errStore
	_, err = f.app.Login(t.Context(), "rita", "rita password", "ip", "req")
	assert.ErrorIs(t, err, errStore)
	f.users.fail = nil

	f.sessions.fail = errStore
	_, err = f.app.Login(t.Context(), "rita", "rita password", "ip", "req")
	assert.ErrorIs(t, err, errStore)
	f.sessions.fail = nil
}

func TestAFailedEventWriteStillRefusesTheLogin(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.users.fail = errStore
	_, err := f.app.Login(t.Context(), "ghost", "pw", "ip", "req")
	assert.ErrorIs(t, err, errStore)
}

func TestRefreshAndLogout(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.registered(t, "sam_1", "sam password")
	first, err := f.app.Login(t.Context(), "sam_1", "sam password", "ip", "req")
	require.NoError(t, err)

	second, err := f.app.Refresh(t.Context(), first.RefreshToken)
	require.NoError(t, err)
	assert.Equal(t, first.Claims.SessionID, second.Claims.SessionID)
	_, err = f.app.Refresh(t.Context(), first.RefreshToken)
	assert.ErrorIs(t, err, app.ErrInvalidRefresh)

	third, err := f.app.Login(t.Context(), "sam_1", "sam password", "ip", "req")
	require.NoError(t, err)
	require.NoError(t, f.app.Logout(t.Context(), third.Claims, "req"))
	_, err = f.app.Verify(t.Context(), third.AccessToken)
	assert.ErrorIs(t, err, authtoken.ErrRevoked)
	_, err = f.app.Refresh(t.Context(), third.RefreshToken)
	assert.ErrorIs(t, err, app.ErrInvalidRefresh)
	assert.Contains(t, f.users.types(), events.TypeUserLoggedOut)

	// A token of an account deleted meanwhile is still revoked.
	gone := third.Claims
	gone.UserID, gone.TokenID = "no-such-user", "another-jti"
	assert.NoError(t, f.app.Logout(t.Context(), gone, "req"))

	f.revoked.fail = errStore
	assert.ErrorIs(t, f.app.Logout(t.Context(), third.Claims, "req"), errStore)
	f.revoked.fail = nil
	f.sessions.fail = errStore
	assert.ErrorIs(t, f.app.Logout(t.Context(), third.Claims, "req"), errStore)
	f.sessions.fail = nil
	f.users.fail = errStore
	assert.ErrorIs(t, f.app.Logout(t.Context(), third.Claims, "req"), errStore)
}

func TestBootstrapAdmin(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	spec := app.AdminSpec{Username: "Root", Password: "root password"}
	require.NoError(t, f.app.BootstrapAdmin(t.Context(), spec))
	require.NoError(t, f.app.BootstrapAdmin(t.Context(), spec), "idempotent")
	u, err := f.users.ByUsername(t.Context(), "root")
	require.NoError(t, err)
	assert.True(t, u.IsAdmin)
	assert.Equal(t, []string{events.TypeUserRegistered}, f.users.types(), "one account, one event")

	spec.Password = "new root password"
	require.NoError(t, f.app.BootstrapAdmin(t.Context(), spec))
	u, _ = f.users.ByUsername(t.Context(), "root")
	assert.Equal(t, "hash:new root password", string(u.PasswordHash))

	hash := "$2a$04$" + "abcdefghijklmnopqrstuv" + "abcdefghijklmnopqrstuvwxyz01234"
	require.NoError(t, f.app.BootstrapAdmin(t.Context(), app.AdminSpec{Username: "root", PasswordHash: hash}))
	u, _ = f.users.ByUsername(t.Context(), "root")
	assert.Equal(t, hash, string(u.PasswordHash))
	require.NoError(t, f.app.BootstrapAdmin(t.Context(), app.AdminSpec{Username: "hashed", PasswordHash: hash}))
}

func TestBootstrapAdminErrorsNameTheVariable(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		spec app.AdminSpec
		want string
	}{
		{app.AdminSpec{Username: "a b", Password: "long enough"}, "ADMIN_USERNAME"},
		{app.AdminSpec{Username: "admin"}, "ADMIN_PASSWORD or ADMIN_PASSWORD_HASH is required"},
		{app.AdminSpec{Username: "admin", Password: "short"}, "ADMIN_PASSWORD must be at least 8 bytes"},
		{app.AdminSpec{Username: "admin", PasswordHash: "plain"}, "ADMIN_PASSWORD_HASH is not a bcrypt hash"},
	} {
		err := newFixture(t).app.BootstrapAdmin(t.Context(), tc.spec)
		require.Error(t, err)
		assert.Contains(t, err.Error(), tc.want)
	}

	f := newFixture(t)
	f.users.fail = errStore
	assert.ErrorIs(t, f.app.BootstrapAdmin(t.Context(), app.AdminSpec{Username: "admin", Password: "long enough"}), errStore)
	f = newFixture(t)
	f.hasher.busy = true
	assert.ErrorIs(t, f.app.BootstrapAdmin(t.Context(), app.AdminSpec{Username: "admin", Password: "long enough"}), app.ErrBusy)
}

func TestBootstrapAdminUpdateFailures(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	require.NoError(t, f.app.BootstrapAdmin(t.Context(), app.AdminSpec{Username: "admin", Password: "first password"}))
	f.hasher.compareErr = errors.New("corrupt hash")
	assert.Error(t, f.app.BootstrapAdmin(t.Context(), app.AdminSpec{Username: "admin", Password: "first password"}))
	f.hasher.compareErr = nil

	f.hasher.busy = true
	assert.ErrorIs(t, f.app.BootstrapAdmin(context.Background(), app.AdminSpec{Username: "admin", Password: "second password"}), app.ErrBusy)
}
