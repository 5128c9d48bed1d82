package sqlstore

import (
	"cmp"
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

// versionKeyTests are versions in the order ListModels sorts them, with
// equal keys for versions that differ only in leading zeros.
var versionKeyTests = []struct {
	version, key string
}{
	{"", ""},
	{"0", "0"},
	{"0.0.9", "0.0.19"},
	{"0.0.10", "0.0.210"},
	{"0.0.100", "0.0.3100"},
	{"0.1", "0.11"},
	{"01.0", "11.0"},
	{"1.0", "11.0"},
	{"1.0.0", "11.0.0"},
	{"1.0.0-rc1", "11.0.0-rc11"},
	{"1.0.0-rc2", "11.0.0-rc12"},
	{"1.0.0-rc10", "11.0.0-rc210"},
	{"1a", "11a"},
	{"2.0", "12.0"},
	{"12345678", "812345678"},
	{"123456789", "90123456789"},
	{"1234567890", "911234567890"},
	{"V1", "V11"},
	{"V10", "V210"},
	{"v2", "v12"},
}

func TestVersionKey(t *testing.T) {
	for i, tt := range versionKeyTests {
		if got := VersionKey(tt.version); got != tt.key {
			t.Errorf("VersionKey(%q) = %q, want %q", tt.version, got, tt.key)
		}
		if i > 0 && VersionKey(versionKeyTests[i-1].version) > VersionKey(tt.version) {
			t.Errorf("VersionKey(%q) sorts after VersionKey(%q)", versionKeyTests[i-1].version, tt.version)
		}
	}
}

// naturalCompare is VersionKey's order written directly: runs of digits
// compare as numbers, other bytes as bytes, a prefix first.
func naturalCompare(a, b string) int {
	digit := func(c byte) bool { return '0' <= c && c <= '9' }
	run := func(s string, i int) (string, int) {
		j := i
		for j < len(s) && digit(s[j]) {
			j++
		}
		return strings.TrimLeft(s[i:j], "0"), j
	}
	i, j := 0, 0
	for i < len(a) && j < len(b) {
		if digit(a[i]) && digit(b[j]) {
			ra, ni := run(a, i)
			rb, nj := run(b, j)
			if c := cmp.Or(cmp.Compare(len(ra), len(rb)), strings.Compare(ra, rb)); c != 0 {
				return c
			}
			i, j = ni, nj
			continue
		}
		if c := cmp.Compare(a[i], b[j]); c != 0 {
			return c
		}
		i, j = i+1, j+1
	}
	return cmp.Compare(len(a)-i, len(b)-j)
}

// FuzzVersionKey checks that the keys of two versions compare as the
// versions do in natural order.
func FuzzVersionKey(f *testing.F) {
	for i, tt := range versionKeyTests {
		f.Add(tt.version, versionKeyTests[(i+1)%len(versionKeyTests)].version)
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		if got, want := strings.Compare(VersionKey(a), VersionKey(b)), naturalCompare(a, b); got != want {
			t.Fatalf("keys of %q and %q compare %d (%q, %q), versions %d", a, b, got, VersionKey(a), VersionKey(b), want)
		}
	})
}

func TestLikeContains(t *testing.T) {
	for in, want := range map[string]string{"": "%%", "abc": "%abc%", "a%b": `%a\%b%`, "_": `%\_%`, `\`: `%\\%`, "ü": "%ü%"} {
		if got := likeContains(in); got != want {
			t.Errorf("likeContains(%q) = %q, want %q", in, got, want)
		}
	}
}
