// Package validation is the small vocabulary the services' domains use to refuse input: a
// list of fields, each with the rule it broke, worded for the person who sent it; and the one
// rule for user text every service applies where text enters (Line, Lines). It imports
// nothing but the standard library, so domain packages can use it and stay free of HTTP;
// problem.Write turns it into a 400 that names every field.
package validation

import "strings"

// FieldError says which input field broke which rule.
type FieldError struct {
	Field string `json:"field"`
	Rule  string `json:"rule"`
}

// Errors lists every field that broke a rule.
type Errors []FieldError

// Field returns the error of one field.
func Field(field, rule string) Errors { return Errors{{Field: field, Rule: rule}} }

// Error reads "field: rule; field: rule".
func (e Errors) Error() string {
	parts := make([]string, len(e))
	for i, f := range e {
		parts[i] = f.Field + ": " + f.Rule
	}
	return strings.Join(parts, "; ")
}
