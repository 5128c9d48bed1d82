package atelier

import (
	"strings"
	"unicode/utf8"
)

// MaxObjectKeyBytes is the longest object key, in bytes.
const MaxObjectKeyBytes = 1024

// The schemes of an object path, matched without regard to case. A path may
// also start with a single "/" (/bucket/key).
var objectSchemes = [...]string{"obs://", "s3://"}

// ObjectPath is a parsed object path: a bucket and a key. A key that is
// empty (the bucket's root) or ends in "/" names a directory, that is a key
// prefix. An ObjectPath is a plain value, safe for concurrent use.
type ObjectPath struct {
	Bucket string
	Key    string
}

// IsDir reports whether p names a directory: its key is empty or ends in "/".
func (p ObjectPath) IsDir() bool { return p.Key == "" || strings.HasSuffix(p.Key, "/") }

// String returns the canonical spelling obs://bucket/key (obs://bucket/ for
// a bucket's root). ParseObjectPath(p.String()) returns p for every p that
// ParseObjectPath returned.
func (p ObjectPath) String() string { return "obs://" + p.Bucket + "/" + p.Key }

// HasObjectScheme reports whether s starts with obs:// or s3://, in any
// case. The /bucket/key spelling is not a scheme: clients that also take
// local paths tell the two apart with it.
func HasObjectScheme(s string) bool {
	_, ok := cutObjectScheme(s)
	return ok
}

func cutObjectScheme(s string) (string, bool) {
	for _, scheme := range objectSchemes {
		if len(s) >= len(scheme) && strings.EqualFold(s[:len(scheme)], scheme) {
			return s[len(scheme):], true
		}
	}
	return s, false
}

// ParseObjectPath parses an object path (CONTRACT §2): obs://bucket/key,
// s3://bucket/key (schemes in any case) or /bucket/key, all naming the same
// object. obs://bucket and obs://bucket/ name the bucket's root directory.
// The bucket follows the object store's rules (ValidateBucketName). The key
// follows the object store's rules (ValidateObjectKey) and, since jobs and
// datasets copy objects to local disk under their keys, also holds no
// control character, no "." segment and no empty segment: "a//b" and a
// key starting with "/" are refused; a final "/" (a directory) is not an
// empty segment. Nothing is percent-decoded or trimmed.
//
// On failure it returns an *Error with CodeInvalidParam whose message says
// what is wrong, without the path; callers name their field with WithField
// and in their own message.
func ParseObjectPath(s string) (ObjectPath, error) {
	rest, ok := cutObjectScheme(s)
	if !ok {
		if !strings.HasPrefix(s, "/") {
			if s == "" {
				return ObjectPath{}, invalidPath("The object path is empty.")
			}
			return ObjectPath{}, invalidPath("The object path must be obs://bucket/key, s3://bucket/key or /bucket/key.")
		}
		rest = s[1:]
	}
	bucket, key, _ := strings.Cut(rest, "/")
	if bucket == "" {
		return ObjectPath{}, invalidPath("The object path names no bucket.")
	}
	if msg := bucketNameProblem(bucket); msg != "" {
		return ObjectPath{}, invalidPath(msg)
	}
	if key != "" {
		if msg := objectKeyProblem(key); msg != "" {
			return ObjectPath{}, invalidPath(msg)
		}
		if msg := stagedKeyProblem(key); msg != "" {
			return ObjectPath{}, invalidPath(msg)
		}
	}
	return ObjectPath{Bucket: bucket, Key: key}, nil
}

// ParseObjectDir is ParseObjectPath for places that need a directory: the
// path must end in "/" or name a bucket alone.
func ParseObjectDir(s string) (ObjectPath, error) {
	p, err := ParseObjectPath(s)
	if err != nil {
		return ObjectPath{}, err
	}
	if !p.IsDir() {
		return ObjectPath{}, invalidPath("The object path must end in / to name a directory.")
	}
	return p, nil
}

func invalidPath(msg string) *Error { return CodeInvalidParam.Errorf("%s", msg) }

// ValidateBucketName checks a bucket name by the S3 rules: 3–63 characters
// of lower-case letters, digits, dots and hyphens, starting and ending with
// a letter or digit, no "..", not an IPv4 address, and none of the reserved
// prefixes and suffixes. It returns CodeInvalidBucketName for field
// "bucket". The object store and ParseObjectPath both apply it.
func ValidateBucketName(name string) error {
	if msg := bucketNameProblem(name); msg != "" {
		return CodeInvalidBucketName.Errorf("%s", msg).WithField("bucket")
	}
	return nil
}

// ValidateObjectKey checks an object key as the object store takes it:
// 1–1024 bytes of valid UTF-8, no NUL and no ".." segment (segments are
// split on "/"). It returns CodeInvalidObjectKey for field "key". An object
// path's key is checked further (ParseObjectPath).
func ValidateObjectKey(key string) error {
	if msg := objectKeyProblem(key); msg != "" {
		return CodeInvalidObjectKey.Errorf("%s", msg).WithField("key")
	}
	return nil
}

// bucketNameProblem returns why name is not a valid bucket name, as a
// sentence, or "".
func bucketNameProblem(name string) string {
	if len(name) < 3 || len(name) > 63 {
		return "The bucket name must be 3 to 63 characters long."
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '.' || c == '-') {
			return "The bucket name may hold only lower-case letters, digits, dots and hyphens."
		}
	}
	if !isLowerAlnum(name[0]) || !isLowerAlnum(name[len(name)-1]) {
		return "The bucket name must start and end with a letter or digit."
	}
	if strings.Contains(name, "..") {
		return "The bucket name must not hold two dots in a row."
	}
	if looksLikeIPv4(name) {
		return "The bucket name must not be an IP address."
	}
	for _, p := range []string{"xn--", "sthree-"} {
		if strings.HasPrefix(name, p) {
			return "The bucket name must not start with " + p + "."
		}
	}
	for _, s := range []string{"-s3alias", "--ol-s3"} {
		if strings.HasSuffix(name, s) {
			return "The bucket name must not end with " + s + "."
		}
	}
	return ""
}

func isLowerAlnum(c byte) bool { return c >= 'a' && c <= 'z' || c >= '0' && c <= '9' }

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

// objectKeyProblem returns why the object store refuses key, as a
// sentence, or "".
func objectKeyProblem(key string) string {
	switch {
	case len(key) == 0:
		return "The object key must not be empty."
	case len(key) > MaxObjectKeyBytes:
		return "The object key must be at most 1024 bytes long."
	case !utf8.ValidString(key):
		return "The object key must be valid UTF-8."
	case strings.IndexByte(key, 0) >= 0:
		return "The object key must not hold a NUL character."
	}
	for seg := range strings.SplitSeq(key, "/") {
		if seg == ".." {
			return "The object key must not hold a '..' path segment."
		}
	}
	return ""
}

// stagedKeyProblem returns why a key the object store takes cannot be an
// object path's key, or "": what would be unsafe or ambiguous as a file
// name under a job's or a dataset's directory on local disk.
func stagedKeyProblem(key string) string {
	for i := 0; i < len(key); i++ {
		if c := key[i]; c < 0x20 || c == 0x7f {
			return "The object key must not hold a control character."
		}
	}
	segs := strings.Split(strings.TrimSuffix(key, "/"), "/")
	for _, seg := range segs {
		switch seg {
		case "":
			return "The object key must not hold an empty path segment (// or a leading /)."
		case ".":
			return "The object key must not hold a '.' path segment."
		}
	}
	return ""
}
