// Package logging builds the services' structured logger: slog JSON lines that always carry
// the service name and, when the context has one, the request id.
//
// Log with the context (log.InfoContext(ctx, …)) wherever a request is in flight so the line
// can be followed across services. Never log passwords, tokens, session ids or hashes; config
// values go through config.Describe, which masks secrets.
package logging

import (
	"context"
	"io"
	"log/slog"

	"github.com/caasdemo/orderdemo/services/platform/requestid"
)

// New returns a JSON logger writing to w at level, with service on every line.
func New(w io.Writer, service string, level slog.Leveler) *slog.Logger {
	h := slog.NewJSONHandler(w, &slog.HandlerOptions{Level: level})
	return slog.New(contextHandler{h}).With(slog.String("service", service))
}

// contextHandler adds the request id found in the record's context.
type contextHandler struct{ slog.Handler }

func (h contextHandler) Handle(ctx context.Context, r slog.Record) error {
	if id := requestid.FromContext(ctx); id != "" {
		r.AddAttrs(slog.String("request_id", id))
	}
	return h.Handler.Handle(ctx, r)
}

func (h contextHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return contextHandler{h.Handler.WithAttrs(attrs)}
}

func (h contextHandler) WithGroup(name string) slog.Handler {
	return contextHandler{h.Handler.WithGroup(name)}
}
