package sqlstore

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestRebind(t *testing.T) {
	tests := []struct{ in, want string }{
		{"SELECT 1", "SELECT 1"},
		{"a = ?", "a = $1"},
		{"a = ? AND b IN (?, ?) LIMIT ?", "a = $1 AND b IN ($2, $3) LIMIT $4"},
	}
	for _, tt := range tests {
		if got := rebind(tt.in); got != tt.want {
			t.Errorf("rebind(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

var prefixEndTests = []struct {
	prefix string
	utf8   bool
	want   string
	ok     bool
}{
	{"", false, "", false},
	{"", true, "", false},
	{"a", false, "b", true},
	{"a/", true, "a0", true},
	{"a\xff\xff", false, "b", true},
	{"\xff", false, "", false},
	{"\x7f", false, "\x80", true},
	{"\x7f", true, "\u0080", true},
	{"é", true, "ê", true},
	{"\u07ff", true, "\u0800", true},
	{"\ud7ff", true, "\ue000", true},
	{"a\U0010ffff", true, "b", true},
	{"\U0010ffff", true, "", false},
	{"a\xff", true, "b", true}, // invalid UTF-8 falls back to bytes
}

func TestPrefixEnd(t *testing.T) {
	for _, tt := range prefixEndTests {
		got, ok := prefixEnd(tt.prefix, tt.utf8)
		if got != tt.want || ok != tt.ok {
			t.Errorf("prefixEnd(%q, %v) = %q, %v; want %q, %v", tt.prefix, tt.utf8, got, ok, tt.want, tt.ok)
		}
	}
}

// FuzzPrefixEnd checks the defining property of the bound: every string
// that starts with the prefix sorts below it, and the bound itself does not
// start with the prefix. With utf8 set the bound of valid UTF-8 is valid.
func FuzzPrefixEnd(f *testing.F) {
	for _, tt := range prefixEndTests {
		f.Add(tt.prefix, "x", tt.utf8)
	}
	f.Fuzz(func(t *testing.T, prefix, rest string, utf8Only bool) {
		end, ok := prefixEnd(prefix, utf8Only)
		if !ok {
			if strings.Trim(prefix, "\xff") != "" && strings.Trim(prefix, "\U0010ffff") != "" {
				t.Fatalf("prefixEnd(%q) has no bound", prefix)
			}
			return
		}
		if s := prefix + rest; s >= end {
			t.Fatalf("%q starts with %q but is not below the bound %q", s, prefix, end)
		}
		if strings.HasPrefix(end, prefix) {
			t.Fatalf("bound %q starts with the prefix %q", end, prefix)
		}
		if end <= prefix {
			t.Fatalf("bound %q is not above the prefix %q", end, prefix)
		}
		if utf8Only && utf8.ValidString(prefix) && !utf8.ValidString(end) {
			t.Fatalf("bound %q of valid %q is not valid UTF-8", end, prefix)
		}
	})
}
