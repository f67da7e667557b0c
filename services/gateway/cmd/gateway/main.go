// Command gateway is the public web UI: pages, sessions, and live order status over SSE.
package main

import (
	"github.com/caasdemo/orderdemo/services/gateway/internal/service"
	"github.com/caasdemo/orderdemo/services/platform/app"
)

// The gateway holds a buffer and a goroutine per open event stream: its soft memory limit is
// larger than the other services'.
func main() { app.Main("gateway", ":8000", service.Run, 48<<20) }
