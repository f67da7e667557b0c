package httpserver_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/caasdemo/orderdemo/services/platform/httpserver"
	"github.com/caasdemo/orderdemo/services/platform/problem"
)

type order struct {
	ItemName string `json:"item_name"`
	Quantity int    `json:"quantity"`
}

func TestDecodeJSON(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, body, contentType string
		status                  int
		detail                  string
	}{
		{"valid", `{"item_name":"x","quantity":2}`, "application/json", 0, ""},
		{"wrong type names the field", `{"item_name":"x","quantity":"two"}`, "", 400, "quantity: must be an integer"},
		{"unknown field named", `{"item_name":"x","colour":"red"}`, "", 400, "colour: is not a known field"},
		{"malformed", `{"item_name":`, "", 400, "not valid JSON"},
		{"empty", ``, "", 400, "not valid JSON"},
		{"trailing data", `{"item_name":"x"} {"more":1}`, "", 400, "trailing data"},
		{"too large", `{"item_name":"` + strings.Repeat("x", 200) + `"}`, "", 413, "larger than 100 bytes"},
		{"form body", `item_name=x`, "application/x-www-form-urlencoded", 415, "must be JSON"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			req := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(tc.body))
			if tc.contentType != "" {
				req.Header.Set("Content-Type", tc.contentType)
			}
			var o order
			err := httpserver.DecodeJSON(httptest.NewRecorder(), req, &o, 100)
			if tc.status == 0 {
				require.NoError(t, err)
				assert.Equal(t, order{"x", 2}, o)
				return
			}
			var pe *problem.Error
			require.True(t, errors.As(err, &pe), "%v", err)
			assert.Equal(t, tc.status, pe.Status)
			assert.Contains(t, pe.Detail, tc.detail)
		})
	}
}
