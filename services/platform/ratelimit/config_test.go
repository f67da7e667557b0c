package ratelimit_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/caasdemo/orderdemo/services/platform/config"
	"github.com/caasdemo/orderdemo/services/platform/ratelimit"
	"github.com/caasdemo/orderdemo/services/platform/testenv"
)

func TestTheDefaultsAreLoaded(t *testing.T) {
	t.Parallel()
	var user ratelimit.UserConfig
	require.NoError(t, config.Load(testenv.Lookup(nil), &user))
	assert.Equal(t, ratelimit.Policy{Name: "per-user", Quota: 600, Window: time.Minute}, user.Policy())
	var client ratelimit.ClientConfig
	require.NoError(t, config.Load(testenv.Lookup(nil), &client))
	assert.Equal(t, ratelimit.Policy{Name: "per-client", Quota: 60, Window: time.Minute}, client.Policy())

	require.NoError(t, config.Load(testenv.Lookup(map[string]string{"RATE_LIMIT_PER_USER": "0"}), &user))
	assert.True(t, user.Policy().Off(), "0 turns the limit off")
}

func TestBadLimitsStopStartUpNamingTheVariable(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		vars map[string]string
		want string
	}{
		{map[string]string{"RATE_LIMIT_PER_USER": "-1"}, "RATE_LIMIT_PER_USER=-1: must not be negative"},
		{map[string]string{"RATE_LIMIT_PER_USER": "lots"}, `RATE_LIMIT_PER_USER="lots": not an integer`},
		{map[string]string{"RATE_LIMIT_WINDOW": "0s"}, "RATE_LIMIT_WINDOW=0s: must be a whole number of seconds"},
		{map[string]string{"RATE_LIMIT_WINDOW": "1500ms"}, "RATE_LIMIT_WINDOW=1.5s: must be a whole number of seconds"},
		{map[string]string{"RATE_LIMIT_PER_USER": "2000000", "RATE_LIMIT_WINDOW": "1s"}, "RATE_LIMIT_PER_USER=2000000: more than one request a microsecond"},
	} {
		var user ratelimit.UserConfig
		assert.ErrorContains(t, config.Load(testenv.Lookup(tc.vars), &user), tc.want, "%v", tc.vars)
	}
	var client ratelimit.ClientConfig
	assert.ErrorContains(t, config.Load(testenv.Lookup(map[string]string{"RATE_LIMIT_PER_CLIENT": "-5"}), &client),
		"RATE_LIMIT_PER_CLIENT=-5: must not be negative")
}
