package obs

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/atelier-dev/atelier/store"
)

// sweepBatch is how many records the sweeper reads at a time.
const sweepBatch = 100

// Sweep removes what interrupted work left behind. It deletes the blobs of
// pending uploads whose heartbeat is older than StaleAfter (with all, of
// every pending upload: for the start of a single-process server, when no
// upload can be running), including the temporary files of interrupted
// writes, and then their records. Then it drains the queue of blobs to
// delete. It returns the errors it met; what failed is retried next time.
func (s *Service) Sweep(ctx context.Context, all bool) error {
	before := s.now().Add(-s.staleAfter)
	if all {
		before = s.now().Add(24 * time.Hour)
	}
	var errs []error
	// A failed upload keeps its record, so the next query would return it
	// again: remember the failures and stop once a batch has nothing new.
	failed := map[string]bool{}
	for {
		ups, err := s.st.StaleUploads(ctx, before, sweepBatch+len(failed))
		if err != nil {
			return errors.Join(append(errs, fmt.Errorf("obs: sweep: list stale uploads: %w", err))...)
		}
		progress := false
		for _, u := range ups {
			if failed[u.ID] {
				continue
			}
			progress = true
			if err := s.sweepUpload(ctx, u); err != nil {
				failed[u.ID] = true
				errs = append(errs, err)
			}
		}
		if !progress || len(ups) < sweepBatch+len(failed) {
			break
		}
	}
	if err := s.drainDeletions(ctx); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// sweepUpload removes one abandoned upload. The blob is queued for deletion
// before the record goes, so that it is never lost track of; once the record
// is gone, a late CommitUpload of a server that was only slow fails instead
// of committing a deleted blob.
func (s *Service) sweepUpload(ctx context.Context, u *store.Upload) error {
	if err := s.st.QueueBlobDeletion(ctx, u.BlobKey, s.now()); err != nil && !errors.Is(err, store.ErrConflict) {
		return fmt.Errorf("obs: sweep upload %s: queue blob: %w", u.ID, err)
	}
	if err := s.st.AbortUpload(ctx, u.ID); err != nil {
		return fmt.Errorf("obs: sweep upload %s: %w", u.ID, err)
	}
	// The upload may have committed between StaleUploads and AbortUpload;
	// then its blob is live and must stay.
	if o, err := s.st.GetObject(ctx, u.BucketID, u.Key); err == nil && o.BlobKey == u.BlobKey {
		return s.st.DoneBlobDeletion(ctx, u.BlobKey)
	} else if err != nil && !errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("obs: sweep upload %s: %w", u.ID, err)
	}
	if err := s.deletePrefix(ctx, u.BlobKey); err != nil {
		return fmt.Errorf("obs: sweep upload %s: %w", u.ID, err)
	}
	if err := s.st.DoneBlobDeletion(ctx, u.BlobKey); err != nil {
		return fmt.Errorf("obs: sweep upload %s: %w", u.ID, err)
	}
	s.log.InfoContext(ctx, "obs: swept abandoned upload", "upload", u.ID, "blob", u.BlobKey)
	return nil
}

// deletePrefix deletes a blob and every leftover of an interrupted write of
// it (<key>.<hex>.tmp on the file backend).
func (s *Service) deletePrefix(ctx context.Context, blobKey string) error {
	var keys []string
	err := s.be.List(ctx, blobKey, func(key string) error {
		if key == blobKey || strings.HasPrefix(key, blobKey+".") {
			keys = append(keys, key)
		}
		return nil
	})
	if err != nil {
		return err
	}
	keys = append(keys, blobKey)
	for _, k := range keys {
		if err := s.be.Delete(ctx, k); err != nil {
			return err
		}
	}
	return nil
}

// drainDeletions deletes the blobs in the deletion queue.
func (s *Service) drainDeletions(ctx context.Context) error {
	var errs []error
	failed := map[string]bool{}
	for {
		keys, err := s.st.PendingBlobDeletions(ctx, sweepBatch+len(failed))
		if err != nil {
			return errors.Join(append(errs, fmt.Errorf("obs: sweep: list queued blobs: %w", err))...)
		}
		progress := false
		for _, k := range keys {
			if failed[k] {
				continue
			}
			progress = true
			err := s.be.Delete(ctx, k)
			if err == nil {
				err = s.st.DoneBlobDeletion(ctx, k)
			}
			if err != nil {
				failed[k] = true
				errs = append(errs, fmt.Errorf("obs: sweep: delete queued blob: %w", err))
			}
		}
		if !progress || len(keys) < sweepBatch+len(failed) {
			return errors.Join(errs...)
		}
	}
}

// Start runs Sweep every SweepEvery on the injected clock until Stop or until
// ctx is done. Calling Start on a running Service does nothing.
func (s *Service) Start(ctx context.Context) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cancel != nil {
		return
	}
	ctx, cancel := context.WithCancel(ctx)
	tick, stopTick := s.clock.NewTicker(s.sweepEvery)
	stopped := make(chan struct{})
	s.cancel, s.stopped = cancel, stopped
	go func() {
		defer close(stopped)
		defer stopTick()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick:
				if err := s.Sweep(ctx, false); err != nil && ctx.Err() == nil {
					s.log.WarnContext(ctx, "obs: sweep", "err", err)
				}
			}
		}
	}()
}

// Stop stops the sweeper that Start runs and waits for it. It is safe to call
// more than once and without Start.
func (s *Service) Stop() {
	s.mu.Lock()
	cancel, stopped := s.cancel, s.stopped
	s.cancel, s.stopped = nil, nil
	s.mu.Unlock()
	if cancel == nil {
		return
	}
	cancel()
	<-stopped
}
