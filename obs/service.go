package obs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/atelier-dev/atelier"
	"github.com/atelier-dev/atelier/internal/clock"
	"github.com/atelier-dev/atelier/store"
)

// Defaults of Options.
const (
	DefaultMaxObjectBytes = 5 << 30
	DefaultHeartbeatEvery = 30 * time.Second
	DefaultStaleAfter     = 2 * time.Minute
	DefaultSweepEvery     = time.Minute
)

// ObjectMetaStore is the part of the metadata store that the object store
// uses.
type ObjectMetaStore interface {
	store.BucketStore
	store.ObjectStore
}

// Options configure a Service. Zero fields take the defaults.
type Options struct {
	Clock  clock.Clock  // default clock.Real
	Logger *slog.Logger // default slog.Default()
	// MaxObjectBytes is the largest object accepted (default 5 GiB).
	MaxObjectBytes int64
	// HeartbeatEvery is how often a streaming upload touches its record
	// (default 30s).
	HeartbeatEvery time.Duration
	// StaleAfter is how old a heartbeat must be for the sweeper to take the
	// upload as abandoned (default 2 min). Keep it several HeartbeatEvery.
	StaleAfter time.Duration
	// SweepEvery is the period of the sweeper that Start runs (default 1 min).
	SweepEvery time.Duration
}

// Service is the object store of Atelier; it implements atelier.ObjectService
// over a metadata store and a Backend. It is safe for concurrent use.
type Service struct {
	st         ObjectMetaStore
	be         Backend
	clock      clock.Clock
	log        *slog.Logger
	maxBytes   int64
	heartbeat  time.Duration
	staleAfter time.Duration
	sweepEvery time.Duration

	mu      sync.Mutex
	cancel  context.CancelFunc // of the running sweeper, nil when stopped
	stopped chan struct{}      // closed when the sweeper goroutine returns
}

var _ atelier.ObjectService = (*Service)(nil)

// New returns a Service over st and be. It starts nothing: call Start for the
// background sweeper.
func New(st ObjectMetaStore, be Backend, opts Options) *Service {
	s := &Service{
		st:         st,
		be:         be,
		clock:      opts.Clock,
		log:        opts.Logger,
		maxBytes:   opts.MaxObjectBytes,
		heartbeat:  opts.HeartbeatEvery,
		staleAfter: opts.StaleAfter,
		sweepEvery: opts.SweepEvery,
	}
	if s.clock == nil {
		s.clock = clock.Real{}
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	if s.maxBytes <= 0 {
		s.maxBytes = DefaultMaxObjectBytes
	}
	if s.heartbeat <= 0 {
		s.heartbeat = DefaultHeartbeatEvery
	}
	if s.staleAfter <= 0 {
		s.staleAfter = DefaultStaleAfter
	}
	if s.sweepEvery <= 0 {
		s.sweepEvery = DefaultSweepEvery
	}
	return s
}

// Ping reports whether the object backend answers, for readiness.
func (s *Service) Ping(ctx context.Context) error {
	err := s.be.Ping(ctx)
	if berr := backendError(err); berr != nil {
		return berr
	}
	return err
}

// now is the time stored in records: UTC, microsecond precision.
func (s *Service) now() time.Time {
	return s.clock.Now().UTC().Truncate(time.Microsecond)
}

// CreateBucket creates a bucket in the caller's tenant.
func (s *Service) CreateBucket(ctx context.Context, name string) (*atelier.Bucket, error) {
	tenant, err := atelier.TenantFromContext(ctx)
	if err != nil {
		return nil, err
	}
	if err := ValidateBucketName(name); err != nil {
		return nil, err
	}
	b := &atelier.Bucket{ID: atelier.NewID(), TenantID: tenant, Name: name, CreatedAt: s.now()}
	if err := s.st.CreateBucket(ctx, b); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return nil, atelier.CodeBucketExists.Errorf("The bucket %q already exists.", name).WithField("bucket")
		}
		return nil, fmt.Errorf("obs: create bucket: %w", err)
	}
	return b, nil
}

// DeleteBucket deletes an empty bucket of the caller's tenant.
func (s *Service) DeleteBucket(ctx context.Context, name string) error {
	tenant, err := atelier.TenantFromContext(ctx)
	if err != nil {
		return err
	}
	if err := ValidateBucketName(name); err != nil {
		return err
	}
	switch err := s.st.DeleteBucket(ctx, tenant, name); {
	case err == nil:
		return nil
	case errors.Is(err, store.ErrNotFound):
		return errNoBucket(name)
	case errors.Is(err, store.ErrNotEmpty):
		return atelier.CodeBucketNotEmpty.Errorf("The bucket %q still holds objects.", name).WithField("bucket")
	default:
		return fmt.Errorf("obs: delete bucket: %w", err)
	}
}

// GetBucket returns a bucket of the caller's tenant.
func (s *Service) GetBucket(ctx context.Context, name string) (*atelier.Bucket, error) {
	tenant, err := atelier.TenantFromContext(ctx)
	if err != nil {
		return nil, err
	}
	return s.bucket(ctx, tenant, name, "bucket")
}

// ListBuckets returns the caller's buckets ordered by name.
func (s *Service) ListBuckets(ctx context.Context) ([]*atelier.Bucket, error) {
	tenant, err := atelier.TenantFromContext(ctx)
	if err != nil {
		return nil, err
	}
	bs, err := s.st.ListBuckets(ctx, tenant)
	if err != nil {
		return nil, fmt.Errorf("obs: list buckets: %w", err)
	}
	if bs == nil {
		bs = []*atelier.Bucket{}
	}
	return bs, nil
}

// bucket validates name and looks the bucket up in the tenant. A name that
// cannot exist is CodeInvalidBucketName, for field.
func (s *Service) bucket(ctx context.Context, tenant, name, field string) (*atelier.Bucket, error) {
	if err := ValidateBucketName(name); err != nil {
		var ae *atelier.Error
		if errors.As(err, &ae) {
			ae.WithField(field)
		}
		return nil, err
	}
	b, err := s.st.GetBucket(ctx, tenant, name)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return nil, errNoBucket(name).WithField(field)
		}
		return nil, fmt.Errorf("obs: get bucket: %w", err)
	}
	return b, nil
}

func errNoBucket(name string) *atelier.Error {
	return atelier.CodeBucketNotFound.Errorf("The bucket %q does not exist.", name).WithField("bucket")
}

func errNoObject(key string) *atelier.Error {
	return atelier.CodeObjectNotFound.Errorf("The object %q does not exist.", key).WithField("key")
}
