// Command audit is the audit service: the audit log, the admin statistics, and replays that
// rebuild them from the event streams.
//
//	audit                                   serve (port 8003)
//	audit replay [--projection=all|audit-log|orders] [--verify]
//	                                        rebuild a projection next to the running service
package main

import (
	"os"

	"github.com/caasdemo/orderdemo/services/audit/internal/service"
	"github.com/caasdemo/orderdemo/services/platform/app"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "replay" {
		app.Main("audit", ":8003", service.ReplayCommand(os.Args[2:], os.Stderr))
	}
	app.Main("audit", ":8003", service.Run)
}
