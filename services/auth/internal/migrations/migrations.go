// Package migrations embeds the auth schema's goose migrations; the service applies them at
// start-up.
package migrations

import "embed"

// FS holds the SQL migrations, applied in file-name order.
//
//go:embed *.sql
var FS embed.FS
