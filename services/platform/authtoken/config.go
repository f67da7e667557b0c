// Package authtoken holds what the service that signs access tokens (auth) and the services
// that check them (order, audit) must agree on: the HS256 secret, the issuer and the audience.
package authtoken

import "github.com/caasdemo/orderdemo/services/platform/config"

// MinSecretBytes is the shortest JWT_SECRET accepted: HS256 wants a key at least as long as
// its 256-bit output.
const MinSecretBytes = 32

// Config is the token part of a service's configuration.
type Config struct {
	Secret   config.Secret `env:"JWT_SECRET,required"`
	Issuer   string        `env:"JWT_ISSUER" default:"caas-order-demo/auth"`
	Audience string        `env:"JWT_AUDIENCE" default:"caas-order-demo"`
}

// Validate refuses a short or placeholder secret, naming JWT_SECRET. There is no built-in
// fallback secret: `make run` generates one for local use and passes it in.
func (c Config) Validate() error {
	return config.CheckSigningSecret("JWT_SECRET", c.Secret, MinSecretBytes)
}
