package atelier

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	core "github.com/atelier-dev/atelier"
)

// PutOptions are the optional metadata and checks of an upload. A digest,
// when set, is sent so that the server refuses bytes that do not match it.
type PutOptions struct {
	ContentType string // default application/octet-stream
	MD5         []byte // raw 16-byte digest, sent as Content-MD5
	SHA256      []byte // raw 32-byte digest, sent as x-atelier-sha256
}

// CreateBucket creates a bucket in the caller's tenant.
func (c *Client) CreateBucket(ctx context.Context, name string) (*core.Bucket, error) {
	var b core.Bucket
	if err := c.doJSON(ctx, &request{method: http.MethodPut, path: objectPath(name, "")}, &b); err != nil {
		return nil, err
	}
	return &b, nil
}

// DeleteBucket deletes an empty bucket.
func (c *Client) DeleteBucket(ctx context.Context, name string) error {
	return c.doJSON(ctx, &request{method: http.MethodDelete, path: objectPath(name, "")}, nil)
}

// ListBuckets returns the caller's tenant's buckets.
func (c *Client) ListBuckets(ctx context.Context) ([]*core.Bucket, error) {
	var out struct {
		Buckets []*core.Bucket `json:"buckets"`
	}
	if err := c.doJSON(ctx, &request{method: http.MethodGet, path: "/v1/obs"}, &out); err != nil {
		return nil, err
	}
	return out.Buckets, nil
}

// BucketExists reports whether the bucket exists in the caller's tenant.
func (c *Client) BucketExists(ctx context.Context, name string) (bool, error) {
	err := c.doJSON(ctx, &request{method: http.MethodHead, path: objectPath(name, ""), fallback: &core.CodeBucketNotFound}, nil)
	switch {
	case err == nil:
		return true, nil
	case isStatus(err, http.StatusNotFound):
		return false, nil
	}
	return false, err
}

// PutObject streams r into bucket/key. size is the body's length, or -1 when
// unknown (the body is then sent chunked). When r is an io.Seeker and the
// client uses an access key, a 401 answer rewinds r and retries once.
func (c *Client) PutObject(ctx context.Context, bucket, key string, r io.Reader, size int64, opts PutOptions) (*core.Object, error) {
	if r == nil {
		r, size = strings.NewReader(""), 0
	}
	h := http.Header{}
	h.Set("Content-Type", firstNonEmpty(opts.ContentType, "application/octet-stream"))
	if opts.MD5 != nil {
		h.Set("Content-MD5", base64.StdEncoding.EncodeToString(opts.MD5))
	}
	if opts.SHA256 != nil {
		h.Set("X-Atelier-Sha256", hex.EncodeToString(opts.SHA256))
	}
	var o core.Object
	if err := c.doJSON(ctx, &request{method: http.MethodPut, path: objectPath(bucket, key), header: h, body: r, size: size}, &o); err != nil {
		return nil, err
	}
	return &o, nil
}

// CopyObject copies srcBucket/srcKey to dstBucket/dstKey on the server.
func (c *Client) CopyObject(ctx context.Context, dstBucket, dstKey, srcBucket, srcKey string) (*core.Object, error) {
	h := http.Header{}
	h.Set("X-Atelier-Copy-Source", objectPath(srcBucket, srcKey)[len("/v1/obs"):])
	var o core.Object
	if err := c.doJSON(ctx, &request{method: http.MethodPut, path: objectPath(dstBucket, dstKey), header: h}, &o); err != nil {
		return nil, err
	}
	return &o, nil
}

// GetObject opens an object, or the byte range rng of it when rng is not nil.
// The returned object's Size is the whole object's size; the caller closes the
// reader.
func (c *Client) GetObject(ctx context.Context, bucket, key string, rng *core.Range) (io.ReadCloser, *core.Object, error) {
	r := &request{method: http.MethodGet, path: objectPath(bucket, key)}
	if rng != nil {
		r.header = http.Header{"Range": {rangeHeader(*rng)}}
	}
	resp, err := c.do(ctx, r)
	if err != nil {
		return nil, nil, err
	}
	return resp.Body, objectFromHeader(bucket, key, resp), nil
}

// StatObject returns an object's metadata.
func (c *Client) StatObject(ctx context.Context, bucket, key string) (*core.Object, error) {
	resp, err := c.do(ctx, &request{method: http.MethodHead, path: objectPath(bucket, key), fallback: &core.CodeObjectNotFound})
	if err != nil {
		return nil, err
	}
	resp.Body.Close()
	return objectFromHeader(bucket, key, resp), nil
}

// DeleteObject deletes an object; an absent one gives ATL.OBS.0006.
func (c *Client) DeleteObject(ctx context.Context, bucket, key string) error {
	return c.doJSON(ctx, &request{method: http.MethodDelete, path: objectPath(bucket, key)}, nil)
}

// ListObjects returns one page of a bucket's listing.
func (c *Client) ListObjects(ctx context.Context, bucket string, q core.ListQuery) (*core.ObjectList, error) {
	v := url.Values{}
	set := func(k, val string) {
		if val != "" {
			v.Set(k, val)
		}
	}
	set("prefix", q.Prefix)
	set("delimiter", q.Delimiter)
	set("continuation_token", q.ContinuationToken)
	set("start_after", q.StartAfter)
	if q.MaxKeys != 0 {
		v.Set("max_keys", strconv.Itoa(q.MaxKeys))
	}
	var l core.ObjectList
	if err := c.doJSON(ctx, &request{method: http.MethodGet, path: objectPath(bucket, ""), query: v}, &l); err != nil {
		return nil, err
	}
	return &l, nil
}

// WalkObjects calls fn for every object whose key starts with prefix, in key
// order, following continuation tokens. An error from fn stops the walk and
// is returned.
func (c *Client) WalkObjects(ctx context.Context, bucket, prefix string, fn func(*core.Object) error) error {
	q := core.ListQuery{Prefix: prefix}
	for {
		l, err := c.ListObjects(ctx, bucket, q)
		if err != nil {
			return err
		}
		for _, o := range l.Objects {
			if err := fn(o); err != nil {
				return err
			}
		}
		if !l.IsTruncated || l.NextContinuationToken == "" {
			return nil
		}
		q.ContinuationToken = l.NextContinuationToken
	}
}

// rangeHeader renders rng as a Range header value.
func rangeHeader(rng core.Range) string {
	switch {
	case rng.Offset < 0:
		return fmt.Sprintf("bytes=-%d", -rng.Offset)
	case rng.Length < 0:
		return fmt.Sprintf("bytes=%d-", rng.Offset)
	}
	return fmt.Sprintf("bytes=%d-%d", rng.Offset, rng.Offset+rng.Length-1)
}

// objectFromHeader reads an object's metadata from a GET or HEAD answer.
func objectFromHeader(bucket, key string, resp *http.Response) *core.Object {
	o := &core.Object{
		Bucket:      bucket,
		Key:         key,
		Size:        resp.ContentLength,
		ETag:        strings.Trim(resp.Header.Get("ETag"), `"`),
		SHA256:      resp.Header.Get("X-Atelier-Sha256"),
		ContentType: resp.Header.Get("Content-Type"),
	}
	if n, err := strconv.ParseInt(resp.Header.Get("Content-Length"), 10, 64); err == nil {
		o.Size = n // HEAD answers have ContentLength -1 in net/http
	}
	if cr := resp.Header.Get("Content-Range"); resp.StatusCode == http.StatusPartialContent && cr != "" {
		if i := strings.LastIndexByte(cr, '/'); i >= 0 {
			if n, err := strconv.ParseInt(cr[i+1:], 10, 64); err == nil {
				o.Size = n
			}
		}
	}
	if t, err := http.ParseTime(resp.Header.Get("Last-Modified")); err == nil {
		o.LastModified = t.UTC()
	} else if t, err := time.Parse(time.RFC3339, resp.Header.Get("Last-Modified")); err == nil {
		o.LastModified = t.UTC()
	}
	return o
}
