package format

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// Source schemes. A manifest's "source" (and an annotation's
// "annotation-loc") names an object as s3://bucket/key, obs://bucket/key or
// /bucket/key; a text sample carries its text inline after content://.
const (
	SchemeS3      = "s3://"
	SchemeOBS     = "obs://"
	SchemeContent = "content://"
)

// MaxKeyBytes is the longest object key a source may name, in bytes.
const MaxKeyBytes = 1024

// ObjectURI is the form sources take in an atelier.Sample (and annotation
// locations in an atelier.Annotation): "obs://bucket/key".
func ObjectURI(bucket, key string) string { return SchemeOBS + bucket + "/" + key }

// ManifestURI is the form a ManifestWriter writes: "s3://bucket/key".
func ManifestURI(bucket, key string) string { return SchemeS3 + bucket + "/" + key }

// ContentText returns the text of a content:// source and true, or "" and
// false for any other source.
func ContentText(source string) (string, bool) {
	if len(source) >= len(SchemeContent) && strings.EqualFold(source[:len(SchemeContent)], SchemeContent) {
		return source[len(SchemeContent):], true
	}
	return "", false
}

// ParseSource splits an object location, s3://bucket/key, obs://bucket/key
// or /bucket/key (schemes in any case), into its bucket and key. The bucket
// must be 3–63 characters of lower-case letters, digits, dots and hyphens,
// starting and ending with a letter or digit; the key must be 1–1024 bytes
// of valid UTF-8 with no control characters, no empty, "." or ".." segment
// and no trailing "/" (it names an object, not a directory).
func ParseSource(s string) (bucket, key string, err error) {
	bucket, key, err = splitLocation(s)
	if err != nil {
		return "", "", err
	}
	if key == "" || strings.HasSuffix(key, "/") {
		return "", "", errors.New("the location names a directory, not an object")
	}
	if err := checkKey(key); err != nil {
		return "", "", err
	}
	return bucket, key, nil
}

// ParseDir splits a directory location (the same forms as ParseSource, with
// or without a trailing "/") into its bucket and key prefix. The prefix is
// "" for the bucket's root and otherwise ends with "/".
func ParseDir(s string) (bucket, prefix string, err error) {
	bucket, prefix, err = splitLocation(s)
	if err != nil {
		return "", "", err
	}
	if strings.HasPrefix(prefix, "/") {
		return "", "", errors.New("the object key holds an empty path segment")
	}
	prefix = strings.TrimSuffix(prefix, "/")
	if prefix == "" {
		return bucket, "", nil
	}
	if err := checkKey(prefix); err != nil {
		return "", "", err
	}
	return bucket, prefix + "/", nil
}

func splitLocation(s string) (bucket, rest string, err error) {
	switch {
	case hasPrefixFold(s, SchemeS3):
		s = s[len(SchemeS3):]
	case hasPrefixFold(s, SchemeOBS):
		s = s[len(SchemeOBS):]
	case strings.HasPrefix(s, "/"):
		s = s[1:]
	case hasPrefixFold(s, SchemeContent):
		return "", "", errors.New("a content:// source holds text, not an object location")
	default:
		return "", "", errors.New("the location must start with s3://, obs:// or /")
	}
	bucket, rest, _ = strings.Cut(s, "/")
	if err := checkBucket(bucket); err != nil {
		return "", "", err
	}
	return bucket, rest, nil
}

func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}

func checkBucket(b string) error {
	if len(b) < 3 || len(b) > 63 {
		return fmt.Errorf("the bucket name %q must be 3 to 63 characters long", b)
	}
	for i := 0; i < len(b); i++ {
		c := b[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '.' || c == '-') {
			return fmt.Errorf("the bucket name %q may hold only lower-case letters, digits, dots and hyphens", b)
		}
	}
	if !isAlnum(b[0]) || !isAlnum(b[len(b)-1]) {
		return fmt.Errorf("the bucket name %q must start and end with a letter or digit", b)
	}
	return nil
}

func isAlnum(c byte) bool { return c >= 'a' && c <= 'z' || c >= '0' && c <= '9' }

func checkKey(k string) error {
	switch {
	case len(k) > MaxKeyBytes:
		return fmt.Errorf("the object key is longer than %d bytes", MaxKeyBytes)
	case !utf8.ValidString(k):
		return errors.New("the object key is not valid UTF-8")
	}
	for _, r := range k {
		if r < 0x20 || r == 0x7f {
			return errors.New("the object key holds a control character")
		}
	}
	for seg := range strings.SplitSeq(k, "/") {
		switch seg {
		case "":
			return errors.New("the object key holds an empty path segment")
		case ".", "..":
			return fmt.Errorf("the object key holds a %q path segment", seg)
		}
	}
	return nil
}
