package validation

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// The rules user text can break, as the person who sent it reads them.
const (
	RuleUTF8          = "must be valid UTF-8 text"
	RuleNoControl     = "must not contain control characters (such as NUL, tab or a line break)"
	RuleNoControlText = "must not contain control characters other than line breaks and tabs (such as NUL)"
)

// Line checks one line of user text: a name, a password, a search, a filter. The text must
// be valid UTF-8 and hold no control character at all, that is no character of Unicode
// category Cc: C0 (U+0000–U+001F, so NUL, tab, CR and LF), DEL (U+007F) and C1
// (U+0080–U+009F). Such characters mean nothing in a name, PostgreSQL refuses NUL in text,
// and CR or LF would end a line in every line-based protocol the text may be written into.
//
// It returns nil when value is fine, or one error naming field, to append to a list of
// problems. The result is an Errors, never nil inside an error interface: compare it with
// nil before returning it as an error.
func Line(field, value string) Errors { return check(field, value, false) }

// Lines checks text that may span lines, such as a note: as Line, but a line feed (LF) and a
// tab are allowed. A carriage return is refused: pass the text through NormalizeNewlines
// first, so that a line break is stored one way only, as LF.
func Lines(field, value string) Errors { return check(field, value, true) }

// NormalizeNewlines turns every CRLF and every lone CR into LF. Browsers send a textarea's
// line breaks as CRLF; storing them as LF gives every reader, and every writer that encodes
// the text for a line-based protocol, one line break to handle.
func NormalizeNewlines(s string) string {
	if !strings.Contains(s, "\r") {
		return s
	}
	return strings.ReplaceAll(strings.ReplaceAll(s, "\r\n", "\n"), "\r", "\n")
}

func check(field, value string, multiline bool) Errors {
	if !utf8.ValidString(value) {
		return Field(field, RuleUTF8)
	}
	for _, r := range value {
		if !unicode.IsControl(r) { // IsControl is exactly category Cc
			continue
		}
		if multiline && (r == '\n' || r == '\t') {
			continue
		}
		if multiline {
			return Field(field, RuleNoControlText)
		}
		return Field(field, RuleNoControl)
	}
	return nil
}
