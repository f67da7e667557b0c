package valkeyconn_test

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/valkey-io/valkey-go"

	"github.com/caasdemo/orderdemo/services/platform/config"
	"github.com/caasdemo/orderdemo/services/platform/health"
	"github.com/caasdemo/orderdemo/services/platform/problem"
	"github.com/caasdemo/orderdemo/services/platform/testenv"
	"github.com/caasdemo/orderdemo/services/platform/valkeyconn"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func TestConnectAndCheck(t *testing.T) {
	t.Parallel()
	client, err := valkeyconn.Connect(t.Context(), valkeyconn.Config{URL: config.URL(testenv.ValkeyURL(t)), ConnectTimeout: time.Second}, quiet)
	require.NoError(t, err)
	defer client.Close()
	rep := health.Evaluate(t.Context(), []health.Check{valkeyconn.Check(client)})
	assert.Empty(t, rep.Down)
}

func TestConnectGivesUpNamingTheVariable(t *testing.T) {
	t.Parallel()
	_, err := valkeyconn.Connect(t.Context(), valkeyconn.Config{URL: "redis://:hunter22@127.0.0.1:1/0", ConnectTimeout: 200 * time.Millisecond}, quiet)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "VALKEY_URL: cannot reach Valkey")
	assert.NotContains(t, err.Error(), "hunter22")

	_, err = valkeyconn.Connect(t.Context(), valkeyconn.Config{URL: "http://example"}, quiet)
	assert.ErrorContains(t, err, "VALKEY_URL: not a valid Valkey URL")
}

// A Valkey that stops answering (or is killed) fails each command within its own deadline,
// as *problem.UnavailableError naming valkey, however long the caller would wait.
func TestACommandToAnUnavailableValkeyEndsAtItsDeadline(t *testing.T) {
	t.Parallel()
	proxy := testenv.StartProxy(t, testenv.ValkeyURL(t))
	client, err := valkeyconn.Connect(t.Context(), valkeyconn.Config{URL: config.URL(proxy.URL()), ConnectTimeout: time.Second}, quiet)
	require.NoError(t, err)
	defer client.Close()
	key := testenv.Prefix() + "k"
	require.NoError(t, client.Do(t.Context(), client.B().Set().Key(key).Value("v").Px(time.Minute).Build()).Error())
	got, err := client.Do(t.Context(), client.B().Get().Key("missing:"+key).Build()).ToString()
	assert.True(t, valkey.IsValkeyNil(err), "an answer of the server is not an outage: %q %v", got, err)

	for name, fault := range map[string]func(){"stalled": proxy.Stall, "killed": proxy.Cut} {
		fault()
		// The caller's context allows far more than the call timeout, as a request's does.
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		start := time.Now()
		err := client.Do(ctx, client.B().Get().Key(key).Build()).Error()
		elapsed := time.Since(start)
		cancel()
		var ue *problem.UnavailableError
		require.ErrorAs(t, err, &ue, name)
		assert.Equal(t, "valkey", ue.Dependency, name)
		assert.Less(t, elapsed, 1500*time.Millisecond, "%s: bounded by VALKEY_CALL_TIMEOUT (1s)", name)
		for _, r := range client.DoMulti(t.Context(), client.B().Get().Key(key).Build(), client.B().Get().Key(key).Build()) {
			assert.ErrorAs(t, r.Error(), &ue, name)
		}
		proxy.Restore()
		require.Eventually(t, func() bool {
			v, err := client.Do(t.Context(), client.B().Get().Key(key).Build()).ToString()
			return err == nil && v == "v"
		}, 15*time.Second, 50*time.Millisecond, "%s: the client recovers once Valkey answers again", name)
	}
}

func TestAZeroCallTimeoutIsRefusedNamingTheVariable(t *testing.T) {
	t.Parallel()
	var cfg valkeyconn.Config
	err := config.Load(testenv.Lookup(map[string]string{"VALKEY_URL": "redis://127.0.0.1:6379/0", "VALKEY_CALL_TIMEOUT": "0s"}), &cfg)
	assert.ErrorContains(t, err, "VALKEY_CALL_TIMEOUT must be positive")
	require.NoError(t, config.Load(testenv.Lookup(map[string]string{"VALKEY_URL": "redis://127.0.0.1:6379/0"}), &cfg))
	assert.Equal(t, time.Second, cfg.CallTimeout)
}
