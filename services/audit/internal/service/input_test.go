package service_test

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A control character in a free-text filter is a 400 naming the filter, not a query that
// PostgreSQL refuses (it holds no NUL in text) and a 500.
func TestAControlCharacterInAFilterIsRefusedNamingIt(t *testing.T) {
	t.Parallel()
	h := start(t)
	for _, tc := range []struct{ query, field string }{
		{"type=%00", "type"},
		{"type=Order%00Created", "type"},
		{"actor=%00", "actor"},
		{"actor=ali%00ce", "actor"},
		{"actor=alice%0D%0A", "actor"},
		{"actor=%FF", "actor"},
		{"subject=%00", "subject"},
		{"subject=x%1B", "subject"},
	} {
		for _, path := range []string{"/audit/events?", "/audit/events.csv?"} {
			r := h.get(path+tc.query, h.admin)
			assert.Equal(t, http.StatusBadRequest, r.Status, "%s%s: %s", path, tc.query, r.Raw)
			assert.Contains(t, r.Body["detail"], tc.field+": must", path+tc.query)
		}
	}
	both := h.get("/audit/events?type=%00&actor=%00", h.admin)
	assert.Equal(t, http.StatusBadRequest, both.Status, both.Raw)
	assert.Contains(t, both.Body["detail"], "type: must")
	assert.Contains(t, both.Body["detail"], "actor: must")

	ok := h.get("/audit/events?type=OrderCreated&actor=alice&subject=x", h.admin)
	require.Equal(t, http.StatusOK, ok.Status, ok.Raw)
	assert.EqualValues(t, 0, ok.Body["total"])
}
