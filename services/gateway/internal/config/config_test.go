package config_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/caasdemo/orderdemo/services/gateway/internal/config"
	pconfig "github.com/caasdemo/orderdemo/services/platform/config"
	"github.com/caasdemo/orderdemo/services/platform/testenv"
)

func load(extra map[string]string) (config.Config, error) {
	env := map[string]string{"NATS_URL": "nats://h", "VALKEY_URL": "redis://h"}
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
	assert.Equal(t, 1500*time.Millisecond, cfg.Upstreams.Timeout, "a service that is down is answered within 2 s")
	assert.Equal(t, "127.0.0.0/8,::1/128", cfg.Clients.TrustedProxies.String(), "as auth's")
	assert.Equal(t, 10, cfg.Streams.PerSession)
	assert.True(t, cfg.Session.SecureCookies, "cookies are Secure unless told otherwise")
}

func TestBadValuesNameTheVariable(t *testing.T) {
	t.Parallel()
	for variable, value := range map[string]string{
		"TRUSTED_PROXIES":         "10.0.0.0/33",
		"MAX_STREAMS_PER_SESSION": "0",
		"UPSTREAM_TIMEOUT":        "0s",
	} {
		_, err := load(map[string]string{variable: value})
		require.Error(t, err, variable)
		assert.Contains(t, err.Error(), variable)
	}
}
