package authtoken

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/caasdemo/orderdemo/events"
)

// AccessTokenTTL is the lifetime of an access token.
const AccessTokenTTL = 15 * time.Minute

// Scopes carried by access tokens.
const (
	ScopeUserOrders  = "user:orders"
	ScopeAdminOrders = "admin:orders"
)

// ScopesFor returns the scopes of a user: every user may order, admins may also decide.
func ScopesFor(isAdmin bool) []string {
	if isAdmin {
		return []string{ScopeUserOrders, ScopeAdminOrders}
	}
	return []string{ScopeUserOrders}
}

// Claims is what a verified access token says about its bearer.
type Claims struct {
	UserID    string    `json:"user_id"`
	Username  string    `json:"username"`
	IsAdmin   bool      `json:"is_admin"`
	Scopes    []string  `json:"scopes"`
	TokenID   string    `json:"-"` // jti: the handle for revocation
	SessionID string    `json:"-"` // sid: the login session the token belongs to
	ExpiresAt time.Time `json:"-"`
}

// HasScope reports whether the token grants scope.
func (c Claims) HasScope(scope string) bool { return slices.Contains(c.Scopes, scope) }

// jwtClaims is the token's JSON form: the registered claims plus ours.
type jwtClaims struct {
	jwt.RegisteredClaims
	Username  string   `json:"username"`
	IsAdmin   bool     `json:"is_admin"`
	Scopes    []string `json:"scopes"`
	SessionID string   `json:"sid,omitempty"`
}

// Errors of Verify. ErrInvalid covers every reason a token is refused except revocation; the
// reason is wrapped for logs and never shown to the caller.
var (
	ErrInvalid = errors.New("invalid token")
	ErrRevoked = errors.New("token revoked")
)

// Issuer signs access tokens. Only the auth service has one.
type Issuer struct {
	cfg Config
	now func() time.Time
}

// NewIssuer returns an issuer; now is the clock (time.Now in production).
func NewIssuer(cfg Config, now func() time.Time) *Issuer { return &Issuer{cfg: cfg, now: now} }

// Issue signs a token for the user, belonging to login session sessionID.
func (i *Issuer) Issue(userID, username string, isAdmin bool, sessionID string) (string, Claims, error) {
	now := i.now().Truncate(time.Second)
	c := Claims{UserID: userID, Username: username, IsAdmin: isAdmin, Scopes: ScopesFor(isAdmin),
		TokenID: events.NewID(), SessionID: sessionID, ExpiresAt: now.Add(AccessTokenTTL)}
	token := jwt.NewWithClaims(jwt.SigningMethodHS256, jwtClaims{
		RegisteredClaims: jwt.RegisteredClaims{
			Subject:   userID,
			Issuer:    i.cfg.Issuer,
			Audience:  jwt.ClaimStrings{i.cfg.Audience},
			IssuedAt:  jwt.NewNumericDate(now),
			NotBefore: jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(c.ExpiresAt),
			ID:        c.TokenID,
		},
		Username: username, IsAdmin: isAdmin, Scopes: c.Scopes, SessionID: sessionID,
	})
	signed, err := token.SignedString([]byte(i.cfg.Secret.Reveal()))
	if err != nil {
		return "", Claims{}, fmt.Errorf("sign token: %w", err)
	}
	return signed, c, nil
}

// RevocationList remembers revoked tokens, and revoked login sessions, until their tokens
// expire.
type RevocationList interface {
	// Revoke refuses the token c from now on and, when c names its login session, every
	// other token of that session (those issued by refreshes before or after c).
	Revoke(ctx context.Context, c Claims) error
	// IsRevoked reports whether the token c, or its login session, was revoked.
	IsRevoked(ctx context.Context, c Claims) (bool, error)
}

// Verifier checks access tokens: signature (HS256 only), expiry (required), not-before,
// issuer, audience, the claims this system needs, and revocation.
type Verifier struct {
	cfg     Config
	revoked RevocationList
	parser  *jwt.Parser
	now     func() time.Time
	checked checkedTokens
}

// NewVerifier returns a verifier consulting revoked; now is the clock.
func NewVerifier(cfg Config, revoked RevocationList, now func() time.Time) *Verifier {
	return &Verifier{cfg: cfg, revoked: revoked, now: now, checked: checkedTokens{max: checkedTokensMax}, parser: jwt.NewParser(
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithIssuer(cfg.Issuer),
		jwt.WithAudience(cfg.Audience),
		jwt.WithTimeFunc(now),
		jwt.WithStrictDecoding(),
	)}
}

// Verify returns the token's claims. It returns an error wrapping ErrInvalid or ErrRevoked
// for a token to refuse (revoked itself, or its login session logged out), and another error
// when the revocation list cannot be read (the caller answers 503: an unchecked token is not
// accepted).
//
// A token that passed every check is remembered (by its SHA-256) until it expires, so its
// next use costs no parsing: the JSON decoding of the claims was a quarter of the order
// service's CPU per request. Revocation is checked on every use all the same.
func (v *Verifier) Verify(ctx context.Context, raw string) (Claims, error) {
	key := sha256.Sum256([]byte(raw))
	c, ok := v.checked.get(key, v.now())
	if !ok {
		var err error
		if c, err = v.parse(raw); err != nil {
			return Claims{}, err
		}
		v.checked.put(key, c, v.now())
	}
	revoked, err := v.revoked.IsRevoked(ctx, c)
	if err != nil {
		return Claims{}, fmt.Errorf("check revocation: %w", err)
	}
	if revoked {
		return Claims{}, ErrRevoked
	}
	return c, nil
}

// parse checks the token's signature and claims.
func (v *Verifier) parse(raw string) (Claims, error) {
	var jc jwtClaims
	_, err := v.parser.ParseWithClaims(raw, &jc, func(*jwt.Token) (any, error) { return []byte(v.cfg.Secret.Reveal()), nil })
	if err != nil {
		return Claims{}, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	if jc.Subject == "" || jc.ID == "" || jc.Username == "" || len(jc.Scopes) == 0 {
		return Claims{}, fmt.Errorf("%w: missing sub, jti, username or scopes", ErrInvalid)
	}
	return Claims{UserID: jc.Subject, Username: jc.Username, IsAdmin: jc.IsAdmin, Scopes: jc.Scopes,
		TokenID: jc.ID, SessionID: jc.SessionID, ExpiresAt: jc.ExpiresAt.Time}, nil
}

// checkedTokensMax bounds the tokens a verifier remembers (about 200 bytes each).
const checkedTokensMax = 4096

// checkedTokens are tokens that passed every check but revocation, by their SHA-256, until
// they expire. The key is the hash of the whole token, signature included: no other string
// finds the entry.
type checkedTokens struct {
	mu     sync.Mutex
	max    int
	claims map[[sha256.Size]byte]Claims
}

func (t *checkedTokens) get(key [sha256.Size]byte, now time.Time) (Claims, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	c, ok := t.claims[key]
	if ok && !now.Before(c.ExpiresAt) {
		delete(t.claims, key)
		return Claims{}, false
	}
	return c, ok
}

func (t *checkedTokens) put(key [sha256.Size]byte, c Claims, now time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.claims == nil {
		t.claims = map[[sha256.Size]byte]Claims{}
	}
	if len(t.claims) >= t.max {
		for k, old := range t.claims { // when full: drop every expired entry, and at least one
			if !now.Before(old.ExpiresAt) || len(t.claims) >= t.max {
				delete(t.claims, k)
			}
			if len(t.claims) < t.max/2 {
				break
			}
		}
	}
	t.claims[key] = c
}

// BearerToken extracts the token of an "Authorization: Bearer <token>" header.
func BearerToken(r *http.Request) (string, bool) {
	scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(token) == "" {
		return "", false
	}
	return strings.TrimSpace(token), true
}
