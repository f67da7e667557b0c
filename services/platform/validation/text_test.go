package validation_test

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/caasdemo/orderdemo/services/platform/validation"
)

func TestLineAndLines(t *testing.T) {
	t.Parallel()
	const (
		ok        = ""
		utf       = validation.RuleUTF8
		line      = validation.RuleNoControl
		multiline = validation.RuleNoControlText
	)
	for _, tc := range []struct {
		name                string
		in                  string
		wantLine, wantLines string
	}{
		{"empty", "", ok, ok},
		{"plain", "Desk lamp", ok, ok},
		{"punctuation and symbols", `a=b+c-d@e "f" <g> 'h' % _ \ / ; , .`, ok, ok},
		{"letters beyond ASCII", "Ærøskøbing café ñ 日本語 🙂", ok, ok},
		{"no-break space U+00A0, first after C1", "a\u00a0b", ok, ok},
		{"replacement character itself", "a\ufffdb", ok, ok},
		{"line separator U+2028 is not Cc", "a\u2028b", ok, ok},
		{"space U+0020, first after C0", " ", ok, ok},
		{"tilde U+007E, last before DEL", "~", ok, ok},

		{"NUL", "a\x00b", line, multiline},
		{"NUL alone", "\x00", line, multiline},
		{"NUL at the end", "ab\x00", line, multiline},
		{"SOH U+0001", "a\x01b", line, multiline},
		{"bell", "a\ab", line, multiline},
		{"backspace", "a\bb", line, multiline},
		{"vertical tab", "a\vb", line, multiline},
		{"form feed", "a\fb", line, multiline},
		{"escape (terminal sequences)", "a\x1b[31mb", line, multiline},
		{"unit separator U+001F, last of C0", "a\x1fb", line, multiline},
		{"DEL", "a\x7fb", line, multiline},
		{"C1 U+0080, first", "a\u0080b", line, multiline},
		{"NEL U+0085", "a\u0085b", line, multiline},
		{"C1 U+009F, last", "a\u009fb", line, multiline},
		{"CR (SSE field injection)", "a\rid: 999999999", line, multiline},
		{"CRLF", "a\r\nb", line, multiline},

		{"LF", "line one\nline two", line, ok},
		{"tab", "col\tcol", line, ok},
		{"LF and tab", "a\n\tb\n", line, ok},

		{"invalid byte", "a\xffb", utf, utf},
		{"truncated sequence", "caf\xc3", utf, utf},
		{"overlong NUL", "a\xc0\x80b", utf, utf},
		{"surrogate half", "a\xed\xa0\x80b", utf, utf},
		{"invalid UTF-8 wins over a control character", "\x00\xff", utf, utf},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			for _, c := range []struct {
				fn   func(field, value string) validation.Errors
				name string
				want string
			}{{validation.Line, "Line", tc.wantLine}, {validation.Lines, "Lines", tc.wantLines}} {
				got := c.fn("item_name", tc.in)
				if c.want == ok {
					if got != nil {
						t.Errorf("%s(%q) = %v, want nil", c.name, tc.in, got)
					}
					continue
				}
				want := validation.Errors{{Field: "item_name", Rule: c.want}}
				if len(got) != 1 || got[0] != want[0] {
					t.Errorf("%s(%q) = %v, want %v", c.name, tc.in, got, want)
				}
			}
		})
	}
}

func TestTheErrorNamesTheField(t *testing.T) {
	t.Parallel()
	err := validation.Line("search", "a\x00")
	if got, want := err.Error(), "search: "+validation.RuleNoControl; got != want {
		t.Fatalf("Error() = %q, want %q", got, want)
	}
}

func TestNormalizeNewlines(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"":                "",
		"one line":        "one line",
		"a\nb":            "a\nb",
		"a\r\nb":          "a\nb",
		"a\rb":            "a\nb",
		"a\r\r\nb\n\rc\r": "a\n\nb\n\nc\n",
		"\r\n\r\n":        "\n\n",
		"tab\tstays":      "tab\tstays",
	} {
		if got := validation.NormalizeNewlines(in); got != want {
			t.Errorf("NormalizeNewlines(%q) = %q, want %q", in, got, want)
		}
	}
}

// isCc is category Cc written out, independently of the unicode package.
func isCc(r rune) bool { return r <= 0x1f || (r >= 0x7f && r <= 0x9f) }

func FuzzText(f *testing.F) {
	for _, s := range []string{"", "Desk lamp", "a\x00b", "a\rid: 1\ndata: x", "a\r\nb", "x\u0085y", "\x7f", "\xff",
		"\xc0\x80", "日本語\t\n", "=HYPERLINK(\"x\")", "\u2028\u2029", "\ufffd", "\xc3\r\xb2"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		valid := utf8.ValidString(s)
		lineOK := valid && strings.IndexFunc(s, isCc) < 0
		linesOK := valid && strings.IndexFunc(s, func(r rune) bool { return isCc(r) && r != '\n' && r != '\t' }) < 0
		if got := validation.Line("f", s) == nil; got != lineOK {
			t.Fatalf("Line(%q) accepted = %v, want %v", s, got, lineOK)
		}
		if got := validation.Lines("f", s) == nil; got != linesOK {
			t.Fatalf("Lines(%q) accepted = %v, want %v", s, got, linesOK)
		}
		n := validation.NormalizeNewlines(s)
		if strings.Contains(n, "\r") {
			t.Fatalf("NormalizeNewlines(%q) = %q still holds a CR", s, n)
		}
		if validation.NormalizeNewlines(n) != n {
			t.Fatalf("NormalizeNewlines is not idempotent on %q", s)
		}
		if strings.Count(n, "\n") != strings.Count(s, "\n")+strings.Count(s, "\r")-strings.Count(s, "\r\n") {
			t.Fatalf("NormalizeNewlines(%q) = %q changed the number of line breaks", s, n)
		}
		if asLF := strings.ReplaceAll(s, "\r", "\n"); (validation.Lines("f", asLF) == nil) != (validation.Lines("f", n) == nil) {
			t.Fatalf("after normalising, Lines judges %q other than with its CRs read as line feeds", s)
		}
	})
}
