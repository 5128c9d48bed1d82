package atelier

import (
	"net/url"
	"strings"

	core "github.com/atelier-dev/atelier"
)

// ParsePath splits an object path into its bucket and key by the grammar
// the server applies too (atelier.ParseObjectPath): obs://bucket/key,
// s3://bucket/key (schemes in any case) or /bucket/key, with the object
// store's bucket rules and a key free of control characters and of empty,
// "." and ".." segments. The key may be empty (the bucket's root) and a key
// ending in "/" names a directory. Anything else is CodeInvalidParam for
// field "path", with a message that quotes s and says what is wrong.
func ParsePath(s string) (bucket, key string, err error) {
	p, err := core.ParseObjectPath(s)
	if err != nil {
		return "", "", core.CodeInvalidParam.Errorf("The object path %q is not valid. %s", s, core.ErrorMessage(err)).WithField("path")
	}
	return p.Bucket, p.Key, nil
}

// IsObjectPath reports whether s starts with an object-store scheme (obs://
// or s3://, in any case). The /bucket/key form is not recognised here
// because it reads like a local path; callers that accept both decide by
// context.
func IsObjectPath(s string) bool { return core.HasObjectScheme(s) }

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

// objectPath returns the API path of a bucket (key "") or an object.
func objectPath(bucket, key string) string {
	p := "/v1/obs/" + url.PathEscape(bucket)
	if key != "" {
		p += "/" + core.EscapeObjectKey(key)
	}
	return p
}
