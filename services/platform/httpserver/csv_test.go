package httpserver_test

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/caasdemo/orderdemo/services/platform/httpserver"
)

func TestNeutraliseFormula(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"=SUM(A1)": "'=SUM(A1)", "+1": "'+1", "-1": "'-1", "@cmd": "'@cmd", "\tx": "'\tx", "\rx": "'\rx",
		"plain": "plain", "": "", "a=b": "a=b",
	} {
		assert.Equal(t, want, httpserver.NeutraliseFormula(in), in)
	}
}
