package ratelimit

import (
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/caasdemo/orderdemo/services/platform/authtoken"
	"github.com/caasdemo/orderdemo/services/platform/problem"
)

// Partition names the caller a request is counted against; "" means the request cannot be
// attributed and is not limited.
type Partition func(*http.Request) string

// User is the partition of the subject of the request's verified token: it needs
// authtoken's Require to run first.
func User(r *http.Request) string {
	c, _ := authtoken.FromContext(r.Context())
	return c.UserID
}

// Middleware counts every request under p against the caller partition names. A request
// within the quota goes on with the RateLimit-Policy and RateLimit fields set; one beyond it
// is answered 429 with Retry-After; one that cannot be counted, 503 naming valkey. A policy
// that is off returns next unchanged: no fields, no Valkey.
func (l *Limiter) Middleware(p Policy, partition Partition, log *slog.Logger) func(http.Handler) http.Handler {
	if p.Off() {
		return func(next http.Handler) http.Handler { return next }
	}
	policy := PolicyField(p)
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			key := partition(r)
			if key == "" {
				next.ServeHTTP(w, r)
				return
			}
			w.Header().Set("RateLimit-Policy", policy)
			d, err := l.Allow(r.Context(), p, key)
			if err != nil {
				problem.Write(w, r, log, err)
				return
			}
			w.Header().Set("RateLimit", LimitField(p, d))
			if !d.Allowed {
				secs := seconds(d.RetryAfter)
				problem.Write(w, r, log, &problem.Error{Status: http.StatusTooManyRequests, RetryAfter: d.RetryAfter,
					Detail: fmt.Sprintf("too many requests: the %s limit is %d every %s; try again in %s",
						p.Name, p.Quota, plural(int(p.Window/time.Second), "second"), plural(secs, "second"))})
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}

// PolicyField is the RateLimit-Policy field value of p: its name, quota and window in
// seconds.
func PolicyField(p Policy) string {
	return sfString(p.Name) + ";q=" + strconv.Itoa(p.Quota) + ";w=" + strconv.Itoa(int(p.Window/time.Second))
}

// LimitField is the RateLimit field value of decision d under p: the requests that may
// follow at once, and the seconds until the quota is whole (allowed) or until the next
// request is allowed (refused, the same as Retry-After).
func LimitField(p Policy, d Decision) string {
	t := d.Reset
	if !d.Allowed {
		t = d.RetryAfter
	}
	return sfString(p.Name) + ";r=" + strconv.Itoa(d.Remaining) + ";t=" + strconv.Itoa(seconds(t))
}

// seconds rounds d up to whole seconds, as delay-seconds are read: a client waiting that long
// is never early.
func seconds(d time.Duration) int { return int((d + time.Second - 1) / time.Second) }

// sfString is s as a structured-field String (RFC 9651 §3.3.3): quotes and backslashes
// escaped, anything outside printable ASCII dropped, so the field stays well-formed whatever
// a policy is named.
func sfString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, c := range []byte(s) {
		switch {
		case c == '"' || c == '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
		case c >= 0x20 && c <= 0x7e:
			b.WriteByte(c)
		}
	}
	b.WriteByte('"')
	return b.String()
}

func plural(n int, unit string) string {
	if n == 1 {
		return "1 " + unit
	}
	return strconv.Itoa(n) + " " + unit + "s"
}
