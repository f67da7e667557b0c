package domain_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/caasdemo/orderdemo/services/auth/internal/domain"
	"github.com/caasdemo/orderdemo/services/platform/validation"
)

func TestParseUsername(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in, want string
		ok       bool
	}{
		{"alice", "alice", true},
		{"Alice_99", "alice_99", true},
		{"abcd", "abcd", true},
		{strings.Repeat("a", 20), strings.Repeat("a", 20), true},
		{"abc", "", false},
		{strings.Repeat("a", 21), "", false},
		{"al ice", "", false},
		{"alice!", "", false},
		{"ålice", "", false},
		{"", "", false},
	} {
		got, err := domain.ParseUsername(tc.in)
		if tc.ok != (err == nil) || string(got) != tc.want {
			t.Errorf("ParseUsername(%q) = %q, %v", tc.in, got, err)
		}
		var ve domain.ValidationError
		if err != nil && (!errors.As(err, &ve) || ve[0].Field != "username") {
			t.Errorf("ParseUsername(%q) error %v does not name the field", tc.in, err)
		}
	}
}

func TestCheckPasswordCountsBytes(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		pw   string
		rule string
	}{
		{"1234567", domain.PasswordMinRule},
		{"12345678", ""},
		{strings.Repeat("x", 72), ""},
		{strings.Repeat("x", 73), domain.PasswordMaxRule},
		{strings.Repeat("é", 37), domain.PasswordMaxRule}, // 74 bytes in 37 characters
		{"spaces, symbols & ünïcode ✓", ""},
		{"password\x00", validation.RuleNoControl},
		{"pass\tword", validation.RuleNoControl},
		{"pass\r\nword", validation.RuleNoControl},
		{"pass\u0085word", validation.RuleNoControl},
		{"\x00", validation.RuleNoControl}, // the character rule comes before the length
		{"password\xff", validation.RuleUTF8},
	} {
		err := domain.CheckPassword(tc.pw)
		if tc.rule == "" {
			if err != nil {
				t.Errorf("CheckPassword(%d bytes) = %v", len(tc.pw), err)
			}
			continue
		}
		var ve domain.ValidationError
		if !errors.As(err, &ve) || ve[0].Rule != tc.rule || ve[0].Field != "password" {
			t.Errorf("CheckPassword(%d bytes) = %v, want rule %q", len(tc.pw), err, tc.rule)
		}
	}
}

func TestValidateRegistrationReportsBothFields(t *testing.T) {
	t.Parallel()
	_, err := domain.ValidateRegistration("x", "short")
	var ve domain.ValidationError
	if !errors.As(err, &ve) || len(ve) != 2 {
		t.Fatalf("error = %v", err)
	}
	if !strings.Contains(err.Error(), "username") || !strings.Contains(err.Error(), "password") {
		t.Fatalf("error text %q", err)
	}
	u, err := domain.ValidateRegistration("Bob_1", "correct horse")
	if err != nil || u != "bob_1" {
		t.Fatalf("= %q, %v", u, err)
	}
}

func TestNormalizeLogin(t *testing.T) {
	t.Parallel()
	if got := domain.NormalizeLogin("  Alice "); got != "alice" {
		t.Fatalf("got %q", got)
	}
}

func TestLoginCanMatch(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]bool{
		"alice": true, "  Alice ": true, "not a valid name!": true, "": true, "alice\r\n": true, // trimmed, as ever
		"ali\x00ce": false, "alice\x00": false, "ali\rce": false, "al\tice": false, "alice\x7f": false, "alice\xff": false,
	} {
		if got := domain.LoginCanMatch(in); got != want {
			t.Errorf("LoginCanMatch(%q) = %v, want %v", in, got, want)
		}
	}
}

func TestNewUser(t *testing.T) {
	t.Parallel()
	now := time.Now()
	u, err := domain.NewUser("id-1", "alice", []byte("hash"), false, now)
	if err != nil || u.Version != 1 || !u.CreatedAt.Equal(now) {
		t.Fatalf("= %+v, %v", u, err)
	}
	if _, err := domain.NewUser("", "alice", []byte("hash"), false, now); err == nil {
		t.Fatal("a user without id was accepted")
	}
}
