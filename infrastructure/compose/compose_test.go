package compose_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/caasdemo/orderdemo/infrastructure/compose"
)

func TestComposeFileIsValid(t *testing.T) {
	t.Parallel()
	documented, err := compose.EnvExampleNames("../../.env.example")
	require.NoError(t, err)
	problems, err := compose.Check("../../compose.yaml", documented)
	require.NoError(t, err)
	assert.Empty(t, problems)
}

func TestCheckFindsBrokenFiles(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "compose.yaml")
	require.NoError(t, os.WriteFile(path, []byte(`
services:
  db:
    image: postgres:16-alpine
  api:
    build: {context: ., args: {SERVICE: web}}
    volumes: [data:/data]
    healthcheck: {test: ["CMD", "/app/service", "healthcheck"]}
    environment:
      SECRET: ${UNDOCUMENTED}
    depends_on:
      db: {condition: service_healthy}
      cache: {condition: service_started}
`), 0o600))
	problems, err := compose.Check(path, map[string]bool{})
	require.NoError(t, err)
	assert.ElementsMatch(t, []string{
		`api: build arg SERVICE="web", want "api"`,
		`api: depends on unknown service "cache"`,
		"api: waits for db to be healthy, but db has no health check",
		`api: volume "data" is not declared`,
		"db: no health check",
		"variable UNDOCUMENTED is used but not documented in .env.example",
	}, problems)
}

// JetStream with the default sync interval, and X-Forwarded-For believed from any address,
// are what compose.yaml once shipped; both are refused.
func TestCheckFindsUnsafeJetStreamAndProxySettings(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "compose.yaml")
	require.NoError(t, os.WriteFile(path, []byte(`
x-check: &check
  healthcheck: {test: ["CMD", "true"]}
services:
  nats:
    <<: *check
    image: nats:2-alpine
    command: ["--jetstream", "--store_dir", "/data", "--http_port", "8222"]
  nats-interval:
    <<: *check
    image: nats:2-alpine
    command: ["-c", "/etc/nats/js.conf"]
    configs: [{source: js-interval, target: /etc/nats/js.conf}]
  nats-off:
    <<: *check
    image: nats:2-alpine
  nats-synced:
    <<: *check
    image: nats:2-alpine
    command: ["nats-server", "--config", "/etc/nats/js.conf"]
    configs: [{source: js-always, target: /etc/nats/js.conf}]
  auth:
    <<: *check
    image: auth
    environment:
      TRUSTED_PROXIES: 0.0.0.0/0,::/0
  order:
    <<: *check
    image: order
    environment:
      TRUSTED_PROXIES: 10.1.2.0/24,10.1.0.0/16
networks:
  default:
    ipam: {config: [{subnet: 10.1.2.0/24}]}
configs:
  js-interval:
    content: "jetstream { store_dir: /data, sync_interval: 10s }"
  js-always:
    content: "jetstream { store_dir: /data, sync_interval: always }"
`), 0o600))
	problems, err := compose.Check(path, map[string]bool{})
	require.NoError(t, err)
	assert.ElementsMatch(t, []string{
		"nats: JetStream does not sync every write (set sync_interval: always)",
		"nats-interval: JetStream does not sync every write (set sync_interval: always)",
		"nats-off: JetStream is not enabled",
		"auth: TRUSTED_PROXIES trusts 0.0.0.0/0, wider than any subnet declared for the compose networks",
		"auth: TRUSTED_PROXIES trusts ::/0, wider than any subnet declared for the compose networks",
		"order: TRUSTED_PROXIES trusts 10.1.0.0/16, wider than any subnet declared for the compose networks",
	}, problems)
}
