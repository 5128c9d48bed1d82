package obs

import (
	"strings"
	"unicode/utf8"

	"github.com/atelier-dev/atelier"
)

// MaxKeyBytes is the longest object key, in bytes.
const MaxKeyBytes = 1024

// ValidateBucketName checks a bucket name by the S3 rules: 3–63 characters of
// lower-case letters, digits, dots and hyphens, starting and ending with a
// letter or digit, no "..", not an IPv4 address, and none of the reserved
// prefixes and suffixes. It returns CodeInvalidBucketName for field "bucket".
func ValidateBucketName(name string) error {
	bad := func(msg string) error {
		return atelier.CodeInvalidBucketName.Errorf("%s", msg).WithField("bucket")
	}
	if len(name) < 3 || len(name) > 63 {
		return bad("The bucket name must be 3 to 63 characters long.")
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '.' || c == '-') {
			return bad("The bucket name may hold only lower-case letters, digits, dots and hyphens.")
		}
	}
	if !isAlnum(name[0]) || !isAlnum(name[len(name)-1]) {
		return bad("The bucket name must start and end with a letter or digit.")
	}
	if strings.Contains(name, "..") {
		return bad("The bucket name must not hold two dots in a row.")
	}
	if looksLikeIPv4(name) {
		return bad("The bucket name must not be an IP address.")
	}
	for _, p := range []string{"xn--", "sthree-"} {
		if strings.HasPrefix(name, p) {
			return bad("The bucket name must not start with " + p + ".")
		}
	}
	for _, s := range []string{"-s3alias", "--ol-s3"} {
		if strings.HasSuffix(name, s) {
			return bad("The bucket name must not end with " + s + ".")
		}
	}
	return nil
}

func isAlnum(c byte) bool { return c >= 'a' && c <= 'z' || c >= '0' && c <= '9' }

// looksLikeIPv4 reports whether s has the form of a dotted-quad address,
// leading zeros and out-of-range numbers included, as S3 refuses those too.
func looksLikeIPv4(s string) bool {
	parts := strings.Split(s, ".")
	if len(parts) != 4 {
		return false
	}
	for _, p := range parts {
		if len(p) == 0 || len(p) > 3 {
			return false
		}
		for i := 0; i < len(p); i++ {
			if p[i] < '0' || p[i] > '9' {
				return false
			}
		}
	}
	return true
}

// ValidateKey checks an object key: 1–1024 bytes of valid UTF-8, no NUL and
// no ".." segment (segments are split on "/"). It returns CodeInvalidObjectKey
// for field "key".
func ValidateKey(key string) error {
	return validateKey(key, "key")
}

func validateKey(key, field string) error {
	bad := func(msg string) error {
		return atelier.CodeInvalidObjectKey.Errorf("%s", msg).WithField(field)
	}
	switch {
	case len(key) == 0:
		return bad("The object key must not be empty.")
	case len(key) > MaxKeyBytes:
		return bad("The object key must be at most 1024 bytes long.")
	case !utf8.ValidString(key):
		return bad("The object key must be valid UTF-8.")
	case strings.IndexByte(key, 0) >= 0:
		return bad("The object key must not hold a NUL character.")
	}
	for seg := range strings.SplitSeq(key, "/") {
		if seg == ".." {
			return bad("The object key must not hold a '..' path segment.")
		}
	}
	return nil
}
