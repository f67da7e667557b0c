package config_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/caasdemo/orderdemo/services/auth/internal/config"
	pconfig "github.com/caasdemo/orderdemo/services/platform/config"
	"github.com/caasdemo/orderdemo/services/platform/testenv"
)

var required = map[string]string{
	"DATABASE_URL": "postgres://h/db", "NATS_URL": "nats://h", "VALKEY_URL": "redis://h",
	"JWT_SECRET": testenv.JWTSecret, "ADMIN_PASSWORD": "admin-password",
}

func load(extra map[string]string) (config.Config, error) {
	env := map[string]string{}
	for k, v := range required {
		env[k] = v
	}
	for k, v := range extra {
		env[k] = v
	}
	var cfg config.Config
	return cfg, pconfig.Load(testenv.Lookup(env), &cfg)
}

func TestDefaults(t *testing.T) {
	t.Parallel()
	cfg, err := load(nil)
	require.NoError(t, err)
	assert.Equal(t, 12, cfg.Bcrypt.Cost, "production bcrypt cost is 12")
	assert.Equal(t, 5, cfg.Login.MaxPerUsername)
	assert.Equal(t, time.Minute, cfg.Login.Window)
	assert.Equal(t, time.Hour, cfg.Session.IdleTimeout)
	assert.Equal(t, 15*time.Second, cfg.Session.RefreshGrace)
	assert.Equal(t, 20, cfg.Register.MaxPerClient)
	assert.Equal(t, time.Hour, cfg.Register.Window)
	assert.Equal(t, "admin", cfg.Admin.Username)
}

func TestBadValuesNameTheVariable(t *testing.T) {
	t.Parallel()
	for variable, value := range map[string]string{
		"BCRYPT_COST":             "3",
		"TRUSTED_PROXIES":         "10.0.0.0/33",
		"SESSION_MAX_LIFETIME":    "1m",
		"REFRESH_REUSE_GRACE":     "5m",
		"REGISTER_MAX_PER_CLIENT": "0",
	} {
		_, err := load(map[string]string{variable: value})
		require.Error(t, err, variable)
		assert.Contains(t, err.Error(), variable)
	}
	_, err := load(map[string]string{"ADMIN_PASSWORD": ""})
	assert.ErrorContains(t, err, "ADMIN_PASSWORD or ADMIN_PASSWORD_HASH is required")
}
