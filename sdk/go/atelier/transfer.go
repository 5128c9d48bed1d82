package atelier

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"

	core "github.com/atelier-dev/atelier"
	"golang.org/x/sync/errgroup"
)

// DefaultParallel is how many files a directory transfer moves at once.
const DefaultParallel = 4

// TransferOptions tune a directory transfer. The callbacks may be called from
// several goroutines at once.
type TransferOptions struct {
	Parallel int                           // files in flight at once; default DefaultParallel
	Planned  func(files int, bytes int64)  // once, after listing the source, before any transfer
	Progress func(n int64)                 // bytes moved since the last call
	FileDone func(path string, size int64) // after each file; path is the destination
}

// TransferSummary counts what a transfer moved.
type TransferSummary struct {
	Files int   `json:"files"`
	Bytes int64 `json:"bytes"`
}

// progressReader counts bytes read through it.
type progressReader struct {
	r  io.Reader
	fn func(int64)
}

func (p *progressReader) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	if n > 0 && p.fn != nil {
		p.fn(int64(n))
	}
	return n, err
}

// UploadFile streams the local file localPath to bucket/key. A key that is
// empty or ends in "/" names a directory: the file keeps its name inside it.
// progress, when not nil, is called with the bytes sent. The upload fails
// when the server stored a different size than the file's.
func (c *Client) UploadFile(ctx context.Context, localPath, bucket, key string, progress func(n int64)) (*core.Object, error) {
	f, err := os.Open(localPath)
	if err != nil {
		return nil, fmt.Errorf("upload: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("upload: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return nil, core.CodeInvalidParam.Errorf("%s is not a regular file.", localPath).WithField("path")
	}
	if IsDir(key) {
		key += filepath.Base(localPath)
	}
	var body io.Reader = f
	if progress != nil {
		// Keep the file seekable for a retry after a 401; progress is then
		// counted twice, which only overstates a bar.
		body = &seekingProgress{f: f, fn: progress}
	}
	o, err := c.PutObject(ctx, bucket, key, body, fi.Size(), PutOptions{})
	if err != nil {
		return nil, fmt.Errorf("upload %s: %w", key, err)
	}
	if o.Size != fi.Size() {
		return o, fmt.Errorf("upload %s: %w", key, clientError(CodeChecksum, nil,
			"The server stored %d bytes of %s but the file has %d.", o.Size, key, fi.Size()))
	}
	return o, nil
}

// seekingProgress is a progressReader over a file that stays seekable.
type seekingProgress struct {
	f  *os.File
	fn func(int64)
}

func (s *seekingProgress) Read(b []byte) (int, error) {
	n, err := s.f.Read(b)
	if n > 0 {
		s.fn(int64(n))
	}
	return n, err
}

func (s *seekingProgress) Seek(off int64, whence int) (int64, error) { return s.f.Seek(off, whence) }

// DownloadFile writes bucket/key to localPath. A localPath that ends in a
// path separator or is an existing directory gets the key's base name inside
// it. The bytes go to a temporary file in the destination directory that is
// fsynced and renamed into place only once its size and SHA-256 match what
// the server announced; on any failure it is removed.
func (c *Client) DownloadFile(ctx context.Context, bucket, key, localPath string, progress func(n int64)) (*core.Object, error) {
	if IsDir(key) {
		return nil, core.CodeInvalidParam.Errorf("The key %q names a directory, not an object.", key).WithField("key")
	}
	if strings.HasSuffix(localPath, string(filepath.Separator)) || strings.HasSuffix(localPath, "/") {
		localPath = filepath.Join(localPath, BaseName(key))
	} else if fi, err := os.Stat(localPath); err == nil && fi.IsDir() {
		localPath = filepath.Join(localPath, BaseName(key))
	}
	rc, o, err := c.GetObject(ctx, bucket, key, nil)
	if err != nil {
		return nil, fmt.Errorf("download %s: %w", key, err)
	}
	defer rc.Close()
	if err := writeVerified(localPath, rc, o, progress); err != nil {
		return nil, fmt.Errorf("download %s: %w", key, err)
	}
	return o, nil
}

// copyBufSize is the buffer of file transfers: large enough that a GiB
// costs a thousand syscalls, not thirty thousand.
const copyBufSize = 1 << 20

// writeVerified streams r into path through a temporary file, checking the
// size and SHA-256 announced in o.
func writeVerified(path string, r io.Reader, o *core.Object, progress func(int64)) (err error) {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*.part")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	h := sha256.New()
	var src io.Reader = r
	if progress != nil {
		src = &progressReader{r: r, fn: progress}
	}
	n, err := io.CopyBuffer(io.MultiWriter(f, h), src, make([]byte, copyBufSize))
	if err != nil {
		if _, ok := errors.AsType[*APIError](err); ok {
			return err
		}
		return clientError(CodeConnection, err, "The download of %s broke off after %d bytes: %v.", o.Key, n, err)
	}
	if o.Size >= 0 && n != o.Size {
		return clientError(CodeChecksum, nil, "Received %d bytes of %s but the server announced %d.", n, o.Key, o.Size)
	}
	if want := strings.ToLower(o.SHA256); want != "" {
		if got := hex.EncodeToString(h.Sum(nil)); got != want {
			return clientError(CodeChecksum, nil, "The SHA-256 of the bytes received for %s does not match the server's.", o.Key)
		}
	}
	if err := f.Chmod(0o644); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}

// localFile is one file of a directory upload.
type localFile struct {
	path string
	rel  string // slash-separated, relative to the source directory
	size int64
}

// UploadDir copies the local directory localDir into the directory dstPrefix
// of bucket with `cp -r src dst/` semantics: the source directory's own name
// is created inside dstPrefix, so UploadDir(ctx, "/data/imgs", "b", "in/")
// stores in/imgs/…. dstPrefix must be empty (the bucket's root) or end in "/".
// Only regular files are uploaded (symbolic links to files are followed,
// links to directories are not); empty directories leave nothing behind.
func (c *Client) UploadDir(ctx context.Context, localDir, bucket, dstPrefix string, opts TransferOptions) (*TransferSummary, error) {
	if !IsDir(dstPrefix) {
		return nil, core.CodeInvalidParam.Errorf("The destination %q must end in / to name a directory.", dstPrefix).WithField("destination")
	}
	abs, err := filepath.Abs(localDir)
	if err != nil {
		return nil, fmt.Errorf("upload: %w", err)
	}
	name := filepath.Base(abs)
	if name == string(filepath.Separator) || name == "." {
		return nil, core.CodeInvalidParam.Errorf("Cannot upload the root directory.").WithField("source")
	}
	var files []localFile
	var total int64
	err = filepath.WalkDir(abs, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			return nil
		}
		fi, err := os.Stat(p) // follows a symbolic link
		if err != nil || !fi.Mode().IsRegular() {
			return nil
		}
		rel, err := filepath.Rel(abs, p)
		if err != nil {
			return err
		}
		files = append(files, localFile{path: p, rel: filepath.ToSlash(rel), size: fi.Size()})
		total += fi.Size()
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("upload: %w", err)
	}
	if opts.Planned != nil {
		opts.Planned(len(files), total)
	}
	prefix := dstPrefix + name + "/"
	return runParallel(ctx, opts, files, func(ctx context.Context, f localFile) (string, int64, error) {
		key := prefix + f.rel
		o, err := c.UploadFile(ctx, f.path, bucket, key, opts.Progress)
		if err != nil {
			return "", 0, err
		}
		return "obs://" + bucket + "/" + key, o.Size, nil
	})
}

// DownloadDir copies the directory srcPrefix of bucket into the local
// directory localDir with `cp -r src dst/` semantics: the source's own name
// (its last segment, or the bucket's name for the root) is created inside
// localDir, so DownloadDir(ctx, "b", "in/imgs/", "/tmp/x") writes
// /tmp/x/imgs/…. A srcPrefix without a final "/" is taken as a directory.
// Keys ending in "/" are skipped, so no empty directory is created; a key
// that would land outside the destination is refused.
func (c *Client) DownloadDir(ctx context.Context, bucket, srcPrefix, localDir string, opts TransferOptions) (*TransferSummary, error) {
	if srcPrefix != "" && !strings.HasSuffix(srcPrefix, "/") {
		srcPrefix += "/"
	}
	name := firstNonEmpty(BaseName(srcPrefix), bucket)
	dst := filepath.Join(localDir, name)
	var objs []*core.Object
	var total int64
	err := c.WalkObjects(ctx, bucket, srcPrefix, func(o *core.Object) error {
		if IsDir(o.Key) {
			return nil
		}
		rel := o.Key[len(srcPrefix):]
		if !filepath.IsLocal(filepath.FromSlash(rel)) {
			return core.CodeInvalidObjectKey.Errorf("The key %q cannot be written inside the destination directory.", o.Key).WithField("key")
		}
		objs = append(objs, o)
		total += o.Size
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("download: %w", err)
	}
	if opts.Planned != nil {
		opts.Planned(len(objs), total)
	}
	return runParallel(ctx, opts, objs, func(ctx context.Context, o *core.Object) (string, int64, error) {
		p := filepath.Join(dst, filepath.FromSlash(o.Key[len(srcPrefix):]))
		got, err := c.DownloadFile(ctx, bucket, o.Key, p, opts.Progress)
		if err != nil {
			return "", 0, err
		}
		return p, got.Size, nil
	})
}

// CopyDir copies the directory srcPrefix of srcBucket into the directory
// dstPrefix of dstBucket on the server, with the same `cp -r src dst/`
// semantics as UploadDir and DownloadDir.
func (c *Client) CopyDir(ctx context.Context, dstBucket, dstPrefix, srcBucket, srcPrefix string, opts TransferOptions) (*TransferSummary, error) {
	if !IsDir(dstPrefix) {
		return nil, core.CodeInvalidParam.Errorf("The destination %q must end in / to name a directory.", dstPrefix).WithField("destination")
	}
	if srcPrefix != "" && !strings.HasSuffix(srcPrefix, "/") {
		srcPrefix += "/"
	}
	prefix := dstPrefix + firstNonEmpty(BaseName(srcPrefix), srcBucket) + "/"
	var objs []*core.Object
	var total int64
	err := c.WalkObjects(ctx, srcBucket, srcPrefix, func(o *core.Object) error {
		if !IsDir(o.Key) {
			objs = append(objs, o)
			total += o.Size
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("copy: %w", err)
	}
	if opts.Planned != nil {
		opts.Planned(len(objs), total)
	}
	return runParallel(ctx, opts, objs, func(ctx context.Context, o *core.Object) (string, int64, error) {
		key := prefix + o.Key[len(srcPrefix):]
		got, err := c.CopyObject(ctx, dstBucket, key, srcBucket, o.Key)
		if err != nil {
			return "", 0, fmt.Errorf("copy %s: %w", o.Key, err)
		}
		if opts.Progress != nil {
			opts.Progress(got.Size)
		}
		return "obs://" + dstBucket + "/" + key, got.Size, nil
	})
}

// runParallel runs one transfer per item, at most opts.Parallel at once; the
// first failure cancels the rest and is returned.
func runParallel[T any](ctx context.Context, opts TransferOptions, items []T, one func(context.Context, T) (string, int64, error)) (*TransferSummary, error) {
	n := opts.Parallel
	if n <= 0 {
		n = DefaultParallel
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(n)
	var mu sync.Mutex
	sum := &TransferSummary{}
	for _, it := range items {
		if gctx.Err() != nil {
			break
		}
		g.Go(func() error {
			dst, size, err := one(gctx, it)
			if err != nil {
				return err
			}
			mu.Lock()
			sum.Files++
			sum.Bytes += size
			mu.Unlock()
			if opts.FileDone != nil {
				opts.FileDone(dst, size)
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return sum, err
	}
	if err := ctx.Err(); err != nil {
		return sum, err
	}
	return sum, nil
}
