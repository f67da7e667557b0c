// Package events is the contract between the services: the CloudEvents 1.0 envelope every
// event travels in, the typed payload of each event type, the JetStream streams and the
// subject scheme. It imports nothing outside the standard library, so any producer or
// consumer can depend on it without pulling in a transport.
//
// An event is made with New from a typed payload and Metadata, encoded with Encode, and read
// back with Decode, which rejects malformed envelopes and unknown types with an error (never a
// panic). Payload returns the typed payload of a decoded envelope.
//
// Compatibility: adding an optional payload field keeps the type's version, and decoding
// ignores fields it does not know, so older consumers keep working. A breaking change is a
// new type version (a new dataschema).
package events

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"
)

// SpecVersion is the CloudEvents version of every envelope.
const SpecVersion = "1.0"

// ContentType is the content type of a structured-mode CloudEvent.
const ContentType = "application/cloudevents+json"

// Envelope is a CloudEvents 1.0 event in structured JSON mode, with two extension
// attributes: correlationid (the request id that caused the event) and aggregateversion (the
// per-aggregate version, 1 for the event that creates the aggregate). CloudEvents' own
// "sequence" extension is a string compared lexically, so an integer attribute of our own
// name is used instead.
type Envelope struct {
	SpecVersion      string          `json:"specversion"`
	ID               string          `json:"id"`
	Source           string          `json:"source"`
	Type             string          `json:"type"`
	Subject          string          `json:"subject"`
	Time             time.Time       `json:"time"`
	DataContentType  string          `json:"datacontenttype"`
	DataSchema       string          `json:"dataschema"`
	CorrelationID    string          `json:"correlationid,omitempty"`
	AggregateVersion int64           `json:"aggregateversion"`
	Data             json.RawMessage `json:"data"`
}

// Metadata is what a producer says about an event beyond its payload.
type Metadata struct {
	Source           string    // the producing service, e.g. "order"
	CorrelationID    string    // the request id that caused the event
	AggregateVersion int64     // the aggregate's version after this event, from 1
	Time             time.Time // when it happened; zero means now
}

// Errors returned by Decode and Payload.
var (
	ErrMalformed   = errors.New("malformed event")
	ErrUnknownType = errors.New("unknown event type")
)

// New wraps payload in an envelope with a fresh id.
func New(p Payload, meta Metadata) (Envelope, error) {
	data, err := json.Marshal(p)
	if err != nil {
		return Envelope{}, fmt.Errorf("encode %s: %w", p.EventType(), err)
	}
	at := meta.Time
	if at.IsZero() {
		at = time.Now()
	}
	env := Envelope{
		SpecVersion:      SpecVersion,
		ID:               NewID(),
		Source:           meta.Source,
		Type:             p.EventType(),
		Subject:          p.AggregateID(),
		Time:             at.UTC().Truncate(time.Microsecond), // PostgreSQL's precision
		DataContentType:  "application/json",
		DataSchema:       SchemaURI(p.EventType()),
		CorrelationID:    meta.CorrelationID,
		AggregateVersion: meta.AggregateVersion,
		Data:             data,
	}
	return env, env.validate()
}

// Encode returns the envelope as structured-mode CloudEvents JSON.
func Encode(env Envelope) ([]byte, error) {
	if err := env.validate(); err != nil {
		return nil, err
	}
	return json.Marshal(env)
}

// Decode parses structured-mode CloudEvents JSON. It returns ErrMalformed for anything that
// is not a complete CloudEvents 1.0 envelope, and ErrUnknownType for a type this version of
// the contract does not know.
func Decode(b []byte) (Envelope, error) {
	var env Envelope
	if err := json.Unmarshal(b, &env); err != nil {
		return Envelope{}, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	return env, env.validate()
}

// Payload decodes the envelope's data into the payload type registered for its type.
func (e Envelope) Payload() (Payload, error) {
	newPayload, ok := registry[e.Type]
	if !ok {
		return nil, fmt.Errorf("%w %q", ErrUnknownType, e.Type)
	}
	p := newPayload()
	if err := json.Unmarshal(e.Data, p); err != nil {
		return nil, fmt.Errorf("%w: %s data: %v", ErrMalformed, e.Type, err)
	}
	return p, nil
}

// NATSSubject is the subject the event is published on (see the subject scheme in streams.go).
func (e Envelope) NATSSubject() (string, error) {
	p, err := e.Payload()
	if err != nil {
		return "", err
	}
	return p.NATSSubject(), nil
}

func (e Envelope) validate() error {
	var missing []string
	for name, v := range map[string]string{"id": e.ID, "source": e.Source, "type": e.Type, "subject": e.Subject, "dataschema": e.DataSchema} {
		if v == "" {
			missing = append(missing, name)
		}
	}
	switch {
	case e.SpecVersion != SpecVersion:
		return fmt.Errorf("%w: specversion %q, want %q", ErrMalformed, e.SpecVersion, SpecVersion)
	case len(missing) > 0:
		slices.Sort(missing)
		return fmt.Errorf("%w: missing %v", ErrMalformed, missing)
	case e.Time.IsZero():
		return fmt.Errorf("%w: missing time", ErrMalformed)
	case e.AggregateVersion < 1:
		return fmt.Errorf("%w: aggregateversion %d, want >= 1", ErrMalformed, e.AggregateVersion)
	case len(bytes.TrimSpace(e.Data)) == 0 || e.Data[0] != '{':
		return fmt.Errorf("%w: data must be a JSON object", ErrMalformed)
	}
	if _, ok := registry[e.Type]; !ok {
		return fmt.Errorf("%w %q", ErrUnknownType, e.Type)
	}
	return nil
}

// NewID returns a random (version 4) UUID.
func NewID() string {
	var u [16]byte
	_, _ = rand.Read(u[:])
	u[6] = u[6]&0x0f | 0x40
	u[8] = u[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", u[0:4], u[4:6], u[6:8], u[8:10], u[10:16])
}
