package problem_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/caasdemo/orderdemo/services/platform/logging"
	"github.com/caasdemo/orderdemo/services/platform/problem"
	"github.com/caasdemo/orderdemo/services/platform/requestid"
)

func write(t *testing.T, err error) (*httptest.ResponseRecorder, problem.Details, string) {
	t.Helper()
	var logs bytes.Buffer
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodPost, "/auth/register", nil)
	req = req.WithContext(requestid.With(req.Context(), "req-9"))
	problem.Write(rec, req, logging.New(&logs, "auth", slog.LevelInfo), err)
	var d problem.Details
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &d))
	return rec, d, logs.String()
}

func TestValidationNamesEveryField(t *testing.T) {
	t.Parallel()
	rec, d, _ := write(t, problem.Validation(
		problem.FieldError{Field: "username", Rule: "must be 4–20 characters"},
		problem.FieldError{Field: "password", Rule: "must be at least 8 bytes"}))
	assert.Equal(t, http.StatusBadRequest, rec.Code)
	assert.Equal(t, problem.ContentType, rec.Header().Get("Content-Type"))
	assert.Equal(t, "username: must be 4–20 characters; password: must be at least 8 bytes", d.Detail)
	assert.Len(t, d.Errors, 2)
	assert.Equal(t, "req-9", d.RequestID)
	assert.Equal(t, "/auth/register", d.Instance)
}

func TestRetryAfterIsRoundedUp(t *testing.T) {
	t.Parallel()
	rec, d, _ := write(t, &problem.Error{Status: http.StatusTooManyRequests, Detail: "slow down", RetryAfter: 1500 * time.Millisecond})
	assert.Equal(t, "2", rec.Header().Get("Retry-After"))
	assert.Equal(t, "Too Many Requests", d.Title)
}

func TestUnknownErrorsAre500sThatHideTheCause(t *testing.T) {
	t.Parallel()
	rec, d, logs := write(t, errors.New("pq: relation users does not exist"))
	assert.Equal(t, http.StatusInternalServerError, rec.Code)
	assert.NotContains(t, d.Detail, "relation")
	assert.Contains(t, logs, "relation users does not exist")
	assert.Contains(t, logs, "req-9")
}

func TestAnUnavailableDependencyIsA503NamingIt(t *testing.T) {
	t.Parallel()
	cause := errors.New("dial tcp 127.0.0.1:6379: i/o timeout")
	rec, d, logs := write(t, fmt.Errorf("check revocation: %w", problem.Unavailable("valkey", cause)))
	assert.Equal(t, http.StatusServiceUnavailable, rec.Code)
	assert.Equal(t, "1", rec.Header().Get("Retry-After"))
	assert.Equal(t, problem.ContentType, rec.Header().Get("Content-Type"))
	assert.Equal(t, "valkey is unavailable; please try again shortly", d.Detail)
	assert.NotContains(t, d.Detail, "i/o timeout", "the cause is logged, not shown")
	assert.Contains(t, logs, `"dependency":"valkey"`)
	assert.Contains(t, logs, "i/o timeout", "the log names the cause")

	// A driver whose errors cannot be wrapped where they arise registers a recogniser.
	errPoolDown := errors.New("pool: server closed the connection")
	problem.RecogniseUnavailable("testdb", func(err error) bool { return errors.Is(err, errPoolDown) })
	rec, d, logs = write(t, fmt.Errorf("create order: %w", errPoolDown))
	assert.Equal(t, http.StatusServiceUnavailable, rec.Code)
	assert.Equal(t, "testdb is unavailable; please try again shortly", d.Detail)
	assert.Contains(t, logs, "server closed the connection")
}
