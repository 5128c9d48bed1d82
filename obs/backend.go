package obs

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"

	"github.com/atelier-dev/atelier"
)

// Errors of the Backend contract. Backends wrap them, so test with errors.Is.
var (
	// ErrNotFound means the blob does not exist.
	ErrNotFound = errors.New("obs: blob not found")
	// ErrNoSpace means the backend ran out of space (ENOSPC or a quota); the
	// service answers atelier.CodeStorageFull.
	ErrNoSpace = errors.New("obs: no space left in the object backend")
)

// UnavailableError is what a backend returns (wrapped) when it cannot be
// reached, refuses the server's credentials or is misconfigured: a failure
// of the backend, not of the request. The service answers
// atelier.CodeObjectBackend with Backend in the message.
type UnavailableError struct {
	// Backend names the backend for users and operators, e.g. `s3 bucket
	// "data"`: never a credential or a whole URL.
	Backend string
	Err     error
}

func (e *UnavailableError) Error() string {
	return "obs: " + e.Backend + " is unavailable: " + e.Err.Error()
}

func (e *UnavailableError) Unwrap() error { return e.Err }

// backendError turns the error of a backend call that failed because of the
// backend into the service's answer: CodeStorageFull when it is out of
// space, CodeObjectBackend when it is unavailable; it returns nil for any
// other error, which the caller wraps itself.
func backendError(err error) error {
	var ue *UnavailableError
	switch {
	case errors.Is(err, ErrNoSpace):
		return atelier.CodeStorageFull.Wrap(err, "The object store is out of space; nothing was stored.")
	case errors.As(err, &ue):
		return atelier.CodeObjectBackend.Wrap(err, "The object store's backend (%[2]s) does not answer or refuses the server's credentials; retry in %[1]d seconds.",
			atelier.StoreRetryAfter, ue.Backend)
	}
	return nil
}

// Backend stores the bytes of objects under opaque blob keys. It knows
// nothing of buckets, tenants or metadata, which live in the store.
// Implementations are safe for concurrent use.
//
// Error contract, for every method: a missing blob gives an error for which
// errors.Is(err, ErrNotFound) (except Delete, where it is no error); running
// out of space gives errors.Is(err, ErrNoSpace); a backend that cannot be
// reached or refuses the server gives an *UnavailableError (errors.As); an
// error returned by the
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

// probePrefix holds the blobs that Probe writes; the service's blob keys
// never start with it.
const probePrefix = "probe/"

// Probe checks that b works end to end: it writes a small blob under
// probe/, reads it back, compares, and deletes it. The server runs it at
// start, so that a backend that cannot work (a wrong endpoint, bucket or
// credentials, a read-only directory) fails there and not at the first
// upload.
func Probe(ctx context.Context, b Backend) error {
	var id [12]byte
	if _, err := rand.Read(id[:]); err != nil {
		return err
	}
	key := probePrefix + hex.EncodeToString(id[:])
	want := []byte("atelier object store probe " + key)
	if err := b.Put(ctx, key, bytes.NewReader(want)); err != nil {
		return fmt.Errorf("write a probe blob: %w", err)
	}
	rc, err := b.Open(ctx, key, 0, -1)
	if err != nil {
		_ = b.Delete(ctx, key)
		return fmt.Errorf("read back the probe blob: %w", err)
	}
	got, err := io.ReadAll(io.LimitReader(rc, int64(len(want))+1))
	_ = rc.Close()
	if err == nil && !bytes.Equal(got, want) {
		err = fmt.Errorf("read %d bytes that differ from the %d written", len(got), len(want))
	}
	if err != nil {
		_ = b.Delete(ctx, key)
		return fmt.Errorf("read back the probe blob: %w", err)
	}
	if err := b.Delete(ctx, key); err != nil {
		return fmt.Errorf("delete the probe blob: %w", err)
	}
	return nil
}
