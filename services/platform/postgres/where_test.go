package postgres_test

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/caasdemo/orderdemo/services/platform/postgres"
)

func TestWhereNumbersPlaceholders(t *testing.T) {
	t.Parallel()
	var w postgres.Where
	assert.Equal(t, "", w.SQL())
	w.And("status = ?", "pending")
	w.And("(a = ? OR b = ?)", "x", "x")
	limit := w.Param(20)
	assert.Equal(t, " WHERE status = $1 AND (a = $2 OR b = $3)", w.SQL())
	assert.Equal(t, "$4", limit)
	assert.Equal(t, []any{"pending", "x", "x", 20}, w.Args())
}
