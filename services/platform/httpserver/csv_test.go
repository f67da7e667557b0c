package httpserver_test

import (
	"bytes"
	"encoding/csv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/caasdemo/orderdemo/services/platform/httpserver"
)

func TestNeutraliseFormula(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"=SUM(A1)": "'=SUM(A1)", "+1": "'+1", "-1": "'-1", "@cmd": "'@cmd", "\tx": "'\tx", "\rx": "'\rx",
		"\n=HYPERLINK(\"http://evil.example\",\"click\")": "'\n=HYPERLINK(\"http://evil.example\",\"click\")",
		"\r\n=1+1": "'\r\n=1+1", "\t=1+1": "'\t=1+1", "\nplain": "'\nplain",
		"plain": "plain", "": "", "a=b": "a=b", "a\n=b": "a\n=b", " =1": " =1",
	} {
		assert.Equal(t, want, httpserver.NeutraliseFormula(in), "%q", in)
	}
}

// TestANeutralisedCellSurvivesTheCSVWriter checks what a spreadsheet reads back: the quote
// stays first even when the writer has to quote the cell for its line break.
func TestANeutralisedCellSurvivesTheCSVWriter(t *testing.T) {
	t.Parallel()
	cell := "\n=HYPERLINK(\"http://evil.example\",\"click\")"
	var buf bytes.Buffer
	w := csv.NewWriter(&buf)
	w.UseCRLF = true
	require.NoError(t, w.Write([]string{httpserver.NeutraliseFormula(cell), "x"}))
	w.Flush()
	require.NoError(t, w.Error())
	assert.True(t, bytes.HasPrefix(buf.Bytes(), []byte(`"'`)), "the quote opens the cell: %q", buf.String())
	rows, err := csv.NewReader(&buf).ReadAll()
	require.NoError(t, err)
	require.Len(t, rows, 1)
	assert.Equal(t, "'"+cell, rows[0][0])
}
