// Package sse writes Server-Sent Events. Every event the gateway sends goes through it, so
// the protocol's encoding lives in one place: a line break of any kind (CRLF, a lone CR, a
// lone LF) ends an SSE line, so text with one — a fragment showing a user's order — could
// otherwise start a field of its own (a forged id, event or data). Data is written as one
// data line per line of the text, which the browser joins back with LF; an id or event name
// that contains a line break is refused, never written.
package sse

import (
	"errors"
	"io"
	"strconv"
	"strings"
	"time"
)

// ErrLineBreak: an event id or name contains a line break, which would end its field early.
var ErrLineBreak = errors.New("sse: line break in an event id or name")

// Writer writes events to a stream and flushes after each, so they leave at once.
type Writer struct {
	w     io.Writer
	flush func() error
}

// NewWriter returns a writer to w; flush (may be nil) is called after every event.
func NewWriter(w io.Writer, flush func() error) *Writer {
	if flush == nil {
		flush = func() error { return nil }
	}
	return &Writer{w: w, flush: flush}
}

// Event writes one event: id (empty: none), name (empty: the default "message") and data,
// each line of data its own data line. It returns ErrLineBreak, writing nothing, when id or
// name has a line break.
func (w *Writer) Event(id, name, data string) error {
	if hasLineBreak(id) || hasLineBreak(name) {
		return ErrLineBreak
	}
	var b strings.Builder
	if id != "" {
		b.WriteString("id: " + id + "\n")
	}
	if name != "" {
		b.WriteString("event: " + name + "\n")
	}
	for _, line := range Lines(data) {
		b.WriteString("data: " + line + "\n")
	}
	b.WriteString("\n")
	return w.write(b.String())
}

// Comment writes a comment (browsers ignore it; proxies see traffic), one comment line per
// line of text.
func (w *Writer) Comment(text string) error {
	var b strings.Builder
	for _, line := range Lines(text) {
		b.WriteString(": " + line + "\n")
	}
	b.WriteString("\n")
	return w.write(b.String())
}

// Retry tells the browser how long to wait before reconnecting.
func (w *Writer) Retry(d time.Duration) error {
	return w.write("retry: " + strconv.FormatInt(d.Milliseconds(), 10) + "\n\n")
}

func (w *Writer) write(s string) error {
	if _, err := io.WriteString(w.w, s); err != nil {
		return err
	}
	return w.flush()
}

// Lines splits text at every line break SSE knows: CRLF, CR and LF. Empty text is one
// empty line.
func Lines(text string) []string {
	text = strings.ReplaceAll(text, "\r\n", "\n")
	text = strings.ReplaceAll(text, "\r", "\n")
	return strings.Split(text, "\n")
}

func hasLineBreak(s string) bool { return strings.ContainsAny(s, "\r\n") }
