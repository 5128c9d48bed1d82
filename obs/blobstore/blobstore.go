// Package blobstore implements obs.Backend on gocloud.dev/blob: the local
// disk (file://, the default), S3 (s3://) and memory (mem://, for tests).
// It is the only package that imports gocloud, so the obs domain package
// stays free of network and SDK dependencies.
package blobstore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"

	"gocloud.dev/blob"
	"gocloud.dev/blob/fileblob"
	"gocloud.dev/blob/memblob"
	"gocloud.dev/blob/s3blob"
	"gocloud.dev/gcerrors"

	"github.com/atelier-dev/atelier/obs"
)

// opener opens a gocloud bucket for a URL and returns the root directory
// when the bucket is on the local disk.
type opener func(ctx context.Context, u *url.URL) (b *blob.Bucket, dir string, err error)

// backends maps URL schemes to their drivers. It is the only registry: no
// driver is picked through init side effects.
var backends = map[string]opener{
	"file": openFile,
	"s3":   openS3,
	"mem":  openMem,
}

// OpenBackend opens the object backend named by rawURL:
//
//   - file:///abs/dir stores blobs as files under dir (created if missing).
//     Temporary files sit beside their target as <key>.<hex>.tmp, so that
//     List(key) finds what an interrupted write left; files and their
//     directories are fsynced before Put returns.
//   - s3://bucket?endpoint=…&region=… stores blobs in an S3 bucket (see
//     gocloud.dev/blob/s3blob for the query parameters).
//   - mem:// keeps blobs in memory, for tests.
func OpenBackend(ctx context.Context, rawURL string) (obs.Backend, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("obs: parse object store URL: %w", err)
	}
	open, ok := backends[u.Scheme]
	if !ok {
		return nil, fmt.Errorf("obs: unknown object store scheme %q (want file, s3 or mem)", u.Scheme)
	}
	b, dir, err := open(ctx, u)
	if err != nil {
		return nil, fmt.Errorf("obs: open %s object store: %w", u.Scheme, err)
	}
	g := &gcBackend{b: b, dir: dir}
	switch u.Scheme {
	case "file":
		g.name = fmt.Sprintf("file directory %q", dir)
	case "s3":
		g.name, g.remote = fmt.Sprintf("s3 bucket %q", u.Host), true
	default:
		g.name = u.Scheme
	}
	return g, nil
}

func openFile(_ context.Context, u *url.URL) (*blob.Bucket, string, error) {
	if u.Host != "" && u.Host != "localhost" {
		return nil, "", fmt.Errorf("file URL has host %q; want file:///absolute/dir", u.Host)
	}
	if len(u.Query()) > 0 {
		return nil, "", errors.New("file URL takes no query parameters")
	}
	dir := filepath.FromSlash(u.Path)
	if !filepath.IsAbs(dir) {
		return nil, "", fmt.Errorf("file URL path %q is not absolute", u.Path)
	}
	b, err := fileblob.OpenBucket(dir, &fileblob.Options{
		CreateDir:   true,
		DirFileMode: 0o750,
		NoTempDir:   true,
		Metadata:    fileblob.MetadataDontWrite,
	})
	if err != nil {
		return nil, "", err
	}
	return b, filepath.Clean(dir), nil
}

func openS3(ctx context.Context, u *url.URL) (*blob.Bucket, string, error) {
	if u.Host == "" {
		return nil, "", errors.New("s3 URL names no bucket; want s3://bucket?region=…")
	}
	b, err := (&s3blob.URLOpener{}).OpenBucketURL(ctx, u)
	return b, "", err
}

func openMem(_ context.Context, _ *url.URL) (*blob.Bucket, string, error) {
	return memblob.OpenBucket(nil), "", nil
}

// gcBackend is a Backend over a gocloud bucket. dir is the root directory of
// a file bucket, else "".
type gcBackend struct {
	b   *blob.Bucket
	dir string
	// name names the backend in errors (obs.UnavailableError): its kind
	// and bucket or directory, never a credential.
	name string
	// remote says that the backend is reached over the network: its
	// failures, but for a missing blob, are the backend's.
	remote bool

	// synced holds directories fsynced since they may have been created, so
	// that a new directory's entry in its parent is made durable once.
	synced sync.Map
}

// copyBufSize is the size of the pooled buffers that bodies are copied
// through; blob.Writer.ReadFrom would allocate 1 MiB per write instead.
const copyBufSize = 128 << 10

var copyBufs = sync.Pool{New: func() any { b := make([]byte, copyBufSize); return &b }}

// writerOnly hides the ReadFrom method of a writer from io.CopyBuffer.
type writerOnly struct{ io.Writer }

func (g *gcBackend) Put(ctx context.Context, key string, r io.Reader) error {
	// The writer gets its own context: cancelling it before Close is the one
	// way to abort a gocloud write. Close without cancelling would commit
	// whatever was written so far.
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	w, err := g.b.NewWriter(wctx, key, &blob.WriterOptions{
		ContentType:                 "application/octet-stream",
		DisableContentTypeDetection: true,
	})
	if err != nil {
		return g.wrap("put", key, err)
	}
	bufp := copyBufs.Get().(*[]byte)
	_, err = io.CopyBuffer(writerOnly{w}, r, *bufp)
	copyBufs.Put(bufp)
	if err == nil {
		err = ctx.Err()
	}
	if err != nil {
		cancel()
		_ = w.Close() // aborts: the context is cancelled, nothing is committed
		return g.wrap("put", key, err)
	}
	if err := w.Close(); err != nil {
		return g.wrap("put", key, err)
	}
	if err := g.syncFile(key); err != nil {
		_ = g.b.Delete(context.WithoutCancel(ctx), key)
		return g.wrap("put", key, err)
	}
	return nil
}

func (g *gcBackend) Open(ctx context.Context, key string, offset, length int64) (io.ReadCloser, error) {
	r, err := g.b.NewRangeReader(ctx, key, offset, length, nil)
	if err != nil {
		return nil, g.wrap("open", key, err)
	}
	return r, nil
}

func (g *gcBackend) Copy(ctx context.Context, dst, src string) error {
	if err := g.b.Copy(ctx, dst, src, nil); err != nil {
		return g.wrap("copy", src, err)
	}
	if err := g.syncFile(dst); err != nil {
		_ = g.b.Delete(context.WithoutCancel(ctx), dst)
		return g.wrap("copy", dst, err)
	}
	return nil
}

func (g *gcBackend) Delete(ctx context.Context, key string) error {
	err := g.b.Delete(ctx, key)
	if err != nil && gcerrors.Code(err) != gcerrors.NotFound {
		return g.wrap("delete", key, err)
	}
	return nil
}

func (g *gcBackend) List(ctx context.Context, prefix string, fn func(key string) error) error {
	it := g.b.List(&blob.ListOptions{Prefix: prefix})
	for {
		obj, err := it.Next(ctx)
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return g.wrap("list", prefix, err)
		}
		if obj.IsDir {
			continue
		}
		if err := fn(obj.Key); err != nil {
			return err
		}
	}
}

func (g *gcBackend) Ping(ctx context.Context) error {
	ok, err := g.b.IsAccessible(ctx)
	if err != nil {
		return g.wrap("ping", "", err)
	}
	if !ok {
		return &obs.UnavailableError{Backend: g.name, Err: errors.New("not accessible (missing bucket or directory)")}
	}
	return nil
}

func (g *gcBackend) Close() error { return g.b.Close() }

// wrap classifies a gocloud error once, for the Backend contract.
func (g *gcBackend) wrap(op, key string, err error) error {
	switch {
	case gcerrors.Code(err) == gcerrors.NotFound:
		return fmt.Errorf("obs: %s %q: %w: %w", op, key, obs.ErrNotFound, err)
	case errors.Is(err, syscall.ENOSPC) && !errors.Is(err, obs.ErrNoSpace):
		return fmt.Errorf("obs: %s %q: %w: %w", op, key, obs.ErrNoSpace, err)
	case g.unavailable(err):
		return fmt.Errorf("obs: %s %q: %w", op, key, &obs.UnavailableError{Backend: g.name, Err: err})
	}
	return fmt.Errorf("obs: %s %q: %w", op, key, err)
}

// unavailable reports whether err is a failure of the backend itself: for a
// remote one anything but a cancelled call or an error of the reader being
// stored (the network, credentials, a missing bucket); for a local
// directory, one that cannot be read or written (permissions, a read-only
// or failing disk).
func (g *gcBackend) unavailable(err error) bool {
	var ue *obs.UnavailableError
	switch {
	case errors.As(err, &ue), errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return false
	case g.remote:
		return gcerrors.Code(err) != gcerrors.Canceled
	case g.dir != "":
		return errors.Is(err, fs.ErrPermission) || errors.Is(err, syscall.EROFS) || errors.Is(err, syscall.EIO)
	}
	return false
}

// syncFile makes a blob written to the file backend durable: fileblob renames
// its temp file into place but never fsyncs. It syncs the file, its directory
// and, the first time this process sees a directory, the parents up to the
// root, whose entries MkdirAll may just have created. Keys that fileblob
// escapes on disk are not made by the service and are skipped.
func (g *gcBackend) syncFile(key string) error {
	if g.dir == "" || !plainKey(key) {
		return nil
	}
	path := filepath.Join(g.dir, filepath.FromSlash(key))
	if err := syncPath(path); err != nil {
		return err
	}
	for dir := filepath.Dir(path); ; dir = filepath.Dir(dir) {
		if err := syncPath(dir); err != nil {
			return err
		}
		if _, seen := g.synced.LoadOrStore(dir, true); seen || dir == g.dir || len(dir) <= len(g.dir) {
			return nil
		}
	}
}

func syncPath(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	err = f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// plainKey reports whether fileblob stores key under the path of the same
// name: safe characters only, no empty, "." or ".." segment.
func plainKey(key string) bool {
	if key == "" {
		return false
	}
	for i := 0; i < len(key); i++ {
		c := key[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.' || c == '/') {
			return false
		}
	}
	for seg := range strings.SplitSeq(key, "/") {
		if seg == "" || seg == "." || seg == ".." {
			return false
		}
	}
	return true
}

var _ obs.Backend = (*gcBackend)(nil)
