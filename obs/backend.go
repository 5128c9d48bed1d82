package obs

import (
	"context"
	"errors"
	"io"
)

// Errors of the Backend contract. Backends wrap them, so test with errors.Is.
var (
	// ErrNotFound means the blob does not exist.
	ErrNotFound = errors.New("obs: blob not found")
	// ErrNoSpace means the backend ran out of space (ENOSPC or a quota); the
	// service answers atelier.CodeStorageFull.
	ErrNoSpace = errors.New("obs: no space left in the object backend")
)

// Backend stores the bytes of objects under opaque blob keys. It knows
// nothing of buckets, tenants or metadata, which live in the store.
// Implementations are safe for concurrent use.
//
// Error contract, for every method: a missing blob gives an error for which
// errors.Is(err, ErrNotFound) (except Delete, where it is no error); running
// out of space gives errors.Is(err, ErrNoSpace); an error returned by the
// reader given to Put is returned wrapped, so errors.As finds it; a cancelled
// ctx gives an error for which errors.Is(err, ctx.Err()).
type Backend interface {
	// Put streams r to key atomically: either the whole object exists
	// afterwards or nothing; if r returns an error or ctx is cancelled, the
	// write is aborted and nothing remains. An existing blob under key is
	// replaced.
	Put(ctx context.Context, key string, r io.Reader) error
	// Open returns a reader of length bytes from offset (length -1: to the
	// end). ErrNotFound when the blob is missing.
	Open(ctx context.Context, key string, offset, length int64) (io.ReadCloser, error)
	// Copy copies the blob src to dst, atomically like Put. ErrNotFound when
	// src is missing.
	Copy(ctx context.Context, dst, src string) error
	// Delete removes a blob; a missing key is not an error.
	Delete(ctx context.Context, key string) error
	// List calls fn with every key that starts with prefix, including
	// leftovers of interrupted writes (for cleanup). An error from fn stops
	// the listing and is returned. Deleting listed keys from fn is allowed.
	List(ctx context.Context, prefix string, fn func(key string) error) error
	// Ping reports whether the backend answers.
	Ping(ctx context.Context) error
	// Close releases the backend.
	Close() error
}
