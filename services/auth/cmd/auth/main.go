// Command auth is the auth service: users, password hashing and access tokens.
package main

import (
	"github.com/caasdemo/orderdemo/services/auth/internal/service"
	"github.com/caasdemo/orderdemo/services/platform/app"
)

func main() { app.Main("auth", ":8001", service.Run) }
