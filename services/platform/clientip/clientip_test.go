package clientip_test

import (
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/caasdemo/orderdemo/services/platform/clientip"
	"github.com/caasdemo/orderdemo/services/platform/config"
	"github.com/caasdemo/orderdemo/services/platform/testenv"
)

func TestClientBelievesForwardedForOnlyFromTrustedProxies(t *testing.T) {
	t.Parallel()
	proxies, err := clientip.Parse("127.0.0.0/8, ::1/128,10.0.0.0/8")
	require.NoError(t, err)
	for _, tc := range []struct {
		name, peer string
		xff        []string
		want       string
	}{
		{"no proxy: the peer", "203.0.113.7:5000", nil, "203.0.113.7"},
		{"an untrusted peer's header is ignored", "203.0.113.7:5000", []string{"198.51.100.1"}, "203.0.113.7"},
		{"a trusted peer names the client", "127.0.0.1:5000", []string{"198.51.100.1"}, "198.51.100.1"},
		{"the rightmost untrusted address, not a forged one left of it", "10.0.0.2:80", []string{"6.6.6.6, 198.51.100.1, 10.0.0.3"}, "198.51.100.1"},
		{"several header lines read as one list", "10.0.0.2:80", []string{"6.6.6.6", "198.51.100.1", "10.0.0.3"}, "198.51.100.1"},
		{"every hop trusted: the leftmost", "127.0.0.1:80", []string{"10.0.0.9, 127.0.0.1"}, "10.0.0.9"},
		{"a trusted peer without the header", "[::1]:80", nil, "::1"},
		{"IPv4 mapped in IPv6", "[::ffff:127.0.0.1]:80", []string{"198.51.100.1"}, "198.51.100.1"},
		{"an address with a port", "127.0.0.1:80", []string{"198.51.100.1:4711"}, "198.51.100.1"},
		{"garbage ends the walk at the hop that forwarded it", "127.0.0.1:80", []string{"198.51.100.1, nonsense, 10.0.0.3"}, "10.0.0.3"},
		{"garbage next to the peer: the peer", "127.0.0.1:80", []string{"nonsense"}, "127.0.0.1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := httptest.NewRequest("GET", "/", nil)
			r.RemoteAddr = tc.peer
			for _, v := range tc.xff {
				r.Header.Add("X-Forwarded-For", v)
			}
			assert.Equal(t, tc.want, proxies.Client(r))
		})
	}
}

func TestNoTrustedProxyMeansThePeer(t *testing.T) {
	t.Parallel()
	r := httptest.NewRequest("GET", "/", nil)
	r.RemoteAddr = "127.0.0.1:80"
	r.Header.Set("X-Forwarded-For", "198.51.100.1")
	assert.Equal(t, "127.0.0.1", clientip.Proxies(nil).Client(r))
}

func TestProxiesAreAConfigurationField(t *testing.T) {
	t.Parallel()
	var cfg struct {
		Proxies clientip.Proxies `env:"TRUSTED_PROXIES" default:"127.0.0.0/8,::1/128"`
	}
	require.NoError(t, config.Load(testenv.Lookup(nil), &cfg))
	assert.Equal(t, "127.0.0.0/8,::1/128", cfg.Proxies.String())
	err := config.Load(testenv.Lookup(map[string]string{"TRUSTED_PROXIES": "10.0.0.0/33"}), &cfg)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "TRUSTED_PROXIES")
}
