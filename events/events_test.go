package events_test

import (
	"encoding/json"
	"errors"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/caasdemo/orderdemo/events"
)

const (
	userID  = "7c0e5d3a-8f1b-4c2d-9e6a-1b2c3d4e5f60"
	orderID = "91ab2c3d-4e5f-4a6b-8c7d-0e1f2a3b4c5d"
	adminID = "0a1b2c3d-4e5f-4061-8293-a4b5c6d7e8f9"
)

func sampleOrder() events.OrderCreated {
	return events.OrderCreated{OrderID: orderID, UserID: userID, Username: "alice", ItemName: "Widget",
		Quantity: 3, Notes: "", Status: "pending", CreatedAt: time.Date(2026, 11, 29, 9, 0, 0, 0, time.UTC)}
}

func TestNewEncodeDecodeRoundTrip(t *testing.T) {
	t.Parallel()
	env, err := events.New(sampleOrder(), events.Metadata{Source: "order", CorrelationID: "req-1", AggregateVersion: 1})
	if err != nil {
		t.Fatal(err)
	}
	if env.Subject != orderID || env.Type != "OrderCreated" || env.DataSchema != "urn:caasdemo:schema:OrderCreated:1" {
		t.Fatalf("envelope attributes: %+v", env)
	}
	if !regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`).MatchString(env.ID) {
		t.Fatalf("id %q is not a v4 UUID", env.ID)
	}
	b, err := events.Encode(env)
	if err != nil {
		t.Fatal(err)
	}
	back, err := events.Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	p, err := back.Payload()
	if err != nil {
		t.Fatal(err)
	}
	got, ok := p.(*events.OrderCreated)
	if !ok || *got != sampleOrder() {
		t.Fatalf("payload = %#v", p)
	}
	if back.CorrelationID != "req-1" || back.AggregateVersion != 1 || !back.Time.Equal(env.Time) {
		t.Fatalf("metadata lost: %+v", back)
	}
}

func TestDecodeRejectsMalformedEnvelopes(t *testing.T) {
	t.Parallel()
	good, err := events.New(sampleOrder(), events.Metadata{Source: "order", AggregateVersion: 1})
	if err != nil {
		t.Fatal(err)
	}
	valid, _ := events.Encode(good)
	mutate := func(f func(m map[string]any)) []byte {
		var m map[string]any
		_ = json.Unmarshal(valid, &m)
		f(m)
		b, _ := json.Marshal(m)
		return b
	}
	for name, tc := range map[string]struct {
		input []byte
		want  error
	}{
		"not json":            {[]byte("{nope"), events.ErrMalformed},
		"empty":               {nil, events.ErrMalformed},
		"json null":           {[]byte("null"), events.ErrMalformed},
		"array":               {[]byte("[]"), events.ErrMalformed},
		"wrong specversion":   {mutate(func(m map[string]any) { m["specversion"] = "0.3" }), events.ErrMalformed},
		"missing id":          {mutate(func(m map[string]any) { delete(m, "id") }), events.ErrMalformed},
		"missing time":        {mutate(func(m map[string]any) { delete(m, "time") }), events.ErrMalformed},
		"bad time":            {mutate(func(m map[string]any) { m["time"] = "yesterday" }), events.ErrMalformed},
		"version zero":        {mutate(func(m map[string]any) { m["aggregateversion"] = 0 }), events.ErrMalformed},
		"data not an object":  {mutate(func(m map[string]any) { m["data"] = "x" }), events.ErrMalformed},
		"data missing":        {mutate(func(m map[string]any) { delete(m, "data") }), events.ErrMalformed},
		"unknown type":        {mutate(func(m map[string]any) { m["type"] = "OrderShipped" }), events.ErrUnknownType},
		"wrong-typed version": {mutate(func(m map[string]any) { m["aggregateversion"] = "one" }), events.ErrMalformed},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			_, err := events.Decode(tc.input)
			if !errors.Is(err, tc.want) {
				t.Fatalf("Decode(%s) error = %v, want %v", tc.input, err, tc.want)
			}
		})
	}
}

func TestPayloadRejectsWrongTypedData(t *testing.T) {
	t.Parallel()
	env, _ := events.New(sampleOrder(), events.Metadata{Source: "order", AggregateVersion: 1})
	env.Data = json.RawMessage(`{"order_id": 42}`)
	if _, err := env.Payload(); !errors.Is(err, events.ErrMalformed) {
		t.Fatalf("Payload() error = %v, want ErrMalformed", err)
	}
}

func TestSubjectsCarryTypeOwnerAndOrder(t *testing.T) {
	t.Parallel()
	decision := events.OrderDecision{OrderID: orderID, UserID: userID, AdminID: adminID, AdminUsername: "admin"}
	for _, tc := range []struct {
		p    events.Payload
		want string
	}{
		{events.UserRegistered{UserID: userID, Username: "alice"}, "auth.registered." + userID},
		{events.UserLoggedIn{UserID: userID}, "auth.logged_in." + userID},
		{events.UserLoginFailed{Username: "ghost", Reason: events.ReasonUnknownUser}, "auth.login_failed.unknown"},
		{events.UserLoggedOut{UserID: userID}, "auth.logged_out." + userID},
		{sampleOrder(), "orders.created." + userID + "." + orderID},
		{events.OrderApproved(decision), "orders.approved." + userID + "." + orderID},
		{events.OrderRejected(decision), "orders.rejected." + userID + "." + orderID},
		{events.OrderCreated{OrderID: "a.b", UserID: "*"}, "orders.created._.a_b"},
	} {
		if got := tc.p.NATSSubject(); got != tc.want {
			t.Errorf("%s subject = %q, want %q", tc.p.EventType(), got, tc.want)
		}
	}
	if !subjectMatches(events.OrderSubjectFilter(orderID), "orders.approved."+userID+"."+orderID) {
		t.Error("the order filter does not match the order's events")
	}
	if !subjectMatches(events.UserOrdersSubjectFilter(userID), "orders.created."+userID+"."+orderID) {
		t.Error("the user filter does not match the user's events")
	}
}

func TestEveryTypeIsInAStream(t *testing.T) {
	t.Parallel()
	for _, typ := range events.Types() {
		p, _ := events.NewPayload(typ)
		subject := p.NATSSubject()
		inStream := false
		for _, s := range events.Streams() {
			for _, pattern := range s.Subjects {
				inStream = inStream || subjectMatches(pattern, subject)
			}
		}
		if !inStream {
			t.Errorf("%s is published on %q, which no stream captures", typ, subject)
		}
	}
}

// subjectMatches implements NATS wildcard matching for the test.
func subjectMatches(pattern, subject string) bool {
	p, s := strings.Split(pattern, "."), strings.Split(subject, ".")
	for i, tok := range p {
		if tok == ">" {
			return len(s) > i
		}
		if i >= len(s) || (tok != "*" && tok != s[i]) {
			return false
		}
	}
	return len(p) == len(s)
}

func FuzzDecodeNeverPanics(f *testing.F) {
	env, _ := events.New(sampleOrder(), events.Metadata{Source: "order", AggregateVersion: 1})
	valid, _ := events.Encode(env)
	f.Add(valid)
	f.Add([]byte(`{"specversion":"1.0"}`))
	f.Add([]byte(`{"data":null}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		env, err := events.Decode(b)
		if err == nil {
			_, _ = env.Payload()
		}
	})
}
