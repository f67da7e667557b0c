package config_test

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/caasdemo/orderdemo/services/platform/config"
)

type nested struct {
	URL config.URL `env:"DATABASE_URL,required"`
}

type sample struct {
	Addr     string        `env:"HTTP_ADDR" default:":8001"`
	Timeout  time.Duration `env:"TIMEOUT" default:"5s"`
	Workers  int           `env:"WORKERS" default:"4"`
	Debug    bool          `env:"DEBUG" default:"false"`
	Level    slog.Level    `env:"LOG_LEVEL" default:"info"`
	Secret   config.Secret `env:"JWT_SECRET,required"`
	Optional string        `env:"OPTIONAL"`
	DB       nested
}

func env(vars map[string]string) config.Lookup {
	return func(name string) (string, bool) {
		v, ok := vars[name]
		return v, ok
	}
}

func TestLoadAppliesDefaultsAndOverrides(t *testing.T) {
	t.Parallel()
	var cfg sample
	err := config.Load(env(map[string]string{
		"JWT_SECRET":   "s3cr3t",
		"DATABASE_URL": "postgres://u:pw@db:5432/app",
		"WORKERS":      "8",
		"LOG_LEVEL":    "debug",
	}), &cfg)
	require.NoError(t, err)
	assert.Equal(t, ":8001", cfg.Addr)
	assert.Equal(t, 5*time.Second, cfg.Timeout)
	assert.Equal(t, 8, cfg.Workers)
	assert.Equal(t, slog.LevelDebug, cfg.Level)
	assert.Equal(t, "s3cr3t", cfg.Secret.Reveal())
	assert.Equal(t, "postgres://u:pw@db:5432/app", cfg.DB.URL.Reveal())
	assert.Empty(t, cfg.Optional)
}

func TestLoadNamesEveryBadVariable(t *testing.T) {
	t.Parallel()
	var cfg sample
	err := config.Load(env(map[string]string{
		"TIMEOUT":   "soon",
		"WORKERS":   "many",
		"DEBUG":     "perhaps",
		"LOG_LEVEL": "loud",
	}), &cfg)
	require.Error(t, err)
	msg := err.Error()
	for _, want := range []string{
		`TIMEOUT="soon": not a duration`,
		`WORKERS="many": not an integer`,
		`DEBUG="perhaps": not a boolean`,
		`LOG_LEVEL="loud": not a valid Level`,
		"JWT_SECRET is required but not set",
		"DATABASE_URL is required but not set",
	} {
		assert.Contains(t, msg, want)
	}
}

func TestLoadRejectsNegativeDuration(t *testing.T) {
	t.Parallel()
	var cfg sample
	err := config.Load(env(map[string]string{"TIMEOUT": "-1s", "JWT_SECRET": "x", "DATABASE_URL": "postgres://h/db"}), &cfg)
	require.ErrorContains(t, err, `TIMEOUT="-1s": must not be negative`)
}

type validated struct {
	Secret config.Secret `env:"JWT_SECRET,required"`
}

func (v validated) Validate() error { return config.CheckSigningSecret("JWT_SECRET", v.Secret, 32) }

func TestLoadRunsValidate(t *testing.T) {
	t.Parallel()
	var cfg validated
	err := config.Load(env(map[string]string{"JWT_SECRET": "0123456789"}), &cfg)
	require.ErrorContains(t, err, "JWT_SECRET must be at least 32 bytes, got 10")
}

func TestCheckSigningSecret(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		secret string
		want   string
	}{
		{"short", "at least 32 bytes"},
		{"your-256-bit-secret-key-here-change-in-production", "placeholder"},
		{strings.Repeat("a", 40), "repeated"},
		{"q1c5Vd3kXo9yEw2mR7tZp4sLnB8hGj6uFa0", ""},
	} {
		err := config.CheckSigningSecret("JWT_SECRET", config.Secret(tc.secret), 32)
		if tc.want == "" {
			assert.NoError(t, err, tc.secret)
			continue
		}
		require.Error(t, err, tc.secret)
		assert.Contains(t, err.Error(), tc.want)
		assert.Contains(t, err.Error(), "JWT_SECRET")
		assert.NotContains(t, err.Error(), tc.secret, "the error must not repeat the secret")
	}
}

func TestSecretsNeverPrintInClear(t *testing.T) {
	t.Parallel()
	cfg := sample{Secret: "hunter2-hunter2", DB: nested{URL: "postgres://app:pa55word@db:5432/app"}}

	var out strings.Builder
	slog.New(slog.NewJSONHandler(&out, nil)).Info("config", "config", config.Describe(&cfg))
	js, err := json.Marshal(cfg)
	require.NoError(t, err)

	for _, printed := range []string{out.String(), string(js), fmt.Sprintf("%v %s", cfg.Secret, cfg.DB.URL)} {
		assert.NotContains(t, printed, "hunter2")
		assert.NotContains(t, printed, "pa55word")
	}
	assert.Contains(t, out.String(), `"JWT_SECRET":"***"`)
	assert.Contains(t, out.String(), `"DATABASE_URL":"postgres://app:xxxxx@db:5432/app"`)
}
