// Package store defines the metadata store that every Atelier service keeps
// its state in, as one small interface per aggregate, and the errors that
// every backend returns.
//
// Backends: store/sqlitestore (modernc.org/sqlite, the default) and
// store/pgstore (PostgreSQL through pgx). Both pass store/storetest.
//
// Error contract, for every method of every backend:
//   - a missing record gives an error for which errors.Is(err, ErrNotFound);
//   - a unique constraint gives errors.Is(err, ErrConflict);
//   - deleting a bucket that still holds objects gives ErrNotEmpty;
//   - any other failure is returned wrapped with the operation's name.
//
// Domain packages turn these into *atelier.Error with their own codes.
// Times are stored in UTC with microsecond precision.
package store

import (
	"context"
	"errors"
	"time"

	"github.com/atelier-dev/atelier"
)

// Sentinel errors of the store contract.
var (
	ErrNotFound = errors.New("store: not found")
	ErrConflict = errors.New("store: conflict")
	ErrNotEmpty = errors.New("store: not empty")
)

// Store is the whole metadata store. Implementations are safe for concurrent
// use.
type Store interface {
	TenantStore
	UserStore
	AppStore
	TokenStore
	APIKeyStore
	BucketStore
	ObjectStore

	// Ping reports whether the database answers.
	Ping(ctx context.Context) error
	// Close releases the database. It is safe to call twice.
	Close() error
}

// TenantStore keeps tenants.
type TenantStore interface {
	// CreateTenant inserts t; ErrConflict when the name is taken.
	CreateTenant(ctx context.Context, t *atelier.Tenant) error
	GetTenant(ctx context.Context, id string) (*atelier.Tenant, error)
	GetTenantByName(ctx context.Context, name string) (*atelier.Tenant, error)
	ListTenants(ctx context.Context) ([]*atelier.Tenant, error)
}

// UserStore keeps users. Emails are stored lower-case by the caller; they and
// user names are unique within a tenant.
type UserStore interface {
	// CreateUser inserts u; ErrConflict on a duplicate email or name in the tenant.
	CreateUser(ctx context.Context, u *atelier.User) error
	GetUser(ctx context.Context, id string) (*atelier.User, error)
	GetUserByEmail(ctx context.Context, tenantID, email string) (*atelier.User, error)
	GetUserByName(ctx context.Context, tenantID, name string) (*atelier.User, error)
	// FindUsersByEmail returns the users with this email in every tenant.
	FindUsersByEmail(ctx context.Context, email string) ([]*atelier.User, error)
	ListUsers(ctx context.Context, tenantID string) ([]*atelier.User, error)
	// UpdateUser reads the user, calls fn on it inside one transaction and
	// writes it back; fn may run more than once and must not have side
	// effects. An error from fn aborts the update and is returned as is.
	UpdateUser(ctx context.Context, id string, fn func(u *atelier.User) error) (*atelier.User, error)
	// CountUsers returns how many users exist in all tenants.
	CountUsers(ctx context.Context) (int, error)
}

// AppStore keeps registered apps.
type AppStore interface {
	// CreateApp inserts a; ErrConflict when the client id is taken.
	CreateApp(ctx context.Context, a *atelier.App) error
	GetAppByClientID(ctx context.Context, clientID string) (*atelier.App, error)
}

// TokenStore keeps issued bearer tokens by their hash.
type TokenStore interface {
	CreateToken(ctx context.Context, t *atelier.Token) error
	// GetToken returns ErrNotFound for an unknown hash; expiry is the
	// caller's business.
	GetToken(ctx context.Context, hash string) (*atelier.Token, error)
	// DeleteToken is idempotent: deleting an unknown hash is not an error.
	DeleteToken(ctx context.Context, hash string) error
	// DeleteTokensByAccessKey revokes every token issued for an API key.
	DeleteTokensByAccessKey(ctx context.Context, accessKey string) error
	// DeleteExpiredTokens removes tokens that expired before now and returns
	// how many it removed.
	DeleteExpiredTokens(ctx context.Context, now time.Time) (int, error)
}

// APIKeyStore keeps access/secret key pairs.
type APIKeyStore interface {
	// CreateAPIKey inserts k; ErrConflict when the access key exists.
	CreateAPIKey(ctx context.Context, k *atelier.APIKey) error
	GetAPIKey(ctx context.Context, accessKey string) (*atelier.APIKey, error)
	// ListAPIKeys returns the keys of one user, oldest first.
	ListAPIKeys(ctx context.Context, tenantID, userID string) ([]*atelier.APIKey, error)
	// DeleteAPIKey deletes the key only if it belongs to the tenant and user;
	// ErrNotFound otherwise.
	DeleteAPIKey(ctx context.Context, tenantID, userID, accessKey string) error
}

// BucketStore keeps buckets, unique by (tenant, name).
type BucketStore interface {
	// CreateBucket inserts b; ErrConflict when the tenant has the name.
	CreateBucket(ctx context.Context, b *atelier.Bucket) error
	GetBucket(ctx context.Context, tenantID, name string) (*atelier.Bucket, error)
	// ListBuckets returns a tenant's buckets ordered by name.
	ListBuckets(ctx context.Context, tenantID string) ([]*atelier.Bucket, error)
	// DeleteBucket deletes an empty bucket: ErrNotFound when missing,
	// ErrNotEmpty when it holds objects. The emptiness check and the delete
	// are one transaction, so a concurrent CommitObject cannot slip in.
	DeleteBucket(ctx context.Context, tenantID, name string) error
}

// Upload is an upload in progress: bytes are being written to BlobKey and are
// not yet visible. A pending upload whose heartbeat stopped belongs to a
// server that died; the sweeper deletes its blob and the record.
type Upload struct {
	ID        string
	BucketID  string
	Key       string
	BlobKey   string
	CreatedAt time.Time
	UpdatedAt time.Time // heartbeat
}

// ObjectStore keeps object metadata, pending uploads and the queue of blobs
// to delete. Keys are compared byte-wise (binary collation) everywhere.
type ObjectStore interface {
	// BeginUpload records a pending upload before any byte is written.
	BeginUpload(ctx context.Context, u *Upload) error
	// TouchUpload moves an upload's heartbeat to now.
	TouchUpload(ctx context.Context, id string, now time.Time) error
	// CommitUpload makes o visible in one transaction: it deletes the pending
	// upload, inserts or replaces the object (BucketID, Key) and, when an
	// object was replaced, queues its blob for deletion and returns its blob
	// key (else ""). ErrNotFound when the upload or the bucket is gone.
	CommitUpload(ctx context.Context, uploadID string, o *atelier.Object) (replacedBlobKey string, err error)
	// AbortUpload deletes a pending upload record; unknown ids are not an error.
	AbortUpload(ctx context.Context, id string) error
	// StaleUploads returns pending uploads whose heartbeat is older than before.
	StaleUploads(ctx context.Context, before time.Time, limit int) ([]*Upload, error)

	// GetObject returns ErrNotFound when the key is absent.
	GetObject(ctx context.Context, bucketID, key string) (*atelier.Object, error)
	// DeleteObject removes the object and queues its blob for deletion in one
	// transaction, returning the blob key; ErrNotFound when absent.
	DeleteObject(ctx context.Context, bucketID, key string) (blobKey string, err error)
	// ListObjects returns up to limit objects whose key starts with prefix and
	// sorts strictly after after (byte order), ascending.
	ListObjects(ctx context.Context, bucketID, prefix, after string, limit int) ([]*atelier.Object, error)
	// CountObjects returns the number of objects in a bucket.
	CountObjects(ctx context.Context, bucketID string) (int64, error)

	// QueueBlobDeletion records that a blob must be deleted (used when an
	// upload is abandoned and its immediate delete fails).
	QueueBlobDeletion(ctx context.Context, blobKey string) error
	// PendingBlobDeletions returns up to limit queued blob keys, oldest first.
	PendingBlobDeletions(ctx context.Context, limit int) ([]string, error)
	// DoneBlobDeletion removes a blob key from the queue; unknown keys are not
	// an error.
	DoneBlobDeletion(ctx context.Context, blobKey string) error
}
