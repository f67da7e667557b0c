// Package config loads a service's typed configuration from environment variables.
//
// A configuration is a plain struct. Each field names its variable and its default in tags
// written next to it:
//
//	type Config struct {
//		HTTPAddr  string        `env:"HTTP_ADDR" default:":8001"`
//		JWTSecret config.Secret `env:"JWT_SECRET,required"`
//		Timeout   time.Duration `env:"TIMEOUT" default:"5s"`
//		Postgres  postgres.Config // nested structs are walked
//	}
//
// Load reports every bad or missing variable at once, each error naming the variable, so that
// a misconfigured service stops with one message that says what to fix. Values of type Secret
// and URL never print in clear: Describe gives a loggable view with secrets masked.
//
// This is the only package of the services that reads the environment, and even it reads it
// through a lookup function, so tests pass their own.
package config

import (
	"encoding"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"time"
)

// Lookup returns the value of one environment variable; os.LookupEnv is the production one.
type Lookup func(name string) (string, bool)

// Validator is implemented by configurations, or parts of them, with rules that go beyond the
// type; Load calls it on every struct that has it once every field is set. Its errors should
// name the variable.
type Validator interface {
	Validate() error
}

// Secret is a string that never prints: fmt, slog and JSON all show it masked. Use Reveal at
// the one place that needs the clear value.
type Secret string

// Reveal returns the clear value.
func (s Secret) Reveal() string { return string(s) }

// String masks the value so an accidental %s or %v stays safe.
func (s Secret) String() string {
	if s == "" {
		return ""
	}
	return "***"
}

// LogValue masks the value in slog output.
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.String()) }

// MarshalText masks the value in JSON and other text encodings.
func (s Secret) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// URL is a connection URL that may carry a password; it prints with the password masked.
type URL string

// Reveal returns the clear value.
func (u URL) Reveal() string { return string(u) }

// String shows the URL with any password replaced by "xxxxx".
func (u URL) String() string {
	parsed, err := url.Parse(string(u))
	if err != nil {
		return "(unparsable URL)"
	}
	return parsed.Redacted()
}

// LogValue masks the password in slog output.
func (u URL) LogValue() slog.Value { return slog.StringValue(u.String()) }

// MarshalText masks the password in JSON and other text encodings.
func (u URL) MarshalText() ([]byte, error) { return []byte(u.String()), nil }

// Load fills cfg, a pointer to a struct, from lookup. It returns every problem found, each
// naming its variable, joined into one error.
func Load(lookup Lookup, cfg any) error {
	v := reflect.ValueOf(cfg)
	if v.Kind() != reflect.Pointer || v.Elem().Kind() != reflect.Struct {
		return fmt.Errorf("config: Load needs a pointer to a struct, got %T", cfg)
	}
	var errs []error
	walk(v.Elem(), func(f reflect.Value, tag fieldTag) {
		raw, ok := lookup(tag.name)
		if !ok || raw == "" {
			if tag.required {
				errs = append(errs, fmt.Errorf("%s is required but not set", tag.name))
				return
			}
			if !tag.hasDefault {
				return
			}
			raw = tag.def
		}
		// Only non-string fields fail to parse, so quoting raw never shows a Secret or URL.
		if err := set(f, raw); err != nil {
			errs = append(errs, fmt.Errorf("%s=%q: %w", tag.name, raw, err))
		}
	})
	if err := errors.Join(errs...); err != nil {
		return err
	}
	return validate(v.Elem())
}

// validate calls Validate on the struct v and on every struct nested in it, depth first.
func validate(v reflect.Value) error {
	var errs []error
	for i := range v.NumField() {
		if f := v.Field(i); v.Type().Field(i).IsExported() && f.Kind() == reflect.Struct {
			errs = append(errs, validate(f))
		}
	}
	if val, ok := v.Addr().Interface().(Validator); ok {
		errs = append(errs, val.Validate())
	}
	return errors.Join(errs...)
}

// Describe returns a loggable view of cfg keyed by variable name, with secrets masked.
func Describe(cfg any) slog.Value {
	v := reflect.ValueOf(cfg)
	for v.Kind() == reflect.Pointer {
		v = v.Elem()
	}
	var attrs []slog.Attr
	walk(v, func(f reflect.Value, tag fieldTag) {
		val := f.Interface()
		if s, ok := val.(fmt.Stringer); ok {
			val = s.String()
		}
		attrs = append(attrs, slog.Any(tag.name, val))
	})
	return slog.GroupValue(attrs...)
}

type fieldTag struct {
	name       string
	required   bool
	def        string
	hasDefault bool
}

// walk calls fn for every tagged field of the struct v, descending into untagged struct fields.
func walk(v reflect.Value, fn func(reflect.Value, fieldTag)) {
	t := v.Type()
	for i := range t.NumField() {
		sf := t.Field(i)
		if !sf.IsExported() {
			continue
		}
		env, ok := sf.Tag.Lookup("env")
		if !ok {
			if sf.Type.Kind() == reflect.Struct {
				walk(v.Field(i), fn)
			}
			continue
		}
		name, opts, _ := strings.Cut(env, ",")
		def, hasDefault := sf.Tag.Lookup("default")
		fn(v.Field(i), fieldTag{name: name, required: opts == "required", def: def, hasDefault: hasDefault})
	}
}

var (
	durationType = reflect.TypeFor[time.Duration]()
	unmarshaler  = reflect.TypeFor[encoding.TextUnmarshaler]()
)

// set parses raw into the field f according to its type.
func set(f reflect.Value, raw string) error {
	if f.Addr().Type().Implements(unmarshaler) {
		if err := f.Addr().Interface().(encoding.TextUnmarshaler).UnmarshalText([]byte(raw)); err != nil {
			return fmt.Errorf("not a valid %s: %w", f.Type().Name(), err)
		}
		return nil
	}
	if f.Type() == durationType {
		d, err := time.ParseDuration(raw)
		if err != nil {
			return errors.New("not a duration (examples: 500ms, 10s, 1h)")
		}
		if d < 0 {
			return errors.New("must not be negative")
		}
		f.SetInt(int64(d))
		return nil
	}
	switch f.Kind() {
	case reflect.String:
		f.SetString(raw)
	case reflect.Bool:
		b, err := strconv.ParseBool(raw)
		if err != nil {
			return errors.New("not a boolean (true or false)")
		}
		f.SetBool(b)
	case reflect.Int, reflect.Int32, reflect.Int64:
		n, err := strconv.ParseInt(raw, 10, f.Type().Bits())
		if err != nil {
			return errors.New("not an integer")
		}
		f.SetInt(n)
	default:
		return fmt.Errorf("unsupported field type %s", f.Type())
	}
	return nil
}
