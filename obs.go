package atelier

import (
	"context"
	"io"
	"time"
)

// Bucket is a named container of objects in one tenant. Bucket names are
// unique within a tenant, not across tenants: another tenant's bucket is
// simply not found.
type Bucket struct {
	ID        string    `json:"id"`
	TenantID  string    `json:"-"`
	Name      string    `json:"name"`
	CreatedAt time.Time `json:"created_at"`
}

// Object is the metadata of one stored object. BlobKey is where its bytes live
// in the object backend; it is never shown to users.
type Object struct {
	BucketID     string    `json:"-"`
	Bucket       string    `json:"bucket"`
	Key          string    `json:"key"`
	BlobKey      string    `json:"-"`
	Size         int64     `json:"size"`
	ETag         string    `json:"etag"`   // hex MD5 of the content, unquoted
	SHA256       string    `json:"sha256"` // hex SHA-256 of the content
	ContentType  string    `json:"content_type"`
	LastModified time.Time `json:"last_modified"`
}

// PutOptions are the optional checks and metadata of an upload.
type PutOptions struct {
	// Size is the declared length, or -1 when unknown (chunked). A body that
	// ends early fails with CodeIncompleteBody; a longer one with
	// CodeIncompleteBody too.
	Size        int64
	ContentType string
	MD5         []byte // raw digest from Content-MD5, verified when set
	SHA256      []byte // raw digest from x-atelier-sha256, verified when set
}

// Range is a byte range of an object: Length -1 means to the end. A negative
// Offset with Length -1 means the last -Offset bytes (a suffix range).
type Range struct {
	Offset int64
	Length int64
}

// MaxListKeys is the largest page a listing returns.
const MaxListKeys = 1000

// ListQuery selects objects of a bucket, in byte order of their keys.
type ListQuery struct {
	Prefix            string
	Delimiter         string
	MaxKeys           int    // 1..MaxListKeys; 0 means MaxListKeys
	ContinuationToken string // from a previous ObjectList
	StartAfter        string
}

// ObjectList is one page of a listing.
type ObjectList struct {
	Bucket                string    `json:"bucket"`
	Prefix                string    `json:"prefix"`
	Delimiter             string    `json:"delimiter,omitempty"`
	Objects               []*Object `json:"objects"`
	CommonPrefixes        []string  `json:"common_prefixes"`
	IsTruncated           bool      `json:"is_truncated"`
	NextContinuationToken string    `json:"next_continuation_token,omitempty"`
}

// ObjectService is the object store (OBS) of the caller's tenant; the tenant
// comes from the context. Implementations are safe for concurrent use.
type ObjectService interface {
	// CreateBucket returns CodeInvalidBucketName or CodeBucketExists.
	CreateBucket(ctx context.Context, name string) (*Bucket, error)
	// DeleteBucket returns CodeBucketNotFound or CodeBucketNotEmpty.
	DeleteBucket(ctx context.Context, name string) error
	GetBucket(ctx context.Context, name string) (*Bucket, error)
	ListBuckets(ctx context.Context) ([]*Bucket, error)

	// PutObject streams r into bucket/key. The object becomes visible only
	// once complete and verified; on any failure nothing remains.
	PutObject(ctx context.Context, bucket, key string, r io.Reader, opts PutOptions) (*Object, error)
	// CopyObject copies an object on the server side.
	CopyObject(ctx context.Context, dstBucket, dstKey, srcBucket, srcKey string) (*Object, error)
	// GetObject opens an object, or the range rng of it when rng is not nil.
	// It returns the object, the reader and the range actually served; a range
	// past the end gives CodeRangeNotSatisfiable.
	GetObject(ctx context.Context, bucket, key string, rng *Range) (*Object, io.ReadCloser, *Range, error)
	StatObject(ctx context.Context, bucket, key string) (*Object, error)
	// DeleteObject returns CodeObjectNotFound when there is nothing to delete.
	DeleteObject(ctx context.Context, bucket, key string) error
	ListObjects(ctx context.Context, bucket string, q ListQuery) (*ObjectList, error)
}

// Object store error codes.
var (
	CodeInvalidBucketName   = NewCode("ATL.OBS.0001", Invalid, "Bucket names are 3–63 characters of lower-case letters, digits, dots and hyphens, start and end with a letter or digit, and are not IP addresses.")
	CodeInvalidObjectKey    = NewCode("ATL.OBS.0002", Invalid, "Object keys are 1–1024 bytes of UTF-8 with no NUL and no '..' path segment.")
	CodeBucketNotFound      = NewCode("ATL.OBS.0003", NotFound, "The bucket does not exist in the caller's tenant.")
	CodeBucketExists        = NewCode("ATL.OBS.0004", Conflict, "A bucket with this name already exists in the tenant.")
	CodeBucketNotEmpty      = NewCode("ATL.OBS.0005", Conflict, "The bucket still holds objects; delete them first.")
	CodeObjectNotFound      = NewCode("ATL.OBS.0006", NotFound, "The object does not exist.")
	CodeRangeNotSatisfiable = NewCode("ATL.OBS.0007", RangeNotSatisfied, "The Range header starts past the end of the object.")
	CodeChecksumMismatch    = NewCode("ATL.OBS.0008", Invalid, "The uploaded bytes do not match Content-MD5 or x-atelier-sha256; nothing was stored.")
	CodeIncompleteBody      = NewCode("ATL.OBS.0009", Invalid, "The upload ended before Content-Length bytes arrived (or sent more); nothing was stored.")
	CodeObjectTooLarge      = NewCode("ATL.OBS.0010", TooLarge, "The object is larger than the server's maximum object size; nothing was stored.")
	CodeStorageFull         = NewCode("ATL.OBS.0011", InsufficientSpace, "The object store ran out of space; nothing was stored.")
	CodeInvalidListParam    = NewCode("ATL.OBS.0012", Invalid, "A listing parameter (max_keys, continuation_token, delimiter) is invalid.")
	CodeInvalidCopySource   = NewCode("ATL.OBS.0013", Invalid, "The copy source header is not of the form /bucket/key.")
	CodeInvalidDigest       = NewCode("ATL.OBS.0014", Invalid, "Content-MD5 is not base64 of 16 bytes, or x-atelier-sha256 is not 64 hex characters.")
	CodePresignDenied       = NewCode("ATL.OBS.0015", PermissionDenied, "The presigned URL is expired, malformed or tampered with, or does not allow this method, bucket or key; the message names the parameter.")
)
