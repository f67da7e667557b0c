// Command audit is the audit service: the audit log, admin statistics and replay of the event streams.
package main

import (
	"github.com/caasdemo/orderdemo/services/audit/internal/service"
	"github.com/caasdemo/orderdemo/services/platform/app"
)

func main() { app.Main("audit", ":8003", service.Run) }
