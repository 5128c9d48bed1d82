package blobstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"

	"github.com/atelier-dev/atelier/obs"
)

// s3PartSize is the size of the parts of a multipart upload, and the most
// a plain PutObject sends; a Put holds one part in memory. S3 allows 10,000
// parts: 80 GB objects.
const s3PartSize = 8 << 20

// s3Params are the query parameters of an s3:// URL.
var s3Params = []string{"anonymous", "awssdk", "disable_https", "endpoint", "profile", "region", "use_path_style"}

// s3Backend stores blobs as the objects of one S3 bucket.
type s3Backend struct {
	client *s3.Client
	bucket string
	name   string // for obs.UnavailableError
}

func openS3(ctx context.Context, u *url.URL) (obs.Backend, error) {
	if u.Host == "" {
		return nil, errors.New("s3 URL names no bucket; want s3://bucket?region=…")
	}
	q := u.Query()
	for k := range q {
		if !slices.Contains(s3Params, k) {
			return nil, fmt.Errorf("s3 URL has unknown parameter %q (known: %s)", k, strings.Join(s3Params, ", "))
		}
	}
	flag := func(k string) (bool, error) {
		v := q.Get(k)
		if v == "" {
			return false, nil
		}
		b, err := strconv.ParseBool(v)
		if err != nil {
			return false, fmt.Errorf("s3 URL parameter %s=%q is not true or false", k, v)
		}
		return b, nil
	}
	anonymous, err := flag("anonymous")
	if err != nil {
		return nil, err
	}
	noHTTPS, err := flag("disable_https")
	if err != nil {
		return nil, err
	}
	pathStyle, err := flag("use_path_style")
	if err != nil {
		return nil, err
	}
	if v := q.Get("awssdk"); v != "" && v != "v2" {
		return nil, fmt.Errorf("s3 URL parameter awssdk=%q: only v2 is supported", v)
	}
	var opts []func(*config.LoadOptions) error
	if v := q.Get("region"); v != "" {
		opts = append(opts, config.WithRegion(v))
	}
	if v := q.Get("profile"); v != "" {
		opts = append(opts, config.WithSharedConfigProfile(v))
	}
	cfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("s3: load the AWS configuration: %w", err)
	}
	if anonymous {
		cfg.Credentials = aws.AnonymousCredentials{}
	}
	endpoint := q.Get("endpoint")
	if endpoint != "" && !strings.Contains(endpoint, "://") {
		scheme := "https://"
		if noHTTPS {
			scheme = "http://"
		}
		endpoint = scheme + endpoint
	}
	client := s3.NewFromConfig(cfg, func(o *s3.Options) {
		if endpoint != "" {
			o.BaseEndpoint = aws.String(endpoint)
		}
		o.UsePathStyle = pathStyle
	})
	return &s3Backend{client: client, bucket: u.Host, name: fmt.Sprintf("s3 bucket %q", u.Host)}, nil
}

// Put sends r in one PutObject when it fits one part, else as a multipart
// upload that is aborted when anything fails, so that nothing remains.
func (b *s3Backend) Put(ctx context.Context, key string, r io.Reader) error {
	part := make([]byte, s3PartSize)
	n, err := io.ReadFull(r, part)
	switch {
	case err == io.EOF || err == io.ErrUnexpectedEOF:
		if err := ctx.Err(); err != nil {
			return b.wrap("put", key, fmt.Errorf("%w: %w", errAborted, err))
		}
		_, err := b.client.PutObject(ctx, &s3.PutObjectInput{Bucket: &b.bucket, Key: &key,
			Body: bytes.NewReader(part[:n]), ContentLength: aws.Int64(int64(n)), ContentType: aws.String("application/octet-stream")})
		return b.wrap("put", key, err)
	case err != nil:
		return fmt.Errorf("obs: put %q: %w", key, err) // the reader's error
	}
	up, err := b.client.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: &b.bucket, Key: &key,
		ContentType: aws.String("application/octet-stream")})
	if err != nil {
		return b.wrap("put", key, err)
	}
	if err := b.putParts(ctx, key, up.UploadId, part, r); err != nil {
		_, _ = b.client.AbortMultipartUpload(context.WithoutCancel(ctx), &s3.AbortMultipartUploadInput{Bucket: &b.bucket, Key: &key, UploadId: up.UploadId})
		return err
	}
	return nil
}

// putParts uploads the full first part and the rest of r, then completes
// the upload.
func (b *s3Backend) putParts(ctx context.Context, key string, uploadID *string, part []byte, r io.Reader) error {
	var done []types.CompletedPart
	n := len(part)
	for num := int32(1); ; num++ {
		if err := ctx.Err(); err != nil {
			return b.wrap("put", key, fmt.Errorf("%w: %w", errAborted, err))
		}
		out, err := b.client.UploadPart(ctx, &s3.UploadPartInput{Bucket: &b.bucket, Key: &key, UploadId: uploadID,
			PartNumber: aws.Int32(num), Body: bytes.NewReader(part[:n]), ContentLength: aws.Int64(int64(n))})
		if err != nil {
			return b.wrap("put", key, err)
		}
		done = append(done, types.CompletedPart{ETag: out.ETag, PartNumber: aws.Int32(num)})
		var rerr error
		n, rerr = io.ReadFull(r, part)
		if rerr == io.EOF {
			break
		}
		if rerr != nil && rerr != io.ErrUnexpectedEOF {
			return fmt.Errorf("obs: put %q: %w", key, rerr) // the reader's error
		}
	}
	if err := ctx.Err(); err != nil {
		return b.wrap("put", key, fmt.Errorf("%w: %w", errAborted, err))
	}
	_, err := b.client.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: &b.bucket, Key: &key, UploadId: uploadID,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: done}})
	return b.wrap("put", key, err)
}

func (b *s3Backend) Open(ctx context.Context, key string, offset, length int64) (io.ReadCloser, error) {
	if length == 0 {
		// S3 has no empty range: check that the object exists.
		if _, err := b.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &b.bucket, Key: &key}); err != nil {
			return nil, b.wrap("open", key, err)
		}
		return io.NopCloser(bytes.NewReader(nil)), nil
	}
	in := &s3.GetObjectInput{Bucket: &b.bucket, Key: &key}
	switch {
	case length > 0:
		in.Range = aws.String(fmt.Sprintf("bytes=%d-%d", offset, offset+length-1))
	case offset > 0:
		in.Range = aws.String(fmt.Sprintf("bytes=%d-", offset))
	}
	out, err := b.client.GetObject(ctx, in)
	if err != nil {
		return nil, b.wrap("open", key, err)
	}
	return out.Body, nil
}

func (b *s3Backend) Copy(ctx context.Context, dst, src string) error {
	segs := strings.Split(src, "/")
	for i, s := range segs {
		segs[i] = url.PathEscape(s)
	}
	_, err := b.client.CopyObject(ctx, &s3.CopyObjectInput{Bucket: &b.bucket, Key: &dst,
		CopySource: aws.String(url.PathEscape(b.bucket) + "/" + strings.Join(segs, "/"))})
	return b.wrap("copy", src, err)
}

func (b *s3Backend) Delete(ctx context.Context, key string) error {
	_, err := b.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &b.bucket, Key: &key})
	if err != nil && !notFound(err) {
		return b.wrap("delete", key, err)
	}
	return nil
}

func (b *s3Backend) List(ctx context.Context, prefix string, fn func(key string) error) error {
	pages := s3.NewListObjectsV2Paginator(b.client, &s3.ListObjectsV2Input{Bucket: &b.bucket, Prefix: &prefix})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return b.wrap("list", prefix, err)
		}
		for _, o := range page.Contents {
			if err := fn(aws.ToString(o.Key)); err != nil {
				return err
			}
		}
	}
	return nil
}

func (b *s3Backend) Ping(ctx context.Context) error {
	if _, err := b.client.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: &b.bucket}); err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("obs: ping: %w", err)
		}
		return &obs.UnavailableError{Backend: b.name, Err: err}
	}
	return nil
}

func (b *s3Backend) Close() error { return nil }

// notFound reports whether err says that the object does not exist.
func notFound(err error) bool {
	var nsk *types.NoSuchKey
	var nf *types.NotFound
	var api smithy.APIError
	switch {
	case errors.As(err, &nsk), errors.As(err, &nf):
		return true
	case errors.As(err, &api):
		return api.ErrorCode() == "NoSuchKey" || api.ErrorCode() == "NotFound"
	}
	return false
}

// wrap classifies an error for the Backend contract: a missing object is
// obs.ErrNotFound; anything else but a cancelled call is the backend's
// failure (the network, credentials, a missing bucket).
func (b *s3Backend) wrap(op, key string, err error) error {
	switch {
	case err == nil:
		return nil
	case notFound(err):
		return fmt.Errorf("obs: %s %q: %w: %w", op, key, obs.ErrNotFound, err)
	case errors.Is(err, errAborted), errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("obs: %s %q: %w", op, key, err)
	}
	return fmt.Errorf("obs: %s %q: %w", op, key, &obs.UnavailableError{Backend: b.name, Err: err})
}

var _ obs.Backend = (*s3Backend)(nil)
