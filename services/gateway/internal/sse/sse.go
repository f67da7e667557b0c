// Package sse writes Server-Sent Events. Every event the gateway sends goes through it, so
// the protocol's encoding lives in one place: a line break of any kind (CRLF, a lone CR, a
// lone LF) ends an SSE line, so text with one — a fragment showing a user's order — could
// otherwise start a field of its own (a forged id, event or data). Data is written as one
// data line per line of the text, which the browser joins back with LF; an id or event name
// that contains a line break is refused, never written.
//
// Being the one writer, it is also where the events sent are counted: the wiring wraps a
// stream's response with Observe, and every Writer made on it reports each event it sent.
package sse

import (
	"errors"
	"io"
	"net/http"
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
	sent  func() // told of each event written and flushed; never nil
}

// NewWriter returns a writer to w; flush (may be nil) is called after every event. When w is
// a response wrapped by Observe (or wraps one, through Unwrap), the Writer reports each event
// it sends.
func NewWriter(w io.Writer, flush func() error) *Writer {
	if flush == nil {
		flush = func() error { return nil }
	}
	sent := observerOf(w)
	if sent == nil {
		sent = func() {}
	}
	return &Writer{w: w, flush: flush, sent: sent}
}

// Observe returns w wrapped so that every Writer made on it — by the handler it is passed
// to, however deep — calls sent once for each event it has written and flushed (comments,
// such as heartbeats, and retry fields are not events). sent must be safe for concurrent
// use: streams run side by side. Flushing and deadlines reach w through Unwrap, as
// http.ResponseController expects.
func Observe(w http.ResponseWriter, sent func()) http.ResponseWriter {
	return &observed{ResponseWriter: w, sent: sent}
}

// Observed is Observe as middleware, for the route of a stream.
func Observed(sent func()) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			next.ServeHTTP(Observe(w, sent), r)
		})
	}
}

type observed struct {
	http.ResponseWriter
	sent func()
}

func (o *observed) Unwrap() http.ResponseWriter { return o.ResponseWriter }

// observerOf finds the function Observe put on w or on a response w wraps.
func observerOf(w io.Writer) func() {
	for w != nil {
		switch v := w.(type) {
		case *observed:
			return v.sent
		case interface{ Unwrap() http.ResponseWriter }:
			w = v.Unwrap()
		default:
			return nil
		}
	}
	return nil
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
	if err := w.write(b.String()); err != nil {
		return err
	}
	w.sent()
	return nil
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
