package service_test

import (
	"encoding/csv"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Control characters in user text: PostgreSQL refuses NUL in text, and a CR or LF in an item
// name would end a line of every line-based protocol it is written into (an SSE stream
// forged this way). They are refused at the domain with a 400 naming the field.

func TestCreateRefusesControlCharactersNamingTheField(t *testing.T) {
	t.Parallel()
	h := start(t)
	alice := h.user("alice", false)
	const (
		itemRule  = "item_name: must not contain control characters"
		notesRule = "notes: must not contain control characters other than line breaks and tabs"
	)
	for _, tc := range []struct {
		name, body, detail string
	}{
		{"NUL in the item", `{"item_name":"a\u0000b","quantity":1}`, itemRule},
		{"CR in the item (SSE fields)", `{"item_name":"lamp\rid: 999999999\revent: order\rdata: forged","quantity":1}`, itemRule},
		{"LF in the item", `{"item_name":"lamp\ndata: forged","quantity":1}`, itemRule},
		{"tab in the item", `{"item_name":"desk\tlamp","quantity":1}`, itemRule},
		{"escape in the item", `{"item_name":"lamp\u001b[2J","quantity":1}`, itemRule},
		{"DEL in the item", `{"item_name":"lamp\u007f","quantity":1}`, itemRule},
		{"C1 control in the item", `{"item_name":"lamp\u0085x","quantity":1}`, itemRule},
		{"NUL in the notes", `{"item_name":"lamp","quantity":1,"notes":"a\u0000b"}`, notesRule},
		{"escape in the notes", `{"item_name":"lamp","quantity":1,"notes":"a\u001b[2Jb"}`, notesRule},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := h.call(&alice, http.MethodPost, "/orders", tc.body)
			assert.Equal(t, http.StatusBadRequest, r.Status, r.Raw)
			assert.Contains(t, r.Body["detail"], tc.detail)
		})
	}
	both := h.call(&alice, http.MethodPost, "/orders", `{"item_name":"a\u0000","quantity":1,"notes":"\u0000"}`)
	assert.Equal(t, http.StatusBadRequest, both.Status, both.Raw)
	assert.Contains(t, both.Body["detail"], itemRule)
	assert.Contains(t, both.Body["detail"], notesRule)
	assert.EqualValues(t, 0, h.call(&alice, http.MethodGet, "/orders/me", "").Body["total"], "nothing was created")

	// Line breaks and tabs are fine in the notes; they are stored with LF line breaks.
	r := h.call(&alice, http.MethodPost, "/orders", `{"item_name":"\r\n Desk lamp\t","quantity":1,"notes":"one\r\ntwo\rthree\n\tfour"}`)
	require.Equal(t, http.StatusCreated, r.Status, r.Raw)
	got := h.call(&alice, http.MethodGet, "/orders/"+r.Body["order_id"].(string), "")
	require.Equal(t, http.StatusOK, got.Status, got.Raw)
	assert.Equal(t, "Desk lamp", got.Body["item_name"])
	assert.Equal(t, "one\ntwo\nthree\n\tfour", got.Body["notes"])
}

func TestAControlCharacterInTheSearchIsRefusedNamingIt(t *testing.T) {
	t.Parallel()
	h := start(t)
	admin := h.user("root", true)
	h.order(h.user("alice", false), "lamp", 1)
	for _, path := range []string{
		"/orders?search=%00", "/orders?search=al%00ice", "/orders?search=alice%0D", "/orders?search=%0A",
		"/orders?search=%09", "/orders?search=%7F", "/orders?search=%C2%85", "/orders?search=%FF",
		"/orders/export.csv?search=%00",
	} {
		r := h.call(&admin, http.MethodGet, path, "")
		assert.Equal(t, http.StatusBadRequest, r.Status, "%s: %s", path, r.Raw)
		assert.Contains(t, r.Body["detail"], "search: must", path)
	}
	items, total := h.list(admin, "search=ALI")
	assert.EqualValues(t, 1, total)
	assert.Equal(t, []string{"lamp"}, items)
}

func TestExportNeutralisesNotesStartingWithALineBreakOrTab(t *testing.T) {
	t.Parallel()
	h := start(t)
	admin, alice := h.user("root", true), h.user("alice", false)
	for _, notes := range []string{`\n=HYPERLINK(\"http://evil.example\",\"click\")`, `\r\n=1+1`, `\t=2+2`} {
		r := h.call(&alice, http.MethodPost, "/orders", `{"item_name":"lamp","quantity":1,"notes":"`+notes+`"}`)
		require.Equal(t, http.StatusCreated, r.Status, r.Raw)
	}
	r := h.call(&admin, http.MethodGet, "/orders/export.csv?sort=created_at&order=asc", "")
	require.Equal(t, http.StatusOK, r.Status, r.Raw)
	rows, err := csv.NewReader(strings.NewReader(r.Raw)).ReadAll()
	require.NoError(t, err)
	require.Len(t, rows, 4)
	assert.Equal(t, "'\n=HYPERLINK(\"http://evil.example\",\"click\")", rows[1][6])
	assert.Equal(t, "'\n=1+1", rows[2][6], "stored with an LF line break, then neutralised")
	assert.Equal(t, "'\t=2+2", rows[3][6])
}
