package schemas_test

import (
	"bytes"
	"encoding/json"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/caasdemo/orderdemo/events"
	"github.com/caasdemo/orderdemo/schemas"
)

func compiled(t *testing.T) map[string]interface{ Validate(any) error } {
	t.Helper()
	sch, err := schemas.Compile()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]interface{ Validate(any) error }{}
	for k, v := range sch {
		out[k] = v
	}
	return out
}

func validate(t *testing.T, sch interface{ Validate(any) error }, b []byte) error {
	t.Helper()
	inst, err := schemas.Instance(b)
	if err != nil {
		t.Fatal(err)
	}
	return sch.Validate(inst)
}

func TestEveryGoTypeHasASchemaAndEverySchemaAGoType(t *testing.T) {
	t.Parallel()
	fromFiles, err := schemas.Types()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(fromFiles, events.Types()) {
		t.Fatalf("schema files %v, Go types %v", fromFiles, events.Types())
	}
}

func TestExamplesValidateAndRoundTripThroughTheGoTypes(t *testing.T) {
	t.Parallel()
	sch := compiled(t)
	for _, typ := range events.Types() {
		t.Run(typ, func(t *testing.T) {
			example, err := schemas.Example(typ)
			if err != nil {
				t.Fatal(err)
			}
			if err := validate(t, sch[typ], example); err != nil {
				t.Fatalf("example does not validate: %v", err)
			}

			// Strict decoding: the example has no field the Go types lack.
			var env events.Envelope
			strict(t, example, &env)
			payload, ok := events.NewPayload(typ)
			if !ok {
				t.Fatalf("no Go payload for %s", typ)
			}
			strict(t, env.Data, payload)

			// Re-encoding gives the same JSON, envelope and payload alike.
			data, err := json.Marshal(payload)
			if err != nil {
				t.Fatal(err)
			}
			env.Data = data
			again, err := events.Encode(env)
			if err != nil {
				t.Fatal(err)
			}
			if !sameJSON(t, example, again) {
				t.Fatalf("round trip changed the event:\nexample %s\nGo      %s", example, again)
			}
		})
	}
}

func TestWhatTheGoCodeProducesValidates(t *testing.T) {
	t.Parallel()
	sch := compiled(t)
	const user, order, admin = "7c0e5d3a-8f1b-4c2d-9e6a-1b2c3d4e5f60", "91ab2c3d-4e5f-4a6b-8c7d-0e1f2a3b4c5d", "0a1b2c3d-4e5f-4061-8293-a4b5c6d7e8f9"
	now := time.Now()
	decision := events.OrderDecision{OrderID: order, UserID: user, AdminID: admin, AdminUsername: "admin", DecidedAt: now}
	produced := map[string]struct {
		source  string
		payload events.Payload
	}{
		events.TypeUserRegistered:  {"auth", events.UserRegistered{UserID: user, Username: "alice", IsAdmin: true}},
		events.TypeUserLoggedIn:    {"auth", events.UserLoggedIn{UserID: user, Username: "alice"}},
		events.TypeUserLoginFailed: {"auth", events.UserLoginFailed{Username: "Not A User", Reason: events.ReasonUnknownUser}},
		events.TypeUserLoggedOut:   {"auth", events.UserLoggedOut{UserID: user, Username: "alice"}},
		events.TypeOrderCreated: {"order", events.OrderCreated{OrderID: order, UserID: user, Username: "alice",
			ItemName: "Desk lamp", Quantity: 100, Notes: "", Status: "pending", CreatedAt: now}},
		events.TypeOrderApproved: {"order", events.OrderApproved(decision)},
		events.TypeOrderRejected: {"order", events.OrderRejected(decision)},
	}
	for _, typ := range events.Types() {
		p, ok := produced[typ]
		if !ok {
			t.Fatalf("no produced sample of %s in this test", typ)
		}
		env, err := events.New(p.payload, events.Metadata{Source: p.source, CorrelationID: "req-1", AggregateVersion: 1})
		if err != nil {
			t.Fatal(err)
		}
		b, err := events.Encode(env)
		if err != nil {
			t.Fatal(err)
		}
		if err := validate(t, sch[typ], b); err != nil {
			t.Errorf("%s produced by Go does not validate: %v\n%s", typ, err, b)
		}
	}
}

func TestAnExampleMissingARequiredFieldFails(t *testing.T) {
	t.Parallel()
	sch := compiled(t)
	for _, typ := range events.Types() {
		example, err := schemas.Example(typ)
		if err != nil {
			t.Fatal(err)
		}
		var doc map[string]any
		if err := json.Unmarshal(example, &doc); err != nil {
			t.Fatal(err)
		}
		required := requiredDataFields(t, typ)
		if len(required) == 0 {
			t.Fatalf("%s: its schema requires no data field", typ)
		}
		for _, field := range required {
			without := clone(t, doc)
			delete(without["data"].(map[string]any), field)
			if validate(t, sch[typ], marshal(t, without)) == nil {
				t.Errorf("%s without data.%s still validates", typ, field)
			}
		}
		for _, field := range []string{"id", "type", "time", "subject", "aggregateversion"} {
			without := clone(t, doc)
			delete(without, field)
			if validate(t, sch[typ], marshal(t, without)) == nil {
				t.Errorf("%s without %s still validates", typ, field)
			}
		}
		wrongType := clone(t, doc)
		wrongType["type"] = "OrderShipped"
		if validate(t, sch[typ], marshal(t, wrongType)) == nil {
			t.Errorf("%s with another type still validates", typ)
		}
	}
}

func requiredDataFields(t *testing.T, typ string) []string {
	t.Helper()
	b, err := schemas.FS.ReadFile(typ + ".schema.json")
	if err != nil {
		t.Fatal(err)
	}
	var s struct {
		Properties struct {
			Data struct {
				Required []string `json:"required"`
			} `json:"data"`
		} `json:"properties"`
	}
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatal(err)
	}
	return s.Properties.Data.Required
}

func strict(t *testing.T, b []byte, into any) {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(into); err != nil {
		t.Fatalf("strict decode into %T: %v", into, err)
	}
}

func sameJSON(t *testing.T, a, b []byte) bool {
	t.Helper()
	var x, y any
	if err := json.Unmarshal(a, &x); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &y); err != nil {
		t.Fatal(err)
	}
	return reflect.DeepEqual(x, y)
}

func clone(t *testing.T, doc map[string]any) map[string]any {
	t.Helper()
	var out map[string]any
	if err := json.Unmarshal(marshal(t, doc), &out); err != nil {
		t.Fatal(err)
	}
	return out
}

func marshal(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
