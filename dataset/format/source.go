package format

import (
	"errors"
	"strings"

	"github.com/atelier-dev/atelier"
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
const MaxKeyBytes = atelier.MaxObjectKeyBytes

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
// or /bucket/key (schemes in any case), into its bucket and key by
// atelier.ParseObjectPath, the grammar of every object path: the bucket
// rules of the object store, and a key of 1–1024 bytes of valid UTF-8 with
// no control characters and no empty, "." or ".." segment. The location
// must name an object: a key that is empty or ends in "/" is refused.
func ParseSource(s string) (bucket, key string, err error) {
	if _, ok := ContentText(s); ok {
		return "", "", errors.New("a content:// source holds text, not an object location")
	}
	p, err := atelier.ParseObjectPath(s)
	if err != nil {
		return "", "", errors.New(atelier.ErrorMessage(err))
	}
	if p.IsDir() {
		return "", "", errors.New("the location names a directory, not an object")
	}
	return p.Bucket, p.Key, nil
}
