package httpserver

// NeutraliseFormula prefixes a cell that a spreadsheet would run as a formula with a single
// quote, as OWASP recommends: a cell starting with =, +, -, @, a tab, a carriage return or a
// line feed. The last three count because spreadsheets skip leading white space before
// reading a formula, so "\n=HYPERLINK(…)" runs as surely as "=HYPERLINK(…)".
func NeutraliseFormula(cell string) string {
	if cell == "" {
		return cell
	}
	switch cell[0] {
	case '=', '+', '-', '@', '\t', '\r', '\n':
		return "'" + cell
	}
	return cell
}
