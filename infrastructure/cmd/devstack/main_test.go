package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/caasdemo/orderdemo/infrastructure/localstack"
	"github.com/caasdemo/orderdemo/services/platform/config"
)

// banner prints the banner of a stack whose secrets are secrets, in a fresh data directory,
// after the secrets were filled as StartServices fills them; it returns the banner and the
// secrets file ("" when there is none).
func banner(t *testing.T, dir string, secrets localstack.Secrets) (string, string) {
	t.Helper()
	stack, err := localstack.New(localstack.Config{DataDir: dir, Secrets: secrets}, &strings.Builder{})
	require.NoError(t, err)
	_, err = stack.ServiceEnv("auth")
	require.NoError(t, err)
	var out strings.Builder
	printBanner(&out, stack, time.Second)
	file, err := os.ReadFile(filepath.Join(dir, localstack.SecretsFile))
	if !os.IsNotExist(err) {
		require.NoError(t, err)
	}
	return out.String(), string(file)
}

func TestTheBannerShowsOnlyAGeneratedAdminPassword(t *testing.T) {
	t.Parallel()

	t.Run("from the environment", func(t *testing.T) {
		t.Parallel()
		out, file := banner(t, t.TempDir(), localstack.Secrets{AdminUsername: "admin", AdminPassword: "my own secret pw"})
		assert.NotContains(t, out, "my own secret pw", "the user's own password is not echoed")
		assert.NotContains(t, file, "my own secret pw", "nor written to the secrets file")
		assert.NotContains(t, out, localstack.SecretsFile, "it is not kept there, so the banner does not say so")
		assert.Contains(t, out, "Admin     admin / the password in ADMIN_PASSWORD (from your environment)")
	})

	t.Run("from a hash", func(t *testing.T) {
		t.Parallel()
		out, _ := banner(t, t.TempDir(), localstack.Secrets{AdminUsername: "admin", AdminPasswordHash: config.Secret("$2a$12$abc")})
		assert.Contains(t, out, "Admin     admin / the password ADMIN_PASSWORD_HASH was made from")
	})

	t.Run("generated", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		out, file := banner(t, dir, localstack.Secrets{AdminUsername: "admin"})
		var generated string
		for _, line := range strings.Split(file, "\n") {
			if v, ok := strings.CutPrefix(line, "ADMIN_PASSWORD="); ok {
				generated = v
			}
		}
		require.NotEmpty(t, generated, "kept in the secrets file")
		assert.Contains(t, out, "Admin     admin / "+generated+"   (generated, kept in "+filepath.Join(dir, localstack.SecretsFile)+")")

		again, _ := banner(t, dir, localstack.Secrets{AdminUsername: "admin"})
		assert.Contains(t, again, "admin / "+generated+"   (generated, kept in", "the next run reads it back and shows it again")
	})
}

func TestTheBannerSaysWhereEachServicesMetricsAre(t *testing.T) {
	t.Parallel()
	stack, err := localstack.New(localstack.Config{DataDir: t.TempDir(), Secrets: localstack.Secrets{AdminUsername: "admin", AdminPassword: "a password"},
		Metrics: localstack.MetricsPorts{Gateway: 9100, Auth: 9101, Order: 0, Audit: 9103}}, &strings.Builder{})
	require.NoError(t, err)
	env, err := stack.ServiceEnv("auth")
	require.NoError(t, err)
	assert.Contains(t, env, "METRICS_ADDR=127.0.0.1:9101")
	env, err = stack.ServiceEnv("order")
	require.NoError(t, err)
	assert.Contains(t, env, "METRICS_ADDR=", "set and empty: off, so a METRICS_ADDR of the runner's own does not reach it")
	var out strings.Builder
	printBanner(&out, stack, time.Second)
	assert.Contains(t, out.String(), "\n    Metrics   gateway  http://127.0.0.1:9100/metrics\n"+
		"              auth     http://127.0.0.1:9101/metrics\n"+
		"              audit    http://127.0.0.1:9103/metrics\n    Stop", out.String())
	assert.NotContains(t, out.String(), "order    http", "a service whose metrics port is 0 has none")
}
