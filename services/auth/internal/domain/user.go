// Package domain holds the auth service's rules: what a valid username and password are, and
// what a user is. It knows nothing of HTTP, SQL, Valkey or NATS.
package domain

import (
	"errors"
	"fmt"
	"github.com/caasdemo/orderdemo/services/platform/validation"
	"regexp"
	"strings"
	"time"
)

// Field rules, as stated to the user.
const (
	UsernameRule    = "must be 4–20 characters: letters, digits or underscore"
	PasswordMinRule = "must be at least 8 bytes"
	PasswordMaxRule = "must be at most 72 bytes (bcrypt's limit; multi-byte characters count more than once)"
)

// Limits of the password, in bytes: bcrypt ignores everything past byte 72, so a longer
// password would give a false sense of strength.
const (
	PasswordMinBytes = 8
	PasswordMaxBytes = 72
)

var usernamePattern = regexp.MustCompile(`^[a-zA-Z0-9_]{4,20}$`)

// Errors of the auth domain.
var (
	ErrUsernameTaken      = errors.New("username already exists")
	ErrInvalidCredentials = errors.New("invalid username or password")
	ErrUnknownUser        = errors.New("no such user")
)

// FieldError says which input field broke which rule.
type FieldError = validation.FieldError

// ValidationError lists every field that broke a rule; the API answers it with a 400 naming
// each one.
type ValidationError = validation.Errors

// Username is a validated, lower-cased username: unique regardless of case.
type Username string

// ParseUsername validates raw and returns it lower-cased.
func ParseUsername(raw string) (Username, error) {
	if !usernamePattern.MatchString(raw) {
		return "", ValidationError{{Field: "username", Rule: UsernameRule}}
	}
	return Username(strings.ToLower(raw)), nil
}

// NormalizeLogin lower-cases what a user typed at login, without validating it: a login
// with a malformed name is simply an unknown user.
func NormalizeLogin(raw string) string { return strings.ToLower(strings.TrimSpace(raw)) }

// LoginCanMatch reports whether what a user typed at login could name an account at all,
// once the white space around it is trimmed (as NormalizeLogin does). A name holding a
// control character (NUL, CR, LF…) or invalid UTF-8 cannot: no username admits one, and
// PostgreSQL refuses NUL in text. Such a login is refused as wrong credentials without
// being looked up; any other malformed name is looked up as an unknown user, so that a
// typo is counted and recorded like any failed login.
func LoginCanMatch(raw string) bool {
	return validation.Line("username", strings.TrimSpace(raw)) == nil
}

// CheckPassword validates a new password: any printable text (spaces, symbols, any script)
// of 8 to 72 bytes. A control character (NUL, tab, a line break…) or invalid UTF-8 is
// refused with the shared rule for one line of text: no keyboard types one into a password
// field, and bcrypt implementations differ on NUL.
func CheckPassword(password string) error {
	if err := validation.Line("password", password); err != nil {
		return err
	}
	switch n := len(password); {
	case n < PasswordMinBytes:
		return ValidationError{{Field: "password", Rule: PasswordMinRule}}
	case n > PasswordMaxBytes:
		return ValidationError{{Field: "password", Rule: PasswordMaxRule}}
	}
	return nil
}

// ValidateRegistration checks both fields and reports every problem at once.
func ValidateRegistration(username, password string) (Username, error) {
	var errs ValidationError
	u, err := ParseUsername(username)
	if err != nil {
		errs = append(errs, err.(ValidationError)...)
	}
	if err := CheckPassword(password); err != nil {
		errs = append(errs, err.(ValidationError)...)
	}
	if len(errs) > 0 {
		return "", errs
	}
	return u, nil
}

// User is an account.
type User struct {
	ID           string
	Username     Username
	PasswordHash []byte
	IsAdmin      bool
	CreatedAt    time.Time
	LastLogin    *time.Time
	Version      int64 // the aggregate version: incremented by every event about the user
}

// NewUser returns a user to be created; id is a fresh UUID.
func NewUser(id string, username Username, hash []byte, isAdmin bool, now time.Time) (User, error) {
	if id == "" || username == "" || len(hash) == 0 {
		return User{}, fmt.Errorf("new user: id, username and hash are required")
	}
	return User{ID: id, Username: username, PasswordHash: hash, IsAdmin: isAdmin, CreatedAt: now, Version: 1}, nil
}
