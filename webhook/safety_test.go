package webhook

import (
	"net/netip"
	"testing"
)

// blockedCases are addresses of every IANA special-purpose range (IPv4 and
// IPv6 registries), their IPv4-mapped, IPv4-compatible and translated IPv6
// forms, and public addresses that must stay allowed.
var blockedCases = []struct {
	addr    string
	blocked bool
}{
	// IPv4 special-purpose registry.
	{"0.0.0.0", true}, {"0.1.2.3", true},
	{"10.0.0.1", true},
	{"100.64.0.1", true}, {"100.127.255.254", true},
	{"127.0.0.1", true}, {"127.255.255.254", true},
	{"169.254.169.254", true},
	{"172.16.0.1", true}, {"172.31.255.254", true},
	{"192.0.0.1", true}, {"192.0.0.9", true}, {"192.0.0.170", true},
	{"192.0.2.1", true},
	{"192.31.196.1", true},
	{"192.52.193.1", true},
	{"192.88.99.1", true},
	{"192.168.1.1", true},
	{"192.175.48.1", true},
	{"198.18.0.1", true}, {"198.19.255.254", true},
	{"198.51.100.1", true},
	{"203.0.113.1", true},
	{"224.0.0.1", true}, {"239.255.255.250", true},
	{"240.0.0.1", true}, {"255.255.255.255", true},
	// IPv6 special-purpose registry.
	{"::", true}, {"::1", true},
	{"::ffff:127.0.0.1", true}, {"::ffff:10.0.0.1", true}, {"::ffff:169.254.169.254", true},
	{"::127.0.0.1", true}, {"::10.0.0.1", true}, {"::8.8.8.8", true}, // IPv4-compatible (deprecated)
	{"::ffff:0:127.0.0.1", true}, {"::ffff:0:8.8.8.8", true}, // IPv4-translated (SIIT)
	{"64:ff9b::127.0.0.1", true}, {"64:ff9b::8.8.8.8", true},
	{"64:ff9b:1::1", true},
	{"100::1", true},
	{"100:0:0:1::1", true},
	{"2001::1", true}, {"2001:0:4136:e378:8000:63bf:3fff:fdd2", true}, // Teredo
	{"2001:1::1", true}, {"2001:1::2", true}, {"2001:1::3", true},
	{"2001:2::1", true},
	{"2001:3::1", true},
	{"2001:4:112::1", true},
	{"2001:10::1", true}, {"2001:20::1", true}, {"2001:30::1", true},
	{"2001:db8::1", true},
	{"2002:7f00:1::1", true}, {"2002:808:808::1", true}, // 6to4
	{"2620:4f:8000::1", true},
	{"3fff::1", true},
	{"5f00::1", true},
	{"fc00::1", true}, {"fd12:3456::1", true},
	{"fe80::1", true}, {"fe80::1%eth0", true},
	{"fec0::1", true},
	{"ff02::1", true}, {"ff0e::1", true},
	{"4000::1", true}, // outside global unicast
	// Public addresses stay allowed.
	{"8.8.8.8", false}, {"1.1.1.1", false}, {"93.184.216.34", false}, {"100.128.0.1", false},
	{"::ffff:8.8.8.8", false},
	{"2001:4860:4860::8888", false}, {"2606:4700:4700::1111", false}, {"2a00:1450:4001:81c::200e", false},
}

// TestBlocked checks the callback address filter on the table.
func TestBlocked(t *testing.T) {
	for _, tc := range blockedCases {
		ip, err := netip.ParseAddr(tc.addr)
		if err != nil {
			t.Fatalf("%s: %v", tc.addr, err)
		}
		if got := blocked(ip); got != tc.blocked {
			t.Errorf("blocked(%s) = %v, want %v", tc.addr, got, tc.blocked)
		}
	}
}

// FuzzBlocked checks, from the table's seeds, that every IPv6 form of an
// IPv4 address (mapped, compatible, translated, NAT64, 6to4) is blocked
// whenever the IPv4 address is, and that nothing panics.
func FuzzBlocked(f *testing.F) {
	for _, tc := range blockedCases {
		ip := netip.MustParseAddr(tc.addr)
		if ip.Is4() {
			f.Add(ip.AsSlice())
		}
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		if len(raw) != 4 {
			return
		}
		a := [4]byte(raw)
		v4 := netip.AddrFrom4(a)
		if !blocked(v4) {
			return
		}
		for _, prefix := range [][12]byte{
			{10: 0xff, 11: 0xff},                 // ::ffff:a.b.c.d
			{},                                   // ::a.b.c.d
			{8: 0xff, 9: 0xff},                   // ::ffff:0:a.b.c.d
			{0: 0x00, 1: 0x64, 2: 0xff, 3: 0x9b}, // 64:ff9b::a.b.c.d
			{0: 0x20, 1: 0x02, 2: a[0], 3: a[1], 4: a[2], 5: a[3]}, // 2002:aabb:ccdd::
		} {
			var b [16]byte
			copy(b[:12], prefix[:])
			copy(b[12:], a[:])
			if v6 := netip.AddrFrom16(b); !blocked(v6) {
				t.Errorf("%s is blocked but its IPv6 form %s is not", v4, v6)
			}
		}
	})
}
