package obs

import (
	"context"
	"fmt"
	"io"
	"sync"
	"syscall"
)

// NewQuotaBackend wraps b so that it holds at most maxBytes in all, like a
// disk of that size. A write that would go beyond fails mid-stream with an
// error wrapping syscall.ENOSPC (and ErrNoSpace), and the inner write is
// aborted. It counts only blobs written through it. The result is safe for
// concurrent use; tests use it to simulate a full disk.
func NewQuotaBackend(b Backend, maxBytes int64) Backend {
	return &quotaBackend{Backend: b, max: maxBytes, sizes: make(map[string]int64)}
}

type quotaBackend struct {
	Backend
	max int64

	mu    sync.Mutex
	used  int64            // committed and in-flight bytes
	sizes map[string]int64 // committed blobs
}

var _ Backend = (*quotaBackend)(nil)

func (q *quotaBackend) errFull() error {
	return fmt.Errorf("obs: quota of %d bytes exceeded: %w: %w", q.max, ErrNoSpace, syscall.ENOSPC)
}

// reserve takes n bytes of the quota, or fails when they do not fit.
func (q *quotaBackend) reserve(n int64) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.used+n > q.max {
		return q.errFull()
	}
	q.used += n
	return nil
}

// commit records key as holding n reserved bytes, freeing what it replaced.
func (q *quotaBackend) commit(key string, n int64) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if old, ok := q.sizes[key]; ok {
		q.used -= old
	}
	q.sizes[key] = n
}

func (q *quotaBackend) release(n int64) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.used -= n
}

func (q *quotaBackend) Put(ctx context.Context, key string, r io.Reader) error {
	qr := &quotaReader{q: q, r: r}
	if err := q.Backend.Put(ctx, key, qr); err != nil {
		q.release(qr.n)
		return err
	}
	q.commit(key, qr.n)
	return nil
}

func (q *quotaBackend) Copy(ctx context.Context, dst, src string) error {
	q.mu.Lock()
	n := q.sizes[src]
	q.mu.Unlock()
	if err := q.reserve(n); err != nil {
		return fmt.Errorf("obs: copy %q: %w", src, err)
	}
	if err := q.Backend.Copy(ctx, dst, src); err != nil {
		q.release(n)
		return err
	}
	q.commit(dst, n)
	return nil
}

func (q *quotaBackend) Delete(ctx context.Context, key string) error {
	if err := q.Backend.Delete(ctx, key); err != nil {
		return err
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if n, ok := q.sizes[key]; ok {
		q.used -= n
		delete(q.sizes, key)
	}
	return nil
}

// quotaReader takes quota for every byte it passes on and fails like a full
// disk when there is none left.
type quotaReader struct {
	q *quotaBackend
	r io.Reader
	n int64
}

func (r *quotaReader) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	if n > 0 {
		if qerr := r.q.reserve(int64(n)); qerr != nil {
			return 0, qerr
		}
		r.n += int64(n)
	}
	return n, err
}
