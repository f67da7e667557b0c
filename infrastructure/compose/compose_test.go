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
