package blobstore

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/url"
	"slices"
	"strings"
	"sync"

	"github.com/atelier-dev/atelier/obs"
)

// memBackend keeps blobs in a map, for tests.
type memBackend struct {
	mu    sync.Mutex
	blobs map[string][]byte
}

func openMem(context.Context, *url.URL) (obs.Backend, error) {
	return &memBackend{blobs: make(map[string][]byte)}, nil
}

func (m *memBackend) Put(ctx context.Context, key string, r io.Reader) error {
	var b bytes.Buffer
	bufp := copyBufs.Get().(*[]byte)
	_, err := io.CopyBuffer(writerOnly{&b}, r, *bufp)
	copyBufs.Put(bufp)
	if err == nil && ctx.Err() != nil {
		err = fmt.Errorf("%w: %w", errAborted, ctx.Err())
	}
	if err != nil {
		return fmt.Errorf("obs: put %q: %w", key, err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.blobs[key] = b.Bytes()
	return nil
}

// writerOnly hides the ReadFrom method of a writer from io.CopyBuffer.
type writerOnly struct{ io.Writer }

func (m *memBackend) get(op, key string) ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	b, ok := m.blobs[key]
	if !ok {
		return nil, fmt.Errorf("obs: %s %q: %w", op, key, obs.ErrNotFound)
	}
	return b, nil
}

func (m *memBackend) Open(ctx context.Context, key string, offset, length int64) (io.ReadCloser, error) {
	b, err := m.get("open", key)
	if err != nil {
		return nil, err
	}
	b = b[min(offset, int64(len(b))):]
	if length >= 0 {
		b = b[:min(length, int64(len(b)))]
	}
	return io.NopCloser(bytes.NewReader(b)), nil
}

func (m *memBackend) Copy(ctx context.Context, dst, src string) error {
	b, err := m.get("copy", src)
	if err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.blobs[dst] = b // blobs are never changed in place
	return nil
}

func (m *memBackend) Delete(ctx context.Context, key string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.blobs, key)
	return nil
}

func (m *memBackend) List(ctx context.Context, prefix string, fn func(key string) error) error {
	m.mu.Lock()
	var keys []string
	for k := range m.blobs {
		if strings.HasPrefix(k, prefix) {
			keys = append(keys, k)
		}
	}
	m.mu.Unlock()
	slices.Sort(keys)
	for _, k := range keys {
		if err := fn(k); err != nil {
			return err
		}
	}
	return nil
}

func (m *memBackend) Ping(context.Context) error { return nil }

func (m *memBackend) Close() error { return nil }

var _ obs.Backend = (*memBackend)(nil)
