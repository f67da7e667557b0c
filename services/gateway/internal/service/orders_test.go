package service_test

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var orderKey = regexp.MustCompile(`name="idempotency_key" value="([^"]*)"`)

// formKey is the Idempotency-Key the order form in body carries; it must be one the order
// service takes (1–255 printable ASCII characters).
func formKey(t *testing.T, body string) string {
	t.Helper()
	m := orderKey.FindStringSubmatch(body)
	require.NotNil(t, m, "the order form carries a key: %s", body)
	require.Regexp(t, `^[\x21-\x7e]{1,255}$`, m[1])
	return m[1]
}

// An order the order service placed but did not answer in time is answered 503, and the
// form comes back with its key: sending it again, as a user does, returns that order
// instead of placing a second one. A new form is a new order.
func TestAnOrderFormSentAgainAfterNoAnswerPlacesTheOrderOnce(t *testing.T) {
	t.Parallel()
	h := start(t)
	csrf := h.login()
	_, body, _ := h.page("/orders/new")
	key := formKey(t, body)
	_, other, _ := h.page("/orders/new")
	assert.NotEqual(t, key, formKey(t, other), "every form its own key")

	h.fake.mu.Lock()
	h.fake.createLate = true
	h.fake.mu.Unlock()
	form := url.Values{"csrf_token": {csrf}, "idempotency_key": {key}, "item_name": {"Lamp"}, "quantity": {"2"}, "notes": {"by the door"}}
	resp, body := h.post("/orders", form)
	require.Equal(t, http.StatusServiceUnavailable, resp.StatusCode, body)
	assert.NotEmpty(t, resp.Header.Get("Retry-After"))
	assert.Contains(t, body, "may or may not have been placed")
	assert.Equal(t, key, formKey(t, body), "the form comes back with its key")
	assert.Contains(t, body, `value="Lamp"`, "and what the user typed")
	require.Eventually(t, func() bool { return len(h.fake.orderIDs()) == 1 }, 10*time.Second, 10*time.Millisecond,
		"the order service placed it all the same")

	h.fake.mu.Lock()
	h.fake.createLate = false
	h.fake.mu.Unlock()
	form.Set("idempotency_key", formKey(t, body))
	resp, body = h.post("/orders", form, "HX-Request", "true")
	require.Equal(t, http.StatusCreated, resp.StatusCode, body)
	ids := h.fake.orderIDs()
	require.Len(t, ids, 1, "sent again: the same order, not a second")
	assert.Contains(t, body, ids[0], "the confirmation shows the order placed first")
	resp, _ = h.post("/orders", form)
	assert.Equal(t, http.StatusSeeOther, resp.StatusCode, "a plain form post too")
	assert.Len(t, h.fake.orderIDs(), 1)
	h.fake.mu.Lock()
	assert.Equal(t, []string{key, key, key}, h.fake.createKeys, "every sending carried the form's key")
	h.fake.mu.Unlock()

	_, body, _ = h.page("/orders/new")
	form.Set("idempotency_key", formKey(t, body))
	resp, _ = h.post("/orders", form)
	assert.Equal(t, http.StatusSeeOther, resp.StatusCode)
	assert.Len(t, h.fake.orderIDs(), 2, "the same details from a new form are a new order")
}

// A form that is refused keeps its key: the order was not placed, and the user corrects it.
func TestAnOrderFormWithErrorsKeepsItsKey(t *testing.T) {
	t.Parallel()
	h := start(t)
	csrf := h.login()
	_, body, _ := h.page("/orders/new")
	key := formKey(t, body)
	resp, body := h.post("/orders", url.Values{"csrf_token": {csrf}, "idempotency_key": {key}, "item_name": {"Lamp"}, "quantity": {"many"}},
		"HX-Request", "true")
	require.Equal(t, http.StatusBadRequest, resp.StatusCode)
	assert.Contains(t, body, "whole number")
	assert.Equal(t, key, formKey(t, body))
	assert.Empty(t, h.fake.orderIDs())
}

// The form's key sent again with other details (the user changed the form after a sending
// that got no answer) is refused by the order service; the page says the first sending may
// have been placed, and gives the form a new key, so sending it again places a new order.
func TestAnOrderFormChangedAfterSendingBecomesANewForm(t *testing.T) {
	t.Parallel()
	h := start(t)
	csrf := h.login()
	_, body, _ := h.page("/orders/new")
	key := formKey(t, body)
	form := url.Values{"csrf_token": {csrf}, "idempotency_key": {key}, "item_name": {"Lamp"}, "quantity": {"1"}}
	resp, _ := h.post("/orders", form)
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)

	form.Set("item_name", "Desk")
	resp, body = h.post("/orders", form, "HX-Request", "true")
	require.Equal(t, http.StatusUnprocessableEntity, resp.StatusCode, body)
	assert.Contains(t, body, "please check My orders")
	assert.Contains(t, body, `value="Desk"`)
	renewed := formKey(t, body)
	assert.NotEqual(t, key, renewed, "a new form, for a new order")
	assert.Len(t, h.fake.orderIDs(), 1)

	form.Set("idempotency_key", renewed)
	resp, _ = h.post("/orders", form)
	assert.Equal(t, http.StatusSeeOther, resp.StatusCode)
	assert.Len(t, h.fake.orderIDs(), 2)
}

// A form without a key the order service would take (missing, or altered) is not sent: sent
// without its key, it could not be sent again safely. It comes back with a new key.
func TestAnOrderFormWithoutAUsableKeyIsNotSent(t *testing.T) {
	t.Parallel()
	h := start(t)
	csrf := h.login()
	for name, key := range map[string]string{
		"missing": "", "with a space": "a key", "with a line break": "a\nkey", "not ASCII": "clé", "too long": strings.Repeat("k", 256),
	} {
		resp, body := h.post("/orders", url.Values{"csrf_token": {csrf}, "idempotency_key": {key}, "item_name": {"Lamp"}, "quantity": {"1"}})
		assert.Equal(t, http.StatusBadRequest, resp.StatusCode, name)
		assert.Contains(t, body, "could not be sent as it was", name)
		assert.Contains(t, body, `value="Lamp"`, name)
		assert.NotEqual(t, key, formKey(t, body), name)
	}
	h.fake.mu.Lock()
	defer h.fake.mu.Unlock()
	assert.Empty(t, h.fake.createKeys, "nothing reached the order service")
}
