package atelier

import (
	"net/url"
	"strings"
	"time"
)

// Presigned object URLs (docs/api.md, "Presigned object URLs") let a
// holder without credentials do exactly one kind of thing to a tenant's
// objects until they expire: read one object, read (list, GET, HEAD)
// every object under a key prefix, or write (PUT) any key under a key
// prefix. The server mints them for the tasks of executors that share no
// filesystem with it (docs/workloads.md); they are Atelier's own, not S3
// SigV4.

// Query parameters of a presigned object URL.
const (
	// PresignExpiresParam is the expiry, in seconds since the epoch.
	PresignExpiresParam = "X-Atelier-Expires"
	// PresignScopeParam is "<access>:<tenant>" for AccessGet, and
	// "<access>:<tenant>:<key prefix>" for AccessRead and AccessWrite.
	PresignScopeParam = "X-Atelier-Scope"
	// PresignSignatureParam is the unpadded base64url HMAC-SHA256 of the
	// grant.
	PresignSignatureParam = "X-Atelier-Signature"
)

// ObjectAccess is what a presigned URL allows.
type ObjectAccess string

// Accesses of presigned URLs.
const (
	// AccessGet allows GET and HEAD of one object.
	AccessGet ObjectAccess = "get"
	// AccessRead allows listing, GET and HEAD of every object whose key
	// starts with the grant's prefix.
	AccessRead ObjectAccess = "read"
	// AccessWrite allows PUT of any key that starts with the grant's
	// prefix (not a server-side copy).
	AccessWrite ObjectAccess = "write"
)

// ObjectOp is what a request made with a presigned URL does.
type ObjectOp string

// Operations a presigned URL may allow.
const (
	OpGetObject   ObjectOp = "get"  // GET or HEAD of an object
	OpListObjects ObjectOp = "list" // a listing; its key is the listing's prefix
	OpPutObject   ObjectOp = "put"  // an upload
)

// ObjectGrant is the capability a presigned URL carries.
type ObjectGrant struct {
	Tenant string
	Access ObjectAccess
	Bucket string
	// Key is the object (AccessGet) or the key prefix (AccessRead,
	// AccessWrite; "" is the whole bucket).
	Key string
	// Expires is when the URL stops working (whole seconds).
	Expires time.Time
}

// PresignedQuery holds the three query parameters of a presigned URL, as
// sent.
type PresignedQuery struct {
	Expires, Scope, Signature string
}

// IsZero reports whether none of the parameters is set.
func (q PresignedQuery) IsZero() bool { return q == PresignedQuery{} }

// Encode returns the parameters as a query string (without "?").
func (q PresignedQuery) Encode() string {
	v := url.Values{}
	v.Set(PresignExpiresParam, q.Expires)
	v.Set(PresignScopeParam, q.Scope)
	v.Set(PresignSignatureParam, q.Signature)
	return v.Encode()
}

// PresignedQueryFrom reads the parameters of a presigned URL from a
// parsed query.
func PresignedQueryFrom(v url.Values) PresignedQuery {
	return PresignedQuery{Expires: v.Get(PresignExpiresParam), Scope: v.Get(PresignScopeParam), Signature: v.Get(PresignSignatureParam)}
}

// ObjectPresigner mints and verifies presigned object URLs.
// Implementations are safe for concurrent use.
type ObjectPresigner interface {
	// Presign returns the parameters that carry g. A grant that cannot
	// be one (no tenant, an unknown access, an invalid bucket or key, an
	// expiry in the past) is CodeInvalidParam naming the field.
	Presign(g ObjectGrant) (PresignedQuery, error)
	// Verify checks the parameters of a request that does op on
	// bucket/key (for OpListObjects, key is the listing's prefix) and
	// returns the grant they carry. Anything but a valid, unexpired
	// signature over a grant that allows exactly this is
	// CodePresignDenied, naming the parameter at fault.
	Verify(q PresignedQuery, op ObjectOp, bucket, key string) (*ObjectGrant, error)
}

// Allows reports whether g allows op on bucket/key (for OpListObjects,
// key is the listing's prefix): nil, or CodePresignDenied saying why. It
// does not check the expiry or a signature.
func (g *ObjectGrant) Allows(op ObjectOp, bucket, key string) error {
	deny := CodePresignDenied.Errorf
	if bucket != g.Bucket {
		return deny("The presigned URL is for bucket %q, not %q.", g.Bucket, bucket).WithField(PresignScopeParam)
	}
	switch g.Access {
	case AccessGet:
		if op != OpGetObject {
			return deny("The presigned URL allows reading one object, not %s.", opName(op)).WithField(PresignScopeParam)
		}
		if key != g.Key {
			return deny("The presigned URL is for another object.").WithField(PresignScopeParam)
		}
	case AccessRead:
		if op != OpGetObject && op != OpListObjects {
			return deny("The presigned URL allows reading, not %s.", opName(op)).WithField(PresignScopeParam)
		}
		if !strings.HasPrefix(key, g.Key) {
			return deny("The key %q is outside the presigned prefix %q.", key, g.Key).WithField(PresignScopeParam)
		}
	case AccessWrite:
		if op != OpPutObject {
			return deny("The presigned URL allows uploads, not %s.", opName(op)).WithField(PresignScopeParam)
		}
		if !strings.HasPrefix(key, g.Key) {
			return deny("The key %q is outside the presigned prefix %q.", key, g.Key).WithField(PresignScopeParam)
		}
	default:
		return deny("The presigned URL's access %q is unknown.", g.Access).WithField(PresignScopeParam)
	}
	return nil
}

func opName(op ObjectOp) string {
	switch op {
	case OpGetObject:
		return "reading an object"
	case OpListObjects:
		return "listing"
	case OpPutObject:
		return "uploading"
	}
	return "this request"
}

// ObjectURL returns the URL of an object under endpoint (the server's
// base URL, e.g. http://127.0.0.1:8080), each key segment percent-encoded,
// with q's parameters when q is set.
func ObjectURL(endpoint, bucket, key string, q PresignedQuery) string {
	u := strings.TrimSuffix(endpoint, "/") + "/v1/obs/" + url.PathEscape(bucket) + "/" + EscapeObjectKey(key)
	if !q.IsZero() {
		u += "?" + q.Encode()
	}
	return u
}

// EscapeObjectKey percent-encodes key for a URL path, segment by segment,
// keeping the "/" separators (so "//" survives).
func EscapeObjectKey(key string) string {
	segs := strings.Split(key, "/")
	for i, s := range segs {
		segs[i] = url.PathEscape(s)
	}
	return strings.Join(segs, "/")
}

// ListURL returns the URL listing the objects of bucket under prefix,
// with q's parameters when q is set.
func ListURL(endpoint, bucket, prefix string, q PresignedQuery) string {
	v := url.Values{}
	v.Set("prefix", prefix)
	u := strings.TrimSuffix(endpoint, "/") + "/v1/obs/" + url.PathEscape(bucket) + "?" + v.Encode()
	if !q.IsZero() {
		u += "&" + q.Encode()
	}
	return u
}
