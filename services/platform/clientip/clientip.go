// Package clientip finds the address of the client behind an HTTP request, for limits that
// count clients (failed logins, registrations). Behind a reverse proxy every request comes
// from the proxy, so the proxies a service trusts are configured (TRUSTED_PROXIES): only a
// request whose peer is one of them has its X-Forwarded-For read, and the list is read from
// the right — each proxy appends the address it saw — skipping the trusted proxies. The first
// address that is not a trusted proxy is the client; what lies left of it was written by the
// client itself and may be forged, so it is never believed.
package clientip

import (
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// Proxies are the trusted proxies. As a configuration field it is read from a
// comma-separated list of CIDR prefixes (TRUSTED_PROXIES=127.0.0.0/8,::1/128); an empty
// list trusts nobody, so X-Forwarded-For is never read.
type Proxies []netip.Prefix

// Parse reads a comma-separated list of CIDR prefixes; empty entries are skipped.
func Parse(list string) (Proxies, error) {
	var out Proxies
	for _, s := range strings.Split(list, ",") {
		if s = strings.TrimSpace(s); s == "" {
			continue
		}
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return nil, fmt.Errorf("%q is not a CIDR prefix (such as 10.0.0.0/8 or ::1/128)", s)
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

// UnmarshalText lets the configuration loader read the list.
func (p *Proxies) UnmarshalText(b []byte) error {
	v, err := Parse(string(b))
	if err != nil {
		return err
	}
	*p = v
	return nil
}

// String is the list as it is configured.
func (p Proxies) String() string {
	s := make([]string, len(p))
	for i, prefix := range p {
		s[i] = prefix.String()
	}
	return strings.Join(s, ",")
}

// Trusts reports whether addr is a trusted proxy.
func (p Proxies) Trusts(addr netip.Addr) bool {
	addr = addr.Unmap()
	for _, prefix := range p {
		if prefix.Contains(addr) {
			return true
		}
	}
	return false
}

// Client returns the client's address of r: its peer, or — when the peer is a trusted
// proxy — the rightmost X-Forwarded-For address that is not a trusted proxy. When every
// address in the header is a trusted proxy, the leftmost is the client; an entry that is not
// an address ends the walk at the hop that forwarded it.
func (p Proxies) Client(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	peer, err := netip.ParseAddr(host)
	if err != nil {
		return host
	}
	client := peer.Unmap()
	if !p.Trusts(client) {
		return client.String()
	}
	var hops []string
	for _, v := range r.Header.Values("X-Forwarded-For") {
		hops = append(hops, strings.Split(v, ",")...)
	}
	for i := len(hops) - 1; i >= 0; i-- {
		a, ok := parseHop(hops[i])
		if !ok {
			break
		}
		client = a
		if !p.Trusts(a) {
			break
		}
	}
	return client.String()
}

// parseHop reads one X-Forwarded-For entry: an address, possibly with a port.
func parseHop(s string) (netip.Addr, bool) {
	s = strings.TrimSpace(s)
	if a, err := netip.ParseAddr(s); err == nil {
		return a.Unmap(), true
	}
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr().Unmap(), true
	}
	return netip.Addr{}, false
}
