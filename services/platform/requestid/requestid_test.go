package requestid_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/caasdemo/orderdemo/services/platform/requestid"
)

func TestMiddlewareKeepsWellFormedAndReplacesOthers(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, incoming string
		kept           bool
	}{
		{"uuid", "3f1c9a54-8a0e-4d3e-9a51-0b7f6f0f7c11", true},
		{"trace style", "req_01:abc.DEF-9", true},
		{"missing", "", false},
		{"newline injection", "abc\nlevel=ERROR", false},
		{"markup", "<script>", false},
		{"too long", strings.Repeat("a", 129), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var seen string
			h := requestid.Middleware(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
				seen = requestid.FromContext(r.Context())
			}))
			req := httptest.NewRequest(http.MethodGet, "/", nil)
			if tc.incoming != "" {
				req.Header.Set(requestid.Header, tc.incoming)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)

			echoed := rec.Header().Get(requestid.Header)
			assert.Equal(t, seen, echoed, "the handler's id is the one echoed")
			assert.True(t, requestid.Valid(echoed))
			if tc.kept {
				assert.Equal(t, tc.incoming, echoed)
			} else {
				assert.NotEqual(t, tc.incoming, echoed)
			}
		})
	}
}

func TestTransportForwardsTheId(t *testing.T) {
	t.Parallel()
	got := make(chan string, 1)
	upstream := httptest.NewServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		got <- r.Header.Get(requestid.Header)
	}))
	defer upstream.Close()

	client := &http.Client{Transport: requestid.Transport{}}
	req, err := http.NewRequestWithContext(requestid.With(t.Context(), "abc-123"), http.MethodGet, upstream.URL, nil)
	require.NoError(t, err)
	resp, err := client.Do(req)
	require.NoError(t, err)
	require.NoError(t, resp.Body.Close())
	assert.Equal(t, "abc-123", <-got)
	assert.Empty(t, req.Header.Get(requestid.Header), "the caller's request is not modified")
}
