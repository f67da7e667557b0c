// Command order is the order service: orders, their review by admins, and the CSV export.
package main

import (
	"github.com/caasdemo/orderdemo/services/order/internal/service"
	"github.com/caasdemo/orderdemo/services/platform/app"
)

func main() { app.Main("order", ":8002", service.Run) }
