package postgres

import (
	"strconv"
	"strings"
)

// Where builds a WHERE clause from conditions written with ? placeholders, numbering them
// $1, $2, … in order, so list queries with optional filters stay parameterised.
type Where struct {
	conds []string
	args  []any
}

// And adds a condition; each ? in cond takes the next of args.
func (w *Where) And(cond string, args ...any) {
	var b strings.Builder
	i := 0
	for _, r := range cond {
		if r == '?' && i < len(args) {
			b.WriteString(w.Param(args[i]))
			i++
			continue
		}
		b.WriteRune(r)
	}
	w.conds = append(w.conds, b.String())
}

// Param adds an argument and returns its placeholder, for LIMIT and OFFSET.
func (w *Where) Param(arg any) string {
	w.args = append(w.args, arg)
	return "$" + strconv.Itoa(len(w.args))
}

// SQL is " WHERE a AND b", or "" without conditions.
func (w *Where) SQL() string {
	if len(w.conds) == 0 {
		return ""
	}
	return " WHERE " + strings.Join(w.conds, " AND ")
}

// Args are the arguments, in placeholder order.
func (w *Where) Args() []any { return w.args }
