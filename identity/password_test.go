package identity_test

import (
	"strings"
	"testing"

	"github.com/atelier-dev/atelier/identity"
)

// cheap are argon2id parameters that make tests fast; never use them for real.
var cheap = identity.Argon2Params{Memory: 64, Time: 1, Threads: 1}

// phcCases are parser inputs; the fuzzer starts from them too.
var phcCases = []struct {
	name string
	in   string
	ok   bool
}{
	{"valid", "$argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHRzYWx0c2FsdA$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g", true},
	{"owasp params", "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0c2FsdA$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g", true},
	{"empty", "", false},
	{"argon2i", "$argon2i$v=19$m=64,t=1,p=1$c2FsdHNhbHRzYWx0c2FsdA$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g", false},
	{"old version", "$argon2id$v=16$m=64,t=1,p=1$c2FsdHNhbHRzYWx0c2FsdA$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g", false},
	{"params out of order", "$argon2id$v=19$t=1,m=64,p=1$c2FsdHNhbHRzYWx0c2FsdA$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g", false},
	{"missing param", "$argon2id$v=19$m=64,t=1$c2FsdHNhbHRzYWx0c2FsdA$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g", false},
	{"leading zero", "$argon2id$v=19$m=064,t=1,p=1$c2FsdHNhbHRzYWx0c2FsdA$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g", false},
	{"negative", "$argon2id$v=19$m=-64,t=1,p=1$c2FsdHNhbHRzYWx0c2FsdA$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g", false},
	{"zero time", "$argon2id$v=19$m=64,t=0,p=1$c2FsdHNhbHRzYWx0c2FsdA$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g", false},
	{"zero threads", "$argon2id$v=19$m=64,t=1,p=0$c2FsdHNhbHRzYWx0c2FsdA$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g", false},
	{"threads overflow", "$argon2id$v=19$m=64,t=1,p=256$c2FsdHNhbHRzYWx0c2FsdA$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g", false},
	{"huge memory", "$argon2id$v=19$m=4294967295,t=1,p=1$c2FsdHNhbHRzYWx0c2FsdA$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g", false},
	{"huge time", "$argon2id$v=19$m=64,t=100000,p=1$c2FsdHNhbHRzYWx0c2FsdA$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g", false},
	{"short salt", "$argon2id$v=19$m=64,t=1,p=1$c2FsdA$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g", false},
	{"short hash", "$argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHRzYWx0c2FsdA$aGFzaA", false},
	{"padded base64", "$argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHRzYWx0c2FsdA==$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g", false},
	{"bad base64", "$argon2id$v=19$m=64,t=1,p=1$c2Fsd!NhbHRzYWx0c2FsdA$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g", false},
	{"extra field", "$argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHRzYWx0c2FsdA$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g$x", false},
	{"trailing newline", "$argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHRzYWx0c2FsdA$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g\n", false},
}

func TestParsePHC(t *testing.T) {
	t.Parallel()
	for _, tc := range phcCases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, out, err := identity.ParsePHC(tc.in)
			if (err == nil) != tc.ok {
				t.Fatalf("ParsePHC(%q) error = %v, want ok = %v", tc.in, err, tc.ok)
			}
			if tc.ok && out != tc.in {
				t.Errorf("round trip = %q, want %q", out, tc.in)
			}
		})
	}
}

func TestHashPassword(t *testing.T) {
	t.Parallel()
	h1, err := identity.HashPassword("correct horse", cheap.WithDefaults())
	if err != nil {
		t.Fatal(err)
	}
	h2, err := identity.HashPassword("correct horse", cheap.WithDefaults())
	if err != nil {
		t.Fatal(err)
	}
	if h1 == h2 {
		t.Error("two hashes of one password are equal; the salt is not random")
	}
	if !strings.HasPrefix(h1, "$argon2id$v=19$m=64,t=1,p=1$") {
		t.Errorf("hash %q is not an argon2id PHC string with the given params", h1)
	}
	for _, tc := range []struct {
		pw   string
		want bool
	}{{"correct horse", true}, {"correct horsE", false}, {"", false}} {
		ok, err := identity.VerifyPassword(h1, tc.pw)
		if err != nil || ok != tc.want {
			t.Errorf("VerifyPassword(%q) = %v, %v; want %v", tc.pw, ok, err, tc.want)
		}
	}
	if _, err := identity.VerifyPassword("plaintext", "plaintext"); err == nil {
		t.Error("VerifyPassword accepted a string that is not a hash")
	}
}

func TestGeneratePassword(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	for range 50 {
		pw, err := identity.GeneratePassword(20)
		if err != nil {
			t.Fatal(err)
		}
		if len(pw) != 20 || strings.Trim(pw, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789") != "" {
			t.Fatalf("generated password %q is not 20 letters and digits", pw)
		}
		if seen[pw] {
			t.Fatalf("generated password %q twice", pw)
		}
		seen[pw] = true
	}
}

// FuzzParsePHC checks that the parser never panics and that what it accepts
// formats back to the same string.
func FuzzParsePHC(f *testing.F) {
	for _, tc := range phcCases {
		f.Add(tc.in)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, out, err := identity.ParsePHC(s)
		if err != nil {
			return
		}
		if out != s {
			t.Fatalf("ParsePHC(%q) formats back as %q", s, out)
		}
		if p.Memory == 0 || p.Time == 0 || p.Threads == 0 {
			t.Fatalf("ParsePHC(%q) accepted zero params %+v", s, p)
		}
	})
}

// FuzzHashRoundTrip checks that every hash the package makes parses and
// verifies its password, and only its password.
func FuzzHashRoundTrip(f *testing.F) {
	for _, s := range []string{"", "password", "pässwörd", "\x00\xff", strings.Repeat("x", 1000)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, pw string) {
		h, err := identity.HashPassword(pw, cheap.WithDefaults())
		if err != nil {
			t.Fatal(err)
		}
		if _, out, err := identity.ParsePHC(h); err != nil || out != h {
			t.Fatalf("own hash %q does not round-trip: %q, %v", h, out, err)
		}
		if ok, err := identity.VerifyPassword(h, pw); !ok || err != nil {
			t.Fatalf("hash does not verify its password: %v, %v", ok, err)
		}
		if ok, _ := identity.VerifyPassword(h, pw+"x"); ok {
			t.Fatal("hash verifies another password")
		}
	})
}
