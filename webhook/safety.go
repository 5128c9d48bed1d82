package webhook

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"syscall"
	"time"

	"github.com/atelier-dev/atelier"
)

// maxURLLen bounds a callback URL.
const maxURLLen = 2048

// errBlockedAddress is the dial error for a target the server refuses.
var errBlockedAddress = errors.New("callback target is a private, loopback or link-local address")

// badURL is the answer for a callback URL that is refused.
func badURL(raw, why string) error {
	return atelier.CodeCallbackURL.Errorf("The callback URL %q %s.", raw, why).WithField("url")
}

// checkURLSyntax checks that raw is an absolute http(s) URL without user
// information or fragment, and returns it parsed.
func checkURLSyntax(raw string) (*url.URL, error) {
	if raw == "" {
		return nil, atelier.CodeCallbackURL.Errorf("The callback URL is required.").WithField("url")
	}
	if len(raw) > maxURLLen {
		return nil, atelier.CodeCallbackURL.Errorf("The callback URL must be at most %d bytes.", maxURLLen).WithField("url")
	}
	u, err := url.Parse(raw)
	switch {
	case err != nil || !u.IsAbs() || u.Host == "" || u.Opaque != "":
		return nil, badURL(raw, "is not an absolute URL")
	case u.Scheme != "http" && u.Scheme != "https":
		return nil, badURL(raw, "must use http or https")
	case u.User != nil:
		return nil, badURL(raw, "must not carry user information")
	case u.Fragment != "" || strings.Contains(raw, "#"):
		return nil, badURL(raw, "must not have a fragment")
	case u.Hostname() == "":
		return nil, badURL(raw, "has no host")
	}
	return u, nil
}

// blocked reports whether ip is an address callbacks may not target
// without ATELIER_CALLBACK_ALLOW_PRIVATE: an address of any of IANA's
// special-purpose registries (loopback, private, shared, link-local,
// documentation, benchmarking, protocol assignments, AS112, reserved,
// multicast, broadcast). IPv6 must be global unicast (2000::/3) outside
// the special ranges there, so that every other form is refused whatever
// it embeds: IPv4-compatible (::127.0.0.1), IPv4-translated, NAT64,
// discard-only, ULA, link-local, site-local, multicast. IPv4-mapped
// addresses (::ffff:10.0.0.1) are judged as the IPv4 address they carry;
// 6to4 and Teredo, which reach any IPv4 address, are refused whole.
func blocked(ip netip.Addr) bool {
	ip = ip.WithZone("").Unmap()
	switch {
	case !ip.IsValid():
		return true
	case ip.Is4():
		return inAny(ip, blocked4)
	case !global6.Contains(ip):
		return true
	}
	return inAny(ip, blocked6)
}

// inAny reports whether one of prefixes contains ip.
func inAny(ip netip.Addr, prefixes []netip.Prefix) bool {
	for _, p := range prefixes {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// blocked4 is IANA's IPv4 special-purpose address registry, with multicast
// and the limited broadcast address (in 240.0.0.0/4).
var blocked4 = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),       // "this network"
	netip.MustParsePrefix("10.0.0.0/8"),      // private
	netip.MustParsePrefix("100.64.0.0/10"),   // shared address space (carrier-grade NAT)
	netip.MustParsePrefix("127.0.0.0/8"),     // loopback
	netip.MustParsePrefix("169.254.0.0/16"),  // link-local, cloud metadata
	netip.MustParsePrefix("172.16.0.0/12"),   // private
	netip.MustParsePrefix("192.0.0.0/24"),    // IETF protocol assignments
	netip.MustParsePrefix("192.0.2.0/24"),    // documentation (TEST-NET-1)
	netip.MustParsePrefix("192.31.196.0/24"), // AS112-v4
	netip.MustParsePrefix("192.52.193.0/24"), // AMT
	netip.MustParsePrefix("192.88.99.0/24"),  // deprecated 6to4 relay anycast
	netip.MustParsePrefix("192.168.0.0/16"),  // private
	netip.MustParsePrefix("192.175.48.0/24"), // direct delegation AS112 service
	netip.MustParsePrefix("198.18.0.0/15"),   // benchmarking
	netip.MustParsePrefix("198.51.100.0/24"), // documentation (TEST-NET-2)
	netip.MustParsePrefix("203.0.113.0/24"),  // documentation (TEST-NET-3)
	netip.MustParsePrefix("224.0.0.0/4"),     // multicast
	netip.MustParsePrefix("240.0.0.0/4"),     // reserved, and 255.255.255.255
}

// global6 is IPv6 global unicast; everything outside it is refused.
var global6 = netip.MustParsePrefix("2000::/3")

// blocked6 are the entries of IANA's IPv6 special-purpose address registry
// inside global6.
var blocked6 = []netip.Prefix{
	netip.MustParsePrefix("2001::/23"),         // IETF protocol assignments: Teredo, benchmarking, ORCHID, AMT, AS112, …
	netip.MustParsePrefix("2001:db8::/32"),     // documentation
	netip.MustParsePrefix("2002::/16"),         // 6to4: may reach any IPv4
	netip.MustParsePrefix("2620:4f:8000::/48"), // direct delegation AS112 service
	netip.MustParsePrefix("3fff::/20"),         // documentation
}

// allowPrivateHint tells an owner whose receiver is on this machine or its
// network how the operator lets such targets through.
const allowPrivateHint = "; this server refuses such targets unless it was started with ATELIER_CALLBACK_ALLOW_PRIVATE=1 (a restart is needed; docs/operations.md)"

// resolver is what checkTarget resolves host names with.
type resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// checkTarget refuses a URL whose host is, or resolves to, a blocked
// address. Every address counts: a name with one private address among
// public ones is refused. The dialer checks again at connection time, so a
// name that changes its answers later cannot slip through.
func checkTarget(ctx context.Context, r resolver, u *url.URL) error {
	host := u.Hostname()
	if ip, err := netip.ParseAddr(host); err == nil {
		if blocked(ip) {
			return badURL(u.String(), "targets a private, loopback or link-local address"+allowPrivateHint)
		}
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	ips, err := r.LookupNetIP(ctx, "ip", host)
	if err != nil || len(ips) == 0 {
		return badURL(u.String(), "has a host name that does not resolve")
	}
	for _, ip := range ips {
		if blocked(ip) {
			return badURL(u.String(), "resolves to a private, loopback or link-local address"+allowPrivateHint)
		}
	}
	return nil
}

// dialControl refuses, at connection time after resolution, any address
// checkTarget would refuse.
func dialControl(network, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("%w: %s", errBlockedAddress, address)
	}
	if blocked(ap.Addr()) {
		return fmt.Errorf("%w: %s", errBlockedAddress, ap.Addr())
	}
	return nil
}

// newClient returns the HTTP client deliveries are sent with: no proxy
// from the environment (it would hide the target), redirects not followed
// (a 3xx is a failed attempt), and, unless allowPrivate, a dialer that
// refuses blocked addresses after DNS resolution.
func newClient(allowPrivate bool, maxConnsPerHost int) *http.Client {
	d := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}
	if !allowPrivate {
		d.Control = dialControl
	}
	t := &http.Transport{
		Proxy:                 nil,
		DialContext:           d.DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          256,
		MaxIdleConnsPerHost:   maxConnsPerHost,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: 0, // the request's context bounds it
	}
	return &http.Client{
		Transport: t,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}
