package httpserver

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"reflect"
	"strings"

	"github.com/caasdemo/orderdemo/services/platform/problem"
)

// DecodeJSON reads a JSON object into v, refusing a non-JSON content type, unknown fields,
// wrong types, trailing data and bodies over limit bytes. The error is a *problem.Error whose
// message names the field.
func DecodeJSON(w http.ResponseWriter, r *http.Request, v any, limit int64) error {
	if ct := r.Header.Get("Content-Type"); ct != "" && !strings.HasPrefix(ct, "application/json") {
		return problem.New(http.StatusUnsupportedMediaType, "the body must be JSON (Content-Type: application/json)")
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, limit))
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	if err == nil && dec.More() {
		err = errors.New("trailing data")
	}
	if err == nil {
		if _, terr := dec.Token(); terr != io.EOF {
			err = errors.New("trailing data after the JSON object")
		}
	}
	return jsonProblem(err)
}

func jsonProblem(err error) error {
	var (
		syntax   *json.SyntaxError
		typeErr  *json.UnmarshalTypeError
		tooLarge *http.MaxBytesError
	)
	switch {
	case err == nil:
		return nil
	case errors.As(err, &tooLarge):
		return problem.Newf(http.StatusRequestEntityTooLarge, "the body is larger than %d bytes", tooLarge.Limit)
	case errors.As(err, &typeErr) && typeErr.Field == "":
		return problem.New(http.StatusBadRequest, "the body must be a JSON object")
	case errors.As(err, &typeErr):
		return problem.Validation(problem.FieldError{Field: typeErr.Field, Rule: "must be " + jsonKind(typeErr.Type)})
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		field := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		return problem.Validation(problem.FieldError{Field: field, Rule: "is not a known field"})
	case errors.As(err, &syntax), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return problem.New(http.StatusBadRequest, "the body is not valid JSON")
	default:
		return problem.New(http.StatusBadRequest, "the body is not a valid JSON object: "+err.Error())
	}
}

// jsonKind names a Go type as a JSON user would.
func jsonKind(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "an integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Slice, reflect.Array:
		return "a list"
	default:
		return "an object"
	}
}
