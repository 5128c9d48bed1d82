package atelier

import (
	"net/url"
	"strings"

	core "github.com/atelier-dev/atelier"
)

// ParsePath splits an object path into its bucket and key. It accepts
// obs://bucket/key, s3://bucket/key (schemes in any case) and /bucket/key; the
// key may be empty (the bucket's root) and a key ending in "/" names a
// directory. It returns CodeInvalidParam for anything else.
func ParsePath(s string) (bucket, key string, err error) {
	var rest string
	switch {
	case hasPrefixFold(s, "obs://"):
		rest = s[len("obs://"):]
	case hasPrefixFold(s, "s3://"):
		rest = s[len("s3://"):]
	case strings.HasPrefix(s, "/"):
		rest = s[1:]
	default:
		return "", "", core.CodeInvalidParam.Errorf("%q is not an object path like obs://bucket/key, s3://bucket/key or /bucket/key.", s).WithField("path")
	}
	bucket, key, _ = strings.Cut(rest, "/")
	if bucket == "" {
		return "", "", core.CodeInvalidParam.Errorf("The object path %q names no bucket.", s).WithField("path")
	}
	return bucket, key, nil
}

// IsObjectPath reports whether s starts with an object-store scheme (obs://
// or s3://). The /bucket/key form is not recognised here because it reads
// like a local path; callers that accept both decide by context.
func IsObjectPath(s string) bool {
	return hasPrefixFold(s, "obs://") || hasPrefixFold(s, "s3://")
}

// IsDir reports whether key names a directory: it is empty (a bucket's root)
// or ends in "/".
func IsDir(key string) bool { return key == "" || strings.HasSuffix(key, "/") }

// BaseName returns the last non-empty segment of key, or "" when there is
// none.
func BaseName(key string) string {
	segs := strings.Split(key, "/")
	for i := len(segs) - 1; i >= 0; i-- {
		if segs[i] != "" {
			return segs[i]
		}
	}
	return ""
}

func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}

// escapeKey percent-encodes key for a URL path, segment by segment, keeping
// the "/" separators (so "//" survives).
func escapeKey(key string) string {
	segs := strings.Split(key, "/")
	for i, s := range segs {
		segs[i] = url.PathEscape(s)
	}
	return strings.Join(segs, "/")
}

// objectPath returns the API path of a bucket (key "") or an object.
func objectPath(bucket, key string) string {
	p := "/v1/obs/" + url.PathEscape(bucket)
	if key != "" {
		p += "/" + escapeKey(key)
	}
	return p
}
