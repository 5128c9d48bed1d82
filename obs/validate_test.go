package obs_test

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/atelier-dev/atelier"
	"github.com/atelier-dev/atelier/obs"
)

var bucketNameTests = []struct {
	name string
	ok   bool
}{
	{"abc", true},
	{"my-bucket.v2", true},
	{"0ab", true},
	{strings.Repeat("a", 63), true},
	{"1.2.3.4x", true},
	{"ab", false},
	{strings.Repeat("a", 64), false},
	{"", false},
	{"Abc", false},
	{"a_b", false},
	{"-ab", false},
	{"ab-", false},
	{".ab", false},
	{"ab.", false},
	{"a..b", false},
	{"192.168.5.4", false},
	{"1.2.3.400", false},
	{"xn--abc", false},
	{"abc-s3alias", false},
	{"abc--ol-s3", false},
	{"sthree-abc", false},
	{"ab c", false},
	{"ab\x00c", false},
	{"bücket", false},
}

func TestValidateBucketName(t *testing.T) {
	for _, tc := range bucketNameTests {
		err := obs.ValidateBucketName(tc.name)
		if tc.ok {
			if err != nil {
				t.Errorf("ValidateBucketName(%q) = %v; want ok", tc.name, err)
			}
			continue
		}
		wantCode(t, err, atelier.CodeInvalidBucketName, "bucket")
	}
}

var keyTests = []struct {
	key string
	ok  bool
}{
	{"a", true},
	{"dir/sub/file.txt", true},
	{"a//b", true},
	{"/leading", true},
	{"trailing/", true},
	{"...", true},
	{"a..b", true},
	{"./a", true},
	{"日本/語", true},
	{strings.Repeat("k", 1024), true},
	{"", false},
	{strings.Repeat("k", 1025), false},
	{"..", false},
	{"../a", false},
	{"a/..", false},
	{"a/../b", false},
	{"a\x00b", false},
	{"bad\xffutf8", false},
	{"\xc3", false},
}

func TestValidateKey(t *testing.T) {
	for _, tc := range keyTests {
		err := obs.ValidateKey(tc.key)
		if tc.ok {
			if err != nil {
				t.Errorf("ValidateKey(%q) = %v; want ok", tc.key, err)
			}
			continue
		}
		wantCode(t, err, atelier.CodeInvalidObjectKey, "key")
	}
}

func FuzzValidateKey(f *testing.F) {
	for _, tc := range keyTests {
		f.Add(tc.key)
	}
	f.Fuzz(func(t *testing.T, key string) {
		if obs.ValidateKey(key) != nil {
			return
		}
		if !utf8.ValidString(key) || strings.ContainsRune(key, 0) || len(key) == 0 || len(key) > 1024 {
			t.Fatalf("accepted key %q is not 1–1024 bytes of UTF-8 without NUL", key)
		}
		for _, seg := range strings.Split(key, "/") {
			if seg == ".." {
				t.Fatalf("accepted key %q has a '..' segment", key)
			}
		}
	})
}

func FuzzValidateBucketName(f *testing.F) {
	for _, tc := range bucketNameTests {
		f.Add(tc.name)
	}
	f.Fuzz(func(t *testing.T, name string) {
		if obs.ValidateBucketName(name) != nil {
			return
		}
		if len(name) < 3 || len(name) > 63 || strings.Contains(name, "..") || strings.HasPrefix(name, "xn--") {
			t.Fatalf("accepted bad bucket name %q", name)
		}
		for _, c := range []byte(name) {
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '.' || c == '-') {
				t.Fatalf("accepted bucket name %q with byte %q", name, c)
			}
		}
	})
}

// wantCode fails unless err is an *atelier.Error with code c about field.
func wantCode(t *testing.T, err error, c atelier.Code, field string) {
	t.Helper()
	var ae *atelier.Error
	if !errors.As(err, &ae) {
		t.Fatalf("error = %v; want %s (field %q)", err, c.ID, field)
	}
	if ae.Code != c.ID || ae.Field != field {
		t.Fatalf("error = %v (field %q); want %s (field %q)", err, ae.Field, c.ID, field)
	}
}
