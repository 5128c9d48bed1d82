package mock

import (
	"context"
	"io"

	"github.com/atelier-dev/atelier"
)

// Interface guard.
var _ atelier.ObjectService = (*ObjectService)(nil)

// ObjectService mocks atelier.ObjectService.
type ObjectService struct {
	CreateBucketFn func(ctx context.Context, name string) (*atelier.Bucket, error)
	DeleteBucketFn func(ctx context.Context, name string) error
	GetBucketFn    func(ctx context.Context, name string) (*atelier.Bucket, error)
	ListBucketsFn  func(ctx context.Context) ([]*atelier.Bucket, error)
	PutObjectFn    func(ctx context.Context, bucket, key string, r io.Reader, opts atelier.PutOptions) (*atelier.Object, error)
	CopyObjectFn   func(ctx context.Context, dstBucket, dstKey, srcBucket, srcKey string) (*atelier.Object, error)
	GetObjectFn    func(ctx context.Context, bucket, key string, rng *atelier.Range) (*atelier.Object, io.ReadCloser, *atelier.Range, error)
	StatObjectFn   func(ctx context.Context, bucket, key string) (*atelier.Object, error)
	DeleteObjectFn func(ctx context.Context, bucket, key string) error
	ListObjectsFn  func(ctx context.Context, bucket string, q atelier.ListQuery) (*atelier.ObjectList, error)
}

func unset(method string) {
	panic("mock: ObjectService." + method + " called but " + method + "Fn is not set")
}

// CreateBucket calls CreateBucketFn.
func (s *ObjectService) CreateBucket(ctx context.Context, name string) (*atelier.Bucket, error) {
	if s.CreateBucketFn == nil {
		unset("CreateBucket")
	}
	return s.CreateBucketFn(ctx, name)
}

// DeleteBucket calls DeleteBucketFn.
func (s *ObjectService) DeleteBucket(ctx context.Context, name string) error {
	if s.DeleteBucketFn == nil {
		unset("DeleteBucket")
	}
	return s.DeleteBucketFn(ctx, name)
}

// GetBucket calls GetBucketFn.
func (s *ObjectService) GetBucket(ctx context.Context, name string) (*atelier.Bucket, error) {
	if s.GetBucketFn == nil {
		unset("GetBucket")
	}
	return s.GetBucketFn(ctx, name)
}

// ListBuckets calls ListBucketsFn.
func (s *ObjectService) ListBuckets(ctx context.Context) ([]*atelier.Bucket, error) {
	if s.ListBucketsFn == nil {
		unset("ListBuckets")
	}
	return s.ListBucketsFn(ctx)
}

// PutObject calls PutObjectFn.
func (s *ObjectService) PutObject(ctx context.Context, bucket, key string, r io.Reader, opts atelier.PutOptions) (*atelier.Object, error) {
	if s.PutObjectFn == nil {
		unset("PutObject")
	}
	return s.PutObjectFn(ctx, bucket, key, r, opts)
}

// CopyObject calls CopyObjectFn.
func (s *ObjectService) CopyObject(ctx context.Context, dstBucket, dstKey, srcBucket, srcKey string) (*atelier.Object, error) {
	if s.CopyObjectFn == nil {
		unset("CopyObject")
	}
	return s.CopyObjectFn(ctx, dstBucket, dstKey, srcBucket, srcKey)
}

// GetObject calls GetObjectFn.
func (s *ObjectService) GetObject(ctx context.Context, bucket, key string, rng *atelier.Range) (*atelier.Object, io.ReadCloser, *atelier.Range, error) {
	if s.GetObjectFn == nil {
		unset("GetObject")
	}
	return s.GetObjectFn(ctx, bucket, key, rng)
}

// StatObject calls StatObjectFn.
func (s *ObjectService) StatObject(ctx context.Context, bucket, key string) (*atelier.Object, error) {
	if s.StatObjectFn == nil {
		unset("StatObject")
	}
	return s.StatObjectFn(ctx, bucket, key)
}

// DeleteObject calls DeleteObjectFn.
func (s *ObjectService) DeleteObject(ctx context.Context, bucket, key string) error {
	if s.DeleteObjectFn == nil {
		unset("DeleteObject")
	}
	return s.DeleteObjectFn(ctx, bucket, key)
}

// ListObjects calls ListObjectsFn.
func (s *ObjectService) ListObjects(ctx context.Context, bucket string, q atelier.ListQuery) (*atelier.ObjectList, error) {
	if s.ListObjectsFn == nil {
		unset("ListObjects")
	}
	return s.ListObjectsFn(ctx, bucket, q)
}
