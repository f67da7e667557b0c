package httpserver

// NeutraliseFormula prefixes a cell that a spreadsheet would run as a formula (starting with
// =, +, -, @, a tab or a carriage return) with a single quote, as OWASP recommends.
func NeutraliseFormula(cell string) string {
	if cell == "" {
		return cell
	}
	switch cell[0] {
	case '=', '+', '-', '@', '\t', '\r':
		return "'" + cell
	}
	return cell
}
