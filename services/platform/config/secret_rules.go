package config

import (
	"fmt"
	"strings"
)

// placeholderMarkers are fragments found in sample secrets copied from documentation,
// such as the spec's "your-256-bit-secret-key-here-change-in-production".
var placeholderMarkers = []string{"change", "your-", "placeholder", "example", "secret-key", "xxxxxx", "replace"}

// CheckSigningSecret returns an error naming the variable when s is too short to sign tokens
// safely (fewer than minBytes bytes) or looks like a placeholder copied from a sample file.
func CheckSigningSecret(name string, s Secret, minBytes int) error {
	v := s.Reveal()
	if len(v) < minBytes {
		return fmt.Errorf("%s must be at least %d bytes, got %d (generate one with: openssl rand -base64 48)", name, minBytes, len(v))
	}
	lower := strings.ToLower(v)
	for _, marker := range placeholderMarkers {
		if strings.Contains(lower, marker) {
			return fmt.Errorf("%s looks like a placeholder (contains %q); set a random value (openssl rand -base64 48)", name, marker)
		}
	}
	if strings.Count(v, v[:1]) == len(v) {
		return fmt.Errorf("%s is one character repeated; set a random value (openssl rand -base64 48)", name)
	}
	return nil
}
