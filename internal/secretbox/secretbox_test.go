package secretbox_test

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/atelier-dev/atelier/internal/secretbox"
)

var enc = base64.RawURLEncoding

// MustBox returns a Box over a fixed key, so fuzz seeds stay valid.
func MustBox(tb testing.TB, fill byte) *secretbox.Box {
	tb.Helper()
	b, err := secretbox.New(bytes.Repeat([]byte{fill}, secretbox.KeySize))
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

func MustSeal(tb testing.TB, b *secretbox.Box, pt, ctx string) string {
	tb.Helper()
	s, err := b.Seal([]byte(pt), []byte(ctx))
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

func TestRoundTrip(t *testing.T) {
	t.Parallel()
	b := MustBox(t, 1)
	for _, pt := range []string{"", "JBSWY3DPEHPK3PXP", strings.Repeat("k", secretbox.MaxPlaintext)} {
		s := MustSeal(t, b, pt, "totp:user-1")
		if !strings.HasPrefix(s, "v1:") {
			t.Fatalf("sealed = %.20q, want v1: prefix", s)
		}
		if raw, err := enc.DecodeString(s[3:]); err != nil || len(raw) != 12+len(pt)+16 {
			t.Fatalf("sealed body is %d bytes, %v; want nonce+%d+tag", len(raw), err, len(pt))
		}
		got, err := b.Open(s, []byte("totp:user-1"))
		if err != nil || string(got) != pt {
			t.Fatalf("Open = %.20q, %v; want %.20q", got, err, pt)
		}
	}
	// Random nonces: the same input never seals to the same string.
	if MustSeal(t, b, "x", "c") == MustSeal(t, b, "x", "c") {
		t.Error("two seals of the same plaintext are equal")
	}
}

func TestRejects(t *testing.T) {
	t.Parallel()
	b := MustBox(t, 1)
	s := MustSeal(t, b, "secret seed", "totp:user-1")
	raw, _ := enc.DecodeString(s[3:])
	ctx := []byte("totp:user-1")

	t.Run("tamper every byte", func(t *testing.T) {
		t.Parallel()
		// Covers the nonce (0..11), the ciphertext and the tag (last 16).
		for i := range raw {
			for _, bit := range []byte{0x01, 0x80} {
				mod := bytes.Clone(raw)
				mod[i] ^= bit
				if _, err := b.Open("v1:"+enc.EncodeToString(mod), ctx); !errors.Is(err, secretbox.ErrAuth) {
					t.Fatalf("byte %d ^ %#x: Open = %v, want ErrAuth", i, bit, err)
				}
			}
		}
	})
	for _, tc := range []struct {
		name   string
		sealed string
		box    *secretbox.Box
		ctx    string
		want   error
	}{
		{"wrong context", s, b, "totp:user-2", secretbox.ErrAuth},
		{"context prefix", s, b, "totp:user-", secretbox.ErrAuth},
		{"wrong key", s, MustBox(t, 2), "totp:user-1", secretbox.ErrAuth},
		{"truncated tag", "v1:" + enc.EncodeToString(raw[:len(raw)-1]), b, "totp:user-1", secretbox.ErrAuth},
		{"appended byte", "v1:" + enc.EncodeToString(append(bytes.Clone(raw), 0)), b, "totp:user-1", secretbox.ErrAuth},
		{"too short", "v1:" + enc.EncodeToString(raw[:27]), b, "totp:user-1", secretbox.ErrMalformed},
		{"non-zero trailing bits", "v1:" + enc.EncodeToString(raw[:38])[:50] + "B", b, "totp:user-1", secretbox.ErrMalformed},
		{"empty body", "v1:", b, "totp:user-1", secretbox.ErrMalformed},
		{"empty", "", b, "totp:user-1", secretbox.ErrVersion},
		{"v2", "v2" + s[2:], b, "totp:user-1", secretbox.ErrVersion},
		{"no prefix", s[3:], b, "totp:user-1", secretbox.ErrVersion},
		{"upper case prefix", "V1" + s[2:], b, "totp:user-1", secretbox.ErrVersion},
		{"padded", s + "=", b, "totp:user-1", secretbox.ErrMalformed},
		{"std alphabet +", "v1:+" + s[4:], b, "totp:user-1", secretbox.ErrMalformed},
		{"std alphabet /", s[:len(s)-1] + "/", b, "totp:user-1", secretbox.ErrMalformed},
		{"std padding", "v1:" + base64.StdEncoding.EncodeToString(raw[:len(raw)-1]), b, "totp:user-1", secretbox.ErrMalformed},
		{"newline", s[:10] + "\n" + s[10:], b, "totp:user-1", secretbox.ErrMalformed},
		{"space", s + " ", b, "totp:user-1", secretbox.ErrMalformed},
		{"oversize", "v1:" + strings.Repeat("A", 2*secretbox.MaxPlaintext), b, "totp:user-1", secretbox.ErrMalformed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			pt, err := tc.box.Open(tc.sealed, []byte(tc.ctx))
			if !errors.Is(err, tc.want) || pt != nil {
				t.Fatalf("Open = %q, %v; want %v", pt, err, tc.want)
			}
		})
	}
	t.Run("empty context", func(t *testing.T) {
		t.Parallel()
		if _, err := b.Seal([]byte("x"), nil); err == nil {
			t.Error("Seal with empty context succeeded")
		}
		if _, err := b.Open(s, nil); err == nil {
			t.Error("Open with empty context succeeded")
		}
	})
	t.Run("oversize plaintext", func(t *testing.T) {
		t.Parallel()
		if _, err := b.Seal(make([]byte, secretbox.MaxPlaintext+1), ctx); err == nil {
			t.Error("Seal of oversize plaintext succeeded")
		}
	})
	t.Run("bad key size", func(t *testing.T) {
		t.Parallel()
		for _, n := range []int{0, 16, 31, 33, 64} {
			if _, err := secretbox.New(make([]byte, n)); err == nil {
				t.Errorf("New(%d bytes) succeeded", n)
			}
		}
	})
}

func TestConcurrentUse(t *testing.T) {
	t.Parallel()
	b := MustBox(t, 3)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			ctx := []byte{'g', byte(g)}
			for range 200 {
				s, err := b.Seal(ctx, ctx)
				if err != nil {
					t.Error(err)
					return
				}
				if pt, err := b.Open(s, ctx); err != nil || !bytes.Equal(pt, ctx) {
					t.Errorf("Open = %q, %v", pt, err)
					return
				}
			}
		})
	}
	wg.Wait()
}

// sameKey reports whether a and b hold the same key, by sealing with one
// and opening with the other.
func sameKey(t *testing.T, a, b *secretbox.Box) bool {
	t.Helper()
	_, err := b.Open(MustSeal(t, a, "probe", "probe"), []byte("probe"))
	return err == nil
}

func TestLoadOrCreateKey(t *testing.T) {
	t.Parallel()
	t.Run("create then load", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		path := filepath.Join(dir, "master.key")
		a, err := secretbox.LoadOrCreateKey(path)
		if err != nil {
			t.Fatal(err)
		}
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Size() != secretbox.KeySize || fi.Mode().Perm() != 0o600 {
			t.Errorf("key file: %d bytes, mode %v; want 32 bytes, 0600", fi.Size(), fi.Mode())
		}
		entries, _ := os.ReadDir(dir)
		if len(entries) != 1 {
			t.Errorf("directory holds %d entries, want only the key (no temp files left)", len(entries))
		}
		b, err := secretbox.LoadOrCreateKey(path)
		if err != nil {
			t.Fatal(err)
		}
		if !sameKey(t, a, b) {
			t.Error("reloaded key differs from the created one")
		}
		raw, _ := os.ReadFile(path)
		c, _ := secretbox.New(raw)
		if !sameKey(t, a, c) {
			t.Error("file does not hold the raw key")
		}
	})
	t.Run("existing raw key", func(t *testing.T) {
		t.Parallel()
		path := filepath.Join(t.TempDir(), "k")
		if err := os.WriteFile(path, bytes.Repeat([]byte{7}, 32), 0o400); err != nil {
			t.Fatal(err)
		}
		b, err := secretbox.LoadOrCreateKey(path)
		if err != nil {
			t.Fatal(err)
		}
		if !sameKey(t, b, MustBox(t, 7)) {
			t.Error("loaded key differs from file contents")
		}
	})
	for _, tc := range []struct {
		name string
		data []byte
		mode os.FileMode
		want string
	}{
		{"too short", make([]byte, 31), 0o600, "31 bytes"},
		{"too long", make([]byte, 33), 0o600, "33 bytes"},
		{"hex", []byte(strings.Repeat("ab", 32)), 0o600, "64 bytes"},
		{"empty", nil, 0o600, "0 bytes"},
		{"group readable", make([]byte, 32), 0o640, "group or others"},
		{"world readable", make([]byte, 32), 0o604, "group or others"},
		{"group writable", make([]byte, 32), 0o620, "group or others"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "bad.key")
			if err := os.WriteFile(path, tc.data, 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(path, tc.mode); err != nil {
				t.Fatal(err)
			}
			_, err := secretbox.LoadOrCreateKey(path)
			if err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("LoadOrCreateKey = %v; want an error naming the path and %q", err, tc.want)
			}
			if data, _ := os.ReadFile(path); !bytes.Equal(data, tc.data) {
				t.Error("the bad key file was modified")
			}
		})
	}
	t.Run("directory", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		if err := os.Chmod(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		if _, err := secretbox.LoadOrCreateKey(dir); err == nil || !strings.Contains(err.Error(), "regular file") {
			t.Fatalf("LoadOrCreateKey(dir) = %v", err)
		}
	})
	t.Run("missing directory", func(t *testing.T) {
		t.Parallel()
		path := filepath.Join(t.TempDir(), "nope", "k")
		if _, err := secretbox.LoadOrCreateKey(path); err == nil || !strings.Contains(err.Error(), path) {
			t.Fatalf("LoadOrCreateKey = %v", err)
		}
	})
}

func TestLoadOrCreateKeyRace(t *testing.T) {
	t.Parallel()
	for range 20 {
		path := filepath.Join(t.TempDir(), "master.key")
		const n = 4
		boxes := make([]*secretbox.Box, n)
		errs := make([]error, n)
		start := make(chan struct{})
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				<-start
				boxes[i], errs[i] = secretbox.LoadOrCreateKey(path)
			})
		}
		close(start)
		wg.Wait()
		for i := range n {
			if errs[i] != nil {
				t.Fatalf("caller %d: %v", i, errs[i])
			}
			if !sameKey(t, boxes[0], boxes[i]) {
				t.Fatalf("caller %d ended with a different key", i)
			}
		}
		disk, err := secretbox.LoadOrCreateKey(path)
		if err != nil || !sameKey(t, boxes[0], disk) {
			t.Fatalf("key on disk differs from the callers' key (%v)", err)
		}
		entries, _ := os.ReadDir(filepath.Dir(path))
		if len(entries) != 1 {
			t.Fatalf("directory holds %d entries, want 1", len(entries))
		}
	}
}

// FuzzOpen checks that Open never panics, never returns plaintext with an
// error, and opens only the values this process sealed (the key is random,
// so nothing from an earlier run's corpus can open).
func FuzzOpen(f *testing.F) {
	key := make([]byte, secretbox.KeySize)
	rand.Read(key)
	b, err := secretbox.New(key)
	if err != nil {
		f.Fatal(err)
	}
	sealed := map[string]string{} // sealed value → its context
	for _, pt := range []string{"secret seed", "", strings.Repeat("z", 100)} {
		s := MustSeal(f, b, pt, "totp:user-1")
		sealed[s] = "totp:user-1"
		f.Add(s, "totp:user-1")
		f.Add(s, "totp:user-2")
	}
	for _, s := range []string{"", "v1:", "v2:AAAA", "v1:AAAA=", "v1:+/", "v1:" + strings.Repeat("A", 40)} {
		f.Add(s, "totp:user-1")
	}
	f.Fuzz(func(t *testing.T, s, ctx string) {
		pt, err := b.Open(s, []byte(ctx))
		if err != nil {
			if pt != nil {
				t.Fatal("plaintext returned with an error")
			}
			if !errors.Is(err, secretbox.ErrAuth) && !errors.Is(err, secretbox.ErrMalformed) && !errors.Is(err, secretbox.ErrVersion) && ctx != "" {
				t.Fatalf("unclassified error %v", err)
			}
			return
		}
		if c, ok := sealed[s]; !ok || c != ctx {
			t.Fatalf("opened %q under context %q, which was never sealed so", s, ctx)
		}
	})
}

func BenchmarkSealOpen(b *testing.B) {
	box := MustBox(b, 1)
	pt := make([]byte, 1200) // about an RSA-2048 PKCS#8 key
	ctx := []byte("jwk:k1")
	for b.Loop() {
		s, err := box.Seal(pt, ctx)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := box.Open(s, ctx); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "roundtrips/s")
}

func TestDeriveKey(t *testing.T) {
	t.Parallel()
	b1, b2 := MustBox(t, 1), MustBox(t, 2)
	k := b1.DeriveKey("atelier/test/v1")
	switch {
	case len(k) != secretbox.KeySize:
		t.Fatalf("derived %d bytes, want %d", len(k), secretbox.KeySize)
	case !bytes.Equal(k, MustBox(t, 1).DeriveKey("atelier/test/v1")):
		t.Error("the same label under the same key derives different keys")
	case bytes.Equal(k, b1.DeriveKey("atelier/test/v2")):
		t.Error("two labels derive the same key")
	case bytes.Equal(k, b2.DeriveKey("atelier/test/v1")):
		t.Error("two master keys derive the same key")
	case bytes.Equal(k, bytes.Repeat([]byte{1}, secretbox.KeySize)):
		t.Error("the derived key is the master key")
	}
}
