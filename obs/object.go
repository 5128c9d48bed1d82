package obs

import (
	"bytes"
	"cmp"
	"context"
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"

	"github.com/atelier-dev/atelier"
	"github.com/atelier-dev/atelier/store"
)

// DefaultContentType is the content type of an object uploaded without one.
const DefaultContentType = "application/octet-stream"

// newBlobKey returns a fresh blob key, spread over directories by its first
// two characters.
func newBlobKey() string {
	id := atelier.NewID()
	return "data/" + id[:2] + "/" + id
}

// PutObject streams r into bucket/key; see atelier.ObjectService.
func (s *Service) PutObject(ctx context.Context, bucket, key string, r io.Reader, opts atelier.PutOptions) (*atelier.Object, error) {
	switch {
	case opts.MD5 != nil && len(opts.MD5) != md5.Size:
		return nil, atelier.CodeInvalidDigest.Errorf("Content-MD5 must be the base64 of a 16-byte digest.").WithField("content_md5")
	case opts.SHA256 != nil && len(opts.SHA256) != sha256.Size:
		return nil, atelier.CodeInvalidDigest.Errorf("x-atelier-sha256 must be 64 hex characters.").WithField("sha256")
	case opts.Size < -1:
		return nil, atelier.CodeInvalidParam.Errorf("The declared size must not be negative.").WithField("size")
	case opts.Size > s.maxBytes:
		return nil, s.errTooLarge()
	}
	b, err := s.lookup(ctx, bucket, key)
	if err != nil {
		return nil, err
	}
	body := &bodyReader{
		r: r, size: opts.Size, max: s.maxBytes,
		md5: md5.New(), sha: sha256.New(),
		wantMD5: opts.MD5, wantSHA: opts.SHA256,
	}
	write := func(ctx context.Context, blobKey string) error {
		err := s.be.Put(ctx, blobKey, body)
		switch {
		case err == nil:
			return nil
		case body.err != nil:
			return body.err
		case backendError(err) != nil:
			return backendError(err)
		case ctx.Err() != nil:
			return fmt.Errorf("obs: put object: %w: %w", ctx.Err(), err)
		}
		return fmt.Errorf("obs: put object: %w", err)
	}
	return s.upload(ctx, b, key, write, func(o *atelier.Object) {
		o.Size = body.n
		o.ETag = hex.EncodeToString(body.md5.Sum(nil))
		o.SHA256 = hex.EncodeToString(body.sha.Sum(nil))
		o.ContentType = cmp.Or(opts.ContentType, DefaultContentType)
	})
}

func (s *Service) errTooLarge() *atelier.Error {
	return atelier.CodeObjectTooLarge.Errorf("The object is larger than the maximum of %d bytes.", s.maxBytes).WithField("body")
}

// upload runs the flow shared by PutObject and CopyObject: record a pending
// upload, write a fresh blob with write while a heartbeat keeps the record
// fresh, commit the metadata, then delete the blob that was replaced. On any
// failure the blob and the record are removed.
func (s *Service) upload(ctx context.Context, b *atelier.Bucket, key string,
	write func(ctx context.Context, blobKey string) error, describe func(o *atelier.Object),
) (*atelier.Object, error) {
	now := s.now()
	u := &store.Upload{
		ID: atelier.NewID(), BucketID: b.ID, Key: key, BlobKey: newBlobKey(),
		CreatedAt: now, UpdatedAt: now,
	}
	if err := s.st.BeginUpload(ctx, u); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return nil, errNoBucket(b.Name)
		}
		return nil, fmt.Errorf("obs: begin upload: %w", err)
	}
	stop := s.startHeartbeat(ctx, u.ID)
	err := write(ctx, u.BlobKey)
	stop()
	if err != nil {
		s.abandon(ctx, u)
		return nil, err
	}
	// The bytes are written: the object dates from now, and so does the
	// deletion of the blob it replaces.
	now = s.now()
	o := &atelier.Object{
		BucketID: b.ID, Bucket: b.Name, Key: key, BlobKey: u.BlobKey,
		LastModified: now,
	}
	describe(o)
	// Once the bytes are complete, the commit is not cut short by a client
	// that goes away: a commit that lands after a cancellation would leave
	// the outcome unknown.
	replaced, err := s.st.CommitUpload(context.WithoutCancel(ctx), u.ID, o, now)
	if err != nil {
		s.abandon(ctx, u)
		if errors.Is(err, store.ErrNotFound) {
			return nil, errNoBucket(b.Name)
		}
		return nil, fmt.Errorf("obs: commit upload: %w", err)
	}
	if replaced != "" {
		s.deleteBlob(ctx, replaced)
	}
	return o, nil
}

// startHeartbeat touches the upload record every HeartbeatEvery until the
// returned function is called.
func (s *Service) startHeartbeat(ctx context.Context, uploadID string) (stop func()) {
	tick, stopTick := s.clock.NewTicker(s.heartbeat)
	quit := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-quit:
				return
			case <-ctx.Done():
				return
			case <-tick:
				if err := s.st.TouchUpload(ctx, uploadID, s.now()); err != nil && ctx.Err() == nil {
					s.log.WarnContext(ctx, "obs: upload heartbeat failed", "upload", uploadID, "err", err)
				}
			}
		}
	}()
	return func() {
		stopTick()
		close(quit)
		<-done
	}
}

// abandon removes what a failed upload left: its blob, then its record. A
// blob that cannot be deleted now is queued for the sweeper.
func (s *Service) abandon(ctx context.Context, u *store.Upload) {
	ctx = context.WithoutCancel(ctx)
	if err := s.be.Delete(ctx, u.BlobKey); err != nil {
		s.log.WarnContext(ctx, "obs: delete blob of failed upload", "blob", u.BlobKey, "err", err)
		if err := s.st.QueueBlobDeletion(ctx, u.BlobKey, s.now()); err != nil && !errors.Is(err, store.ErrConflict) {
			s.log.ErrorContext(ctx, "obs: queue blob deletion", "blob", u.BlobKey, "err", err)
		}
	}
	if err := s.st.AbortUpload(ctx, u.ID); err != nil {
		s.log.WarnContext(ctx, "obs: abort upload; the sweeper will remove it", "upload", u.ID, "err", err)
	}
}

// deleteBlob deletes a blob that the store has queued for deletion and takes
// it off the queue. When the delete fails it stays queued for the sweeper.
func (s *Service) deleteBlob(ctx context.Context, blobKey string) {
	ctx = context.WithoutCancel(ctx)
	if err := s.be.Delete(ctx, blobKey); err != nil {
		s.log.WarnContext(ctx, "obs: delete blob; left for the sweeper", "blob", blobKey, "err", err)
		return
	}
	if err := s.st.DoneBlobDeletion(ctx, blobKey); err != nil {
		s.log.WarnContext(ctx, "obs: unqueue deleted blob", "blob", blobKey, "err", err)
	}
}

// bodyReader passes an upload body on while it counts and hashes it. It fails
// (so that Backend.Put aborts) on a body longer than allowed, and at the end
// on a short body or a digest that does not match. Its first failure sticks.
type bodyReader struct {
	r                io.Reader
	size             int64 // declared, -1 when unknown
	max              int64
	n                int64
	md5, sha         hash.Hash
	wantMD5, wantSHA []byte
	err              *atelier.Error
}

func (b *bodyReader) Read(p []byte) (int, error) {
	if b.err != nil {
		return 0, b.err
	}
	limit := b.max
	if b.size >= 0 {
		limit = b.size
	}
	// Read at most one byte past the limit, to see that there is one.
	if room := limit + 1 - b.n; int64(len(p)) > room {
		p = p[:room]
	}
	n, err := b.r.Read(p)
	b.n += int64(n)
	if b.n > limit {
		if b.size >= 0 {
			b.err = atelier.CodeIncompleteBody.Errorf("The body is longer than the declared Content-Length of %d bytes.", b.size).WithField("body")
		} else {
			b.err = atelier.CodeObjectTooLarge.Errorf("The object is larger than the maximum of %d bytes.", b.max).WithField("body")
		}
		return 0, b.err
	}
	b.md5.Write(p[:n])
	b.sha.Write(p[:n])
	switch {
	case err == io.EOF:
		b.err = b.check()
		if b.err != nil {
			return n, b.err
		}
	case errors.Is(err, io.ErrUnexpectedEOF) && b.size >= 0:
		b.err = atelier.CodeIncompleteBody.Wrap(err, "The body ended after %d of %d bytes.", b.n, b.size).WithField("body")
		return n, b.err
	case errors.As(err, &b.err):
		// The transport's verdict on the body (too slow, malformed):
		// the client's error, kept as it is whatever the backend makes
		// of it.
		return n, b.err
	}
	return n, err
}

// check verifies the complete body against what the client declared.
func (b *bodyReader) check() *atelier.Error {
	if b.size >= 0 && b.n < b.size {
		return atelier.CodeIncompleteBody.Errorf("The body ended after %d of %d bytes.", b.n, b.size).WithField("body")
	}
	if b.wantMD5 != nil && !bytes.Equal(b.md5.Sum(nil), b.wantMD5) {
		return atelier.CodeChecksumMismatch.Errorf("The body does not match Content-MD5.").WithField("content_md5")
	}
	if b.wantSHA != nil && !bytes.Equal(b.sha.Sum(nil), b.wantSHA) {
		return atelier.CodeChecksumMismatch.Errorf("The body does not match x-atelier-sha256.").WithField("sha256")
	}
	return nil
}

// CopyObject copies srcBucket/srcKey to dstBucket/dstKey on the server side.
func (s *Service) CopyObject(ctx context.Context, dstBucket, dstKey, srcBucket, srcKey string) (*atelier.Object, error) {
	db, err := s.lookup(ctx, dstBucket, dstKey)
	if err != nil {
		return nil, err
	}
	if err := validateKey(srcKey, "copy_source"); err != nil {
		return nil, err
	}
	sb, err := s.bucket(ctx, db.TenantID, srcBucket, "copy_source")
	if err != nil {
		return nil, err
	}
	// The source may be replaced between reading its record and copying its
	// blob; then the blob is gone and the copy starts over from the new one.
	for attempt := 0; ; attempt++ {
		src, err := s.st.GetObject(ctx, sb.ID, srcKey)
		if err != nil {
			if errors.Is(err, store.ErrNotFound) {
				return nil, errNoObject(srcKey).WithField("copy_source")
			}
			return nil, fmt.Errorf("obs: get copy source: %w", err)
		}
		write := func(ctx context.Context, blobKey string) error {
			err := s.be.Copy(ctx, blobKey, src.BlobKey)
			switch {
			case err == nil:
				return nil
			case backendError(err) != nil:
				return backendError(err)
			}
			return fmt.Errorf("obs: copy object: %w", err)
		}
		o, err := s.upload(ctx, db, dstKey, write, func(o *atelier.Object) {
			o.Size, o.ETag, o.SHA256, o.ContentType = src.Size, src.ETag, src.SHA256, src.ContentType
		})
		if errors.Is(err, ErrNotFound) && attempt < 2 {
			continue
		}
		if errors.Is(err, ErrNotFound) {
			return nil, errNoObject(srcKey).WithField("copy_source")
		}
		return o, err
	}
}

// StatObject returns the metadata of an object.
func (s *Service) StatObject(ctx context.Context, bucket, key string) (*atelier.Object, error) {
	b, err := s.lookup(ctx, bucket, key)
	if err != nil {
		return nil, err
	}
	return s.object(ctx, b, key)
}

// lookup checks the tenant, bucket name and key and returns the bucket.
func (s *Service) lookup(ctx context.Context, bucket, key string) (*atelier.Bucket, error) {
	tenant, err := atelier.TenantFromContext(ctx)
	if err != nil {
		return nil, err
	}
	if err := ValidateBucketName(bucket); err != nil {
		return nil, err
	}
	if err := ValidateKey(key); err != nil {
		return nil, err
	}
	return s.bucket(ctx, tenant, bucket, "bucket")
}

func (s *Service) object(ctx context.Context, b *atelier.Bucket, key string) (*atelier.Object, error) {
	o, err := s.st.GetObject(ctx, b.ID, key)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return nil, errNoObject(key)
		}
		return nil, fmt.Errorf("obs: get object: %w", err)
	}
	o.Bucket = b.Name
	return o, nil
}

// GetObject opens an object, or a range of it; see atelier.ObjectService.
func (s *Service) GetObject(ctx context.Context, bucket, key string, rng *atelier.Range) (*atelier.Object, io.ReadCloser, *atelier.Range, error) {
	b, err := s.lookup(ctx, bucket, key)
	if err != nil {
		return nil, nil, nil, err
	}
	// The object may be replaced or deleted between reading its record and
	// opening its blob; then read the record again.
	for attempt := 0; ; attempt++ {
		o, err := s.object(ctx, b, key)
		if err != nil {
			return nil, nil, nil, err
		}
		served := atelier.Range{Offset: 0, Length: -1}
		if rng != nil {
			if served, err = resolveRange(o.Size, *rng); err != nil {
				return nil, nil, nil, err
			}
		}
		rc, err := s.be.Open(ctx, o.BlobKey, served.Offset, served.Length)
		if errors.Is(err, ErrNotFound) && attempt < 2 {
			continue
		}
		if err != nil {
			if errors.Is(err, ErrNotFound) {
				return nil, nil, nil, errNoObject(key)
			}
			if berr := backendError(err); berr != nil {
				return nil, nil, nil, berr
			}
			return nil, nil, nil, fmt.Errorf("obs: open object: %w", err)
		}
		if rng == nil {
			return o, rc, nil, nil
		}
		return o, rc, &served, nil
	}
}

// resolveRange turns a requested range into the one served for an object of
// size bytes: suffix ranges become absolute, the end is clamped.
func resolveRange(size int64, r atelier.Range) (atelier.Range, error) {
	unsatisfiable := func() error {
		return atelier.CodeRangeNotSatisfiable.Errorf("The range starts past the end of the %d-byte object.", size).WithField("range")
	}
	if r.Offset < 0 {
		if r.Length != -1 {
			return atelier.Range{}, atelier.CodeInvalidParam.Errorf("A suffix range has no length.").WithField("range")
		}
		if size == 0 {
			return atelier.Range{}, unsatisfiable()
		}
		n := min(-r.Offset, size)
		return atelier.Range{Offset: size - n, Length: n}, nil
	}
	if r.Length == 0 || r.Length < -1 {
		return atelier.Range{}, atelier.CodeInvalidParam.Errorf("The range length must be positive.").WithField("range")
	}
	if r.Offset >= size {
		return atelier.Range{}, unsatisfiable()
	}
	n := size - r.Offset
	if r.Length != -1 && r.Length < n {
		n = r.Length
	}
	return atelier.Range{Offset: r.Offset, Length: n}, nil
}

// DeleteObject deletes an object and its blob.
func (s *Service) DeleteObject(ctx context.Context, bucket, key string) error {
	b, err := s.lookup(ctx, bucket, key)
	if err != nil {
		return err
	}
	blobKey, err := s.st.DeleteObject(ctx, b.ID, key, s.now())
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return errNoObject(key)
		}
		return fmt.Errorf("obs: delete object: %w", err)
	}
	s.deleteBlob(ctx, blobKey)
	return nil
}
