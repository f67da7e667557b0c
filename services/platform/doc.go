// Package platform is the plumbing the four services share: configuration from the
// environment, JSON logging, the HTTP server lifecycle with health and readiness, request ids,
// metrics, and the connections to PostgreSQL, NATS JetStream and Valkey. Each concern lives in its own
// sub-package; this file only documents the module.
package platform
