package httpserver_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/caasdemo/orderdemo/services/platform/httpserver"
	"github.com/caasdemo/orderdemo/services/platform/logging"
)

func discard() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func TestShutdownDrainsRequestsInFlight(t *testing.T) {
	t.Parallel()
	ln, err := httpserver.Listen("127.0.0.1:0")
	require.NoError(t, err)
	started := make(chan struct{})
	h := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		close(started)
		time.Sleep(300 * time.Millisecond)
		_, _ = io.WriteString(w, "finished")
	})
	ctx, stop := context.WithCancel(t.Context())
	served := make(chan error, 1)
	go func() { served <- httpserver.Serve(ctx, ln, h, discard(), 5*time.Second) }()

	var body string
	var wg sync.WaitGroup
	wg.Go(func() {
		resp, err := http.Get("http://" + ln.Addr().String())
		if !assert.NoError(t, err) {
			return
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		body = string(b)
	})
	<-started
	stop() // SIGTERM arrives while the request runs
	wg.Wait()
	require.NoError(t, <-served)
	assert.Equal(t, "finished", body, "the in-flight request completed")

	_, err = net.DialTimeout("tcp", ln.Addr().String(), time.Second)
	assert.Error(t, err, "no new connections after shutdown")
}

func TestShutdownEndsLongLivedStreams(t *testing.T) {
	t.Parallel()
	ln, err := httpserver.Listen("127.0.0.1:0")
	require.NoError(t, err)
	streaming := make(chan struct{})
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusOK)
		http.NewResponseController(w).Flush()
		close(streaming)
		<-r.Context().Done() // an SSE handler waits like this
	})
	ctx, stop := context.WithCancel(t.Context())
	served := make(chan error, 1)
	go func() { served <- httpserver.Serve(ctx, ln, h, discard(), 5*time.Second) }()

	resp, err := http.Get("http://" + ln.Addr().String())
	require.NoError(t, err)
	defer resp.Body.Close()
	<-streaming
	stop()
	select {
	case err := <-served:
		require.NoError(t, err)
	case <-time.After(4 * time.Second):
		t.Fatal("shutdown waited for the stream instead of ending it")
	}
}

func TestListenNamesTheVariableWhenThePortIsTaken(t *testing.T) {
	t.Parallel()
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer taken.Close()
	_, err = httpserver.Listen(taken.Addr().String())
	require.Error(t, err)
	assert.Contains(t, err.Error(), "HTTP_ADDR=")
	assert.Contains(t, err.Error(), "address already in use")
}

func TestRouterServesHealthAndRecoversPanics(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	r := httpserver.NewRouter("audit", logging.New(&buf, "audit", slog.LevelInfo), nil)
	r.Get("/boom", func(http.ResponseWriter, *http.Request) { panic("kaboom") })

	rec := httptest.NewRecorder()
	r.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/health", nil))
	assert.Equal(t, http.StatusOK, rec.Code)
	assert.JSONEq(t, `{"status":"ok","service":"audit"}`, rec.Body.String())
	assert.NotEmpty(t, rec.Header().Get("X-Request-ID"))

	rec = httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodGet, "/boom", nil)
	req.Header.Set("X-Request-ID", "req-boom")
	r.ServeHTTP(rec, req)
	assert.Equal(t, http.StatusInternalServerError, rec.Code)
	assert.Contains(t, rec.Body.String(), "req-boom", "the user sees the request id")
	assert.NotContains(t, rec.Body.String(), "kaboom", "the user does not see the panic")

	logged := buf.String()
	assert.Contains(t, logged, `"msg":"handler panic"`)
	assert.Contains(t, logged, `"request_id":"req-boom"`)
	assert.True(t, strings.Contains(logged, `"path":"/boom","status":500`), logged)
}
