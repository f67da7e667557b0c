// Package schemas holds the JSON Schema (draft 2020-12) of every event type and a valid
// example of each, and compiles them for validation. The schema of type T is T.schema.json,
// with $id equal to the envelope's dataschema (events.SchemaURI); every event schema extends
// envelope.schema.json. The contract test in this package keeps the schemas, the examples and
// the Go types of the events module in agreement.
package schemas

import (
	"bytes"
	"embed"
	"fmt"
	"io/fs"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/caasdemo/orderdemo/events"
)

// FS holds the schema files and, under examples/, one example event per type.
//
//go:embed *.schema.json examples/*.json
var FS embed.FS

// EnvelopeURI is the $id of the envelope schema that every event schema extends.
const EnvelopeURI = "urn:caasdemo:schema:envelope:1"

// Types lists the event types that have a schema file, sorted.
func Types() ([]string, error) {
	names, err := fs.Glob(FS, "*.schema.json")
	if err != nil {
		return nil, err
	}
	var types []string
	for _, n := range names {
		if t := strings.TrimSuffix(n, ".schema.json"); t != "envelope" {
			types = append(types, t)
		}
	}
	return types, nil
}

// Compile compiles every event schema, keyed by event type, with formats asserted.
func Compile() (map[string]*jsonschema.Schema, error) {
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	if err := addResource(c, EnvelopeURI, "envelope.schema.json"); err != nil {
		return nil, err
	}
	types, err := Types()
	if err != nil {
		return nil, err
	}
	for _, t := range types {
		if err := addResource(c, events.SchemaURI(t), t+".schema.json"); err != nil {
			return nil, err
		}
	}
	compiled := make(map[string]*jsonschema.Schema, len(types))
	for _, t := range types {
		sch, err := c.Compile(events.SchemaURI(t))
		if err != nil {
			return nil, fmt.Errorf("compile %s: %w", t, err)
		}
		compiled[t] = sch
	}
	return compiled, nil
}

// Example returns the example event of eventType as stored.
func Example(eventType string) ([]byte, error) {
	return FS.ReadFile("examples/" + eventType + ".json")
}

// Instance parses JSON for validation with a compiled schema.
func Instance(b []byte) (any, error) { return jsonschema.UnmarshalJSON(bytes.NewReader(b)) }

func addResource(c *jsonschema.Compiler, uri, file string) error {
	b, err := FS.ReadFile(file)
	if err != nil {
		return err
	}
	doc, err := Instance(b)
	if err != nil {
		return fmt.Errorf("%s: %w", file, err)
	}
	return c.AddResource(uri, doc)
}
