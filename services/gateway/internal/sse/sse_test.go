package sse_test

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/caasdemo/orderdemo/services/gateway/internal/sse"
	"github.com/caasdemo/orderdemo/services/gateway/internal/sse/ssetest"
)

func TestEveryLineOfDataIsItsOwnDataLine(t *testing.T) {
	t.Parallel()
	for name, data := range map[string]string{
		"lone CR":     "x\rid: 999999999\revent: y\rdata: z",
		"CRLF":        "x\r\nid: 999999999\r\nevent: y\r\ndata: z",
		"lone LF":     "x\nid: 999999999\nevent: y\ndata: z",
		"mixed":       "x\r\rid: 999999999\n\r\nevent: y\r",
		"blank lines": "x\n\nid: 999999999\n\n",
		"retry":       "x\rretry: 1",
		"comment":     "x\r: hidden\rdata: z",
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			var buf bytes.Buffer
			flushes := 0
			w := sse.NewWriter(&buf, func() error { flushes++; return nil })
			require.NoError(t, w.Event("42", "order-created", data))
			require.NoError(t, w.Event("43", "next", "after"))
			assert.Equal(t, 2, flushes, "each event leaves at once")

			r := ssetest.NewReader(&buf)
			b, err := r.Next()
			require.NoError(t, err)
			assert.Equal(t, "42", b.ID(), "the hostile text set no id")
			assert.Equal(t, "order-created", b.Name(), "nor an event name")
			assert.Empty(t, b.Comments, "nor a comment")
			for _, f := range b.Fields[2:] {
				assert.Equal(t, "data", f.Name, "every line of the text is data")
			}
			assert.Equal(t, sse.Lines(data), sse.Lines(b.Data()), "the text arrives line for line")

			b, err = r.Next()
			require.NoError(t, err)
			assert.Equal(t, []string{"id", "event", "data"}, b.Names(), "the next event is intact")
			assert.Equal(t, "43", b.ID())
			_, err = r.Next()
			assert.ErrorIs(t, err, io.EOF)
		})
	}
}

func TestALineBreakInAnIDOrNameIsRefused(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	w := sse.NewWriter(&buf, nil)
	assert.ErrorIs(t, w.Event("1\rid: 2", "x", "d"), sse.ErrLineBreak)
	assert.ErrorIs(t, w.Event("1", "order-x\nevent: forged", "d"), sse.ErrLineBreak)
	assert.ErrorIs(t, w.Event("1", "order-x\r\n", "d"), sse.ErrLineBreak)
	assert.Zero(t, buf.Len(), "nothing written")
}

func TestCommentsRetryAndEmptyData(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	w := sse.NewWriter(&buf, nil)
	require.NoError(t, w.Retry(2*time.Second))
	require.NoError(t, w.Comment("heartbeat\rdata: forged"))
	require.NoError(t, w.Event("", "session-ended", ""))
	assert.Equal(t, "retry: 2000\n\n: heartbeat\n: data: forged\n\nevent: session-ended\ndata: \n\n", buf.String())

	r := ssetest.NewReader(&buf)
	b, _ := r.Next()
	assert.Equal(t, []string{"retry"}, b.Names())
	b, _ = r.Next()
	assert.Empty(t, b.Fields, "a comment's second line is a comment too")
	assert.Equal(t, []string{"heartbeat", "data: forged"}, b.Comments)
	b, _ = r.Next()
	assert.Equal(t, []string{"event", "data"}, b.Names())
}

func TestTheReaderSplitsLinesAsABrowserDoes(t *testing.T) {
	t.Parallel()
	// The stream a writer that only handled LF produced for a fragment with a lone CR.
	r := ssetest.NewReader(bytes.NewBufferString("id: 7\nevent: order-created\ndata: <td>x\rid: 999999999\revent: y\rdata: z</td>\n\n"))
	b, err := r.Next()
	require.NoError(t, err)
	assert.Equal(t, "999999999", b.ID(), "the forged id wins, as in a browser")
	assert.Equal(t, "y", b.Name())
}

// wrapper is a middleware's response writer between Observe and the handler.
type wrapper struct{ http.ResponseWriter }

func (w wrapper) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func TestAnObservedResponseCountsTheEventsSent(t *testing.T) {
	t.Parallel()
	var sent atomic.Int32
	var flushed bool
	h := sse.Observed(func() { sent.Add(1) })(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w = wrapper{w} // another middleware, further in
		rc := http.NewResponseController(w)
		out := sse.NewWriter(w, func() error { flushed = true; return rc.Flush() })
		require.NoError(t, out.Retry(time.Second))
		require.NoError(t, out.Comment("heartbeat"))
		require.NoError(t, out.Event("1", "order-created", "a"))
		require.NoError(t, out.Event("", "stats", "b"))
		require.ErrorIs(t, out.Event("2\n", "x", "c"), sse.ErrLineBreak)
	}))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/events", nil))
	assert.EqualValues(t, 2, sent.Load(), "two events; a retry, a comment and a refused event are not")
	assert.True(t, flushed)
	assert.True(t, rec.Flushed, "flushing reaches the response through the wrappers")

	var unobserved bytes.Buffer
	require.NoError(t, sse.NewWriter(&unobserved, nil).Event("3", "x", "d"), "a writer on a plain stream counts nothing")
	assert.EqualValues(t, 2, sent.Load())
}
