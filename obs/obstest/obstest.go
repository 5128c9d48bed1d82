// Package obstest is the conformance suite of obs.Backend: every object
// backend passes RunBackend.
package obstest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"slices"
	"testing"

	"github.com/atelier-dev/atelier/obs"
)

// LargeSize is the size of the object that the streaming test writes.
const LargeSize = 64 << 20

// RunBackend runs the conformance suite against the backends that open
// returns, a fresh one per subtest. The suite closes each backend when its
// subtest ends. A backend under test must hold at least LargeSize plus a few
// KiB.
func RunBackend(t *testing.T, open func(t *testing.T) obs.Backend) {
	t.Helper()
	tests := []struct {
		name string
		fn   func(t *testing.T, ctx context.Context, be obs.Backend)
	}{
		{"PutOpen", testPutOpen},
		{"Ranges", testRanges},
		{"Overwrite", testOverwrite},
		{"Empty", testEmpty},
		{"Copy", testCopy},
		{"DeleteIdempotent", testDelete},
		{"ListPrefix", testList},
		{"AbortReaderError", testAbortReaderError},
		{"AbortCancelled", testAbortCancelled},
		{"LargeStreamed", testLarge},
		{"Ping", testPing},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			be := open(t)
			t.Cleanup(func() {
				if err := be.Close(); err != nil {
					t.Errorf("Close: %v", err)
				}
			})
			tc.fn(t, t.Context(), be)
		})
	}
}

// MustPut writes data to key.
func MustPut(t testing.TB, ctx context.Context, be obs.Backend, key string, data []byte) {
	t.Helper()
	if err := be.Put(ctx, key, bytes.NewReader(data)); err != nil {
		t.Fatalf("Put(%q): %v", key, err)
	}
}

// MustRead returns length bytes of key from offset.
func MustRead(t testing.TB, ctx context.Context, be obs.Backend, key string, offset, length int64) []byte {
	t.Helper()
	rc, err := be.Open(ctx, key, offset, length)
	if err != nil {
		t.Fatalf("Open(%q, %d, %d): %v", key, offset, length, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("read %q: %v", key, err)
	}
	return b
}

// MustList returns the keys under prefix, sorted.
func MustList(t testing.TB, ctx context.Context, be obs.Backend, prefix string) []string {
	t.Helper()
	var keys []string
	if err := be.List(ctx, prefix, func(k string) error { keys = append(keys, k); return nil }); err != nil {
		t.Fatalf("List(%q): %v", prefix, err)
	}
	slices.Sort(keys)
	return keys
}

func wantNotFound(t *testing.T, ctx context.Context, be obs.Backend, key string) {
	t.Helper()
	rc, err := be.Open(ctx, key, 0, -1)
	if err == nil {
		rc.Close()
		t.Fatalf("Open(%q) succeeded; want ErrNotFound", key)
	}
	if !errors.Is(err, obs.ErrNotFound) {
		t.Fatalf("Open(%q) = %v; want ErrNotFound", key, err)
	}
}

func testPutOpen(t *testing.T, ctx context.Context, be obs.Backend) {
	data := []byte("hello, object store")
	MustPut(t, ctx, be, "data/ab/one", data)
	if got := MustRead(t, ctx, be, "data/ab/one", 0, -1); !bytes.Equal(got, data) {
		t.Fatalf("read %q; want %q", got, data)
	}
	wantNotFound(t, ctx, be, "data/ab/missing")
}

func testRanges(t *testing.T, ctx context.Context, be obs.Backend) {
	data := []byte("0123456789")
	MustPut(t, ctx, be, "r", data)
	for _, tc := range []struct {
		off, n int64
		want   string
	}{
		{0, -1, "0123456789"},
		{0, 1, "0"},
		{2, 3, "234"},
		{5, -1, "56789"},
		{9, 1, "9"},
		{7, 3, "789"},
		{4, 0, ""},
	} {
		if got := MustRead(t, ctx, be, "r", tc.off, tc.n); string(got) != tc.want {
			t.Errorf("Open(r, %d, %d) read %q; want %q", tc.off, tc.n, got, tc.want)
		}
	}
}

func testOverwrite(t *testing.T, ctx context.Context, be obs.Backend) {
	MustPut(t, ctx, be, "k", []byte("first version"))
	MustPut(t, ctx, be, "k", []byte("second"))
	if got := MustRead(t, ctx, be, "k", 0, -1); string(got) != "second" {
		t.Fatalf("read %q after overwrite; want %q", got, "second")
	}
}

func testEmpty(t *testing.T, ctx context.Context, be obs.Backend) {
	MustPut(t, ctx, be, "empty", nil)
	if got := MustRead(t, ctx, be, "empty", 0, -1); len(got) != 0 {
		t.Fatalf("read %q from an empty object", got)
	}
}

func testCopy(t *testing.T, ctx context.Context, be obs.Backend) {
	MustPut(t, ctx, be, "src", []byte("copied bytes"))
	if err := be.Copy(ctx, "dst/x", "src"); err != nil {
		t.Fatalf("Copy: %v", err)
	}
	if got := MustRead(t, ctx, be, "dst/x", 0, -1); string(got) != "copied bytes" {
		t.Fatalf("copy holds %q", got)
	}
	if got := MustRead(t, ctx, be, "src", 0, -1); string(got) != "copied bytes" {
		t.Fatalf("source holds %q after copy", got)
	}
	if err := be.Copy(ctx, "dst/y", "nope"); !errors.Is(err, obs.ErrNotFound) {
		t.Fatalf("Copy of a missing blob = %v; want ErrNotFound", err)
	}
	if keys := MustList(t, ctx, be, "dst/"); !slices.Equal(keys, []string{"dst/x"}) {
		t.Fatalf("keys under dst/ = %q; want only dst/x", keys)
	}
}

func testDelete(t *testing.T, ctx context.Context, be obs.Backend) {
	MustPut(t, ctx, be, "d/1", []byte("x"))
	for range 2 {
		if err := be.Delete(ctx, "d/1"); err != nil {
			t.Fatalf("Delete: %v", err)
		}
	}
	wantNotFound(t, ctx, be, "d/1")
	if err := be.Delete(ctx, "never/was"); err != nil {
		t.Fatalf("Delete of a missing key: %v", err)
	}
}

func testList(t *testing.T, ctx context.Context, be obs.Backend) {
	for _, k := range []string{"p/1", "p/2", "p/sub/3", "p2", "q"} {
		MustPut(t, ctx, be, k, []byte(k))
	}
	for _, tc := range []struct {
		prefix string
		want   []string
	}{
		{"p/", []string{"p/1", "p/2", "p/sub/3"}},
		{"p", []string{"p/1", "p/2", "p/sub/3", "p2"}},
		{"", []string{"p/1", "p/2", "p/sub/3", "p2", "q"}},
		{"z", nil},
	} {
		if got := MustList(t, ctx, be, tc.prefix); !slices.Equal(got, tc.want) {
			t.Errorf("List(%q) = %q; want %q", tc.prefix, got, tc.want)
		}
	}
	stop := errors.New("stop")
	n := 0
	err := be.List(ctx, "", func(string) error { n++; return stop })
	if !errors.Is(err, stop) || n != 1 {
		t.Fatalf("List with a failing fn = %v after %d calls; want stop after 1", err, n)
	}
}

// failingReader returns n bytes, then err.
type failingReader struct {
	n   int64
	err error
}

func (r *failingReader) Read(p []byte) (int, error) {
	if r.n <= 0 {
		return 0, r.err
	}
	p = p[:min(int64(len(p)), r.n)]
	clear(p)
	r.n -= int64(len(p))
	return len(p), nil
}

func testAbortReaderError(t *testing.T, ctx context.Context, be obs.Backend) {
	boom := errors.New("boom")
	err := be.Put(ctx, "half/new", &failingReader{n: 1 << 20, err: boom})
	if !errors.Is(err, boom) {
		t.Fatalf("Put with a failing reader = %v; want the reader's error", err)
	}
	wantNotFound(t, ctx, be, "half/new")

	MustPut(t, ctx, be, "half/old", []byte("old content"))
	if err := be.Put(ctx, "half/old", &failingReader{n: 3 << 20, err: boom}); !errors.Is(err, boom) {
		t.Fatalf("Put over an existing blob with a failing reader = %v; want the reader's error", err)
	}
	if got := MustRead(t, ctx, be, "half/old", 0, -1); string(got) != "old content" {
		t.Fatalf("existing blob holds %q after an aborted overwrite", got)
	}
	if keys := MustList(t, ctx, be, "half/"); !slices.Equal(keys, []string{"half/old"}) {
		t.Fatalf("keys after aborted puts = %q; want only half/old", keys)
	}
}

// cancellingReader cancels its context after n bytes and goes on giving
// bytes, like a client that disconnects while the server still has data.
type cancellingReader struct {
	n      int64
	cancel context.CancelFunc
}

func (r *cancellingReader) Read(p []byte) (int, error) {
	if r.n <= 0 {
		r.cancel()
		return len(p), nil
	}
	p = p[:min(int64(len(p)), r.n)]
	r.n -= int64(len(p))
	return len(p), nil
}

func testAbortCancelled(t *testing.T, ctx context.Context, be obs.Backend) {
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	r := io.LimitReader(&cancellingReader{n: 1 << 20, cancel: cancel}, 4<<20)
	if err := be.Put(cctx, "gone/mid", r); err == nil {
		t.Fatal("Put with a context cancelled mid-stream succeeded")
	}
	done, cancel2 := context.WithCancel(ctx)
	cancel2()
	if err := be.Put(done, "gone/before", bytes.NewReader([]byte("x"))); err == nil {
		t.Fatal("Put with a cancelled context succeeded")
	}
	if keys := MustList(t, ctx, be, "gone/"); len(keys) != 0 {
		t.Fatalf("keys after cancelled puts = %q; want none", keys)
	}
}

// genReader yields n deterministic pseudo-random bytes without holding them.
type genReader struct {
	n, off int64
	state  uint64
}

func (g *genReader) Read(p []byte) (int, error) {
	if g.off >= g.n {
		return 0, io.EOF
	}
	p = p[:min(int64(len(p)), g.n-g.off)]
	for i := range p {
		g.state = g.state*6364136223846793005 + 1442695040888963407
		p[i] = byte(g.state >> 56)
	}
	g.off += int64(len(p))
	return len(p), nil
}

// NewGenReader returns a reader of n deterministic pseudo-random bytes that
// holds none of them in memory.
func NewGenReader(n int64) io.Reader { return &genReader{n: n, state: 42} }

func testLarge(t *testing.T, ctx context.Context, be obs.Backend) {
	want := sha256.New()
	if err := be.Put(ctx, "big/one", io.TeeReader(NewGenReader(LargeSize), want)); err != nil {
		t.Fatalf("Put of %d bytes: %v", LargeSize, err)
	}
	rc, err := be.Open(ctx, "big/one", 0, -1)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer rc.Close()
	got := sha256.New()
	n, err := io.Copy(got, rc)
	if err != nil {
		t.Fatalf("read back: %v", err)
	}
	if n != LargeSize || !bytes.Equal(got.Sum(nil), want.Sum(nil)) {
		t.Fatalf("read back %d bytes with a different SHA-256; want %d identical bytes", n, int64(LargeSize))
	}
}

func testPing(t *testing.T, ctx context.Context, be obs.Backend) {
	if err := be.Ping(ctx); err != nil {
		t.Fatalf("Ping: %v", err)
	}
}
