package blobstore

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"

	"github.com/atelier-dev/atelier/obs"
)

// fileBackend stores each blob as the file named by its key under dir.
type fileBackend struct {
	dir  string
	name string // for obs.UnavailableError

	// synced holds directories fsynced since they may have been created, so
	// that a new directory's entry in its parent is made durable once.
	synced sync.Map
}

func openFile(_ context.Context, u *url.URL) (obs.Backend, error) {
	if u.Host != "" && u.Host != "localhost" {
		return nil, fmt.Errorf("file URL has host %q; want file:///absolute/dir", u.Host)
	}
	if len(u.Query()) > 0 {
		return nil, errors.New("file URL takes no query parameters")
	}
	dir := filepath.FromSlash(u.Path)
	if !filepath.IsAbs(dir) {
		return nil, fmt.Errorf("file URL path %q is not absolute", u.Path)
	}
	dir = filepath.Clean(dir)
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, err
	}
	return &fileBackend{dir: dir, name: fmt.Sprintf("file directory %q", dir)}, nil
}

// path returns the file of key; keys are slash-separated plain names.
func (f *fileBackend) path(key string) (string, error) {
	if !plainKey(key) {
		return "", fmt.Errorf("blob key %q is not plain (letters, digits, - _ . /, no empty, . or .. segment)", key)
	}
	return filepath.Join(f.dir, filepath.FromSlash(key)), nil
}

func (f *fileBackend) Put(ctx context.Context, key string, r io.Reader) error {
	path, err := f.path(key)
	if err != nil {
		return f.wrap("put", key, err)
	}
	if err := f.put(ctx, path, r); err != nil {
		return f.wrap("put", key, err)
	}
	return nil
}

// put writes r to a temporary file beside path, syncs it and renames it
// into place; on any failure the temporary file is removed.
func (f *fileBackend) put(ctx context.Context, path string, r io.Reader) (err error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".*.tmp")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			_ = tmp.Close()
			_ = os.Remove(tmp.Name())
		}
	}()
	bufp := copyBufs.Get().(*[]byte)
	defer copyBufs.Put(bufp)
	buf := *bufp
	for {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("%w: %w", errAborted, err)
		}
		n, rerr := r.Read(buf)
		if n > 0 {
			if _, err := tmp.Write(buf[:n]); err != nil {
				return err
			}
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			return rerr
		}
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("%w: %w", errAborted, err)
	}
	if err := tmp.Sync(); err != nil {
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	return f.syncDirs(path)
}

func (f *fileBackend) Open(ctx context.Context, key string, offset, length int64) (io.ReadCloser, error) {
	path, err := f.path(key)
	if err != nil {
		return nil, f.wrap("open", key, err)
	}
	file, err := os.Open(path)
	if err != nil {
		return nil, f.wrap("open", key, err)
	}
	if offset > 0 {
		if _, err := file.Seek(offset, io.SeekStart); err != nil {
			file.Close()
			return nil, f.wrap("open", key, err)
		}
	}
	if length < 0 {
		return file, nil
	}
	return limitedFile{Reader: io.LimitReader(file, length), Closer: file}, nil
}

// limitedFile reads at most a range of a file and closes the file.
type limitedFile struct {
	io.Reader
	io.Closer
}

func (f *fileBackend) Copy(ctx context.Context, dst, src string) error {
	sp, err := f.path(src)
	if err != nil {
		return f.wrap("copy", src, err)
	}
	dp, err := f.path(dst)
	if err != nil {
		return f.wrap("copy", dst, err)
	}
	in, err := os.Open(sp)
	if err != nil {
		return f.wrap("copy", src, err)
	}
	defer in.Close()
	if err := f.put(ctx, dp, in); err != nil {
		return f.wrap("copy", dst, err)
	}
	return nil
}

func (f *fileBackend) Delete(ctx context.Context, key string) error {
	path, err := f.path(key)
	if err != nil {
		return f.wrap("delete", key, err)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return f.wrap("delete", key, err)
	}
	return nil
}

// List walks the directory that holds every key with the prefix and calls
// fn with the matching keys in byte order.
func (f *fileBackend) List(ctx context.Context, prefix string, fn func(key string) error) error {
	root := f.dir
	if i := strings.LastIndexByte(prefix, '/'); i >= 0 {
		root = filepath.Join(f.dir, filepath.FromSlash(prefix[:i]))
	}
	var keys []string
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil // nothing under the prefix (or deleted meanwhile)
			}
			return err
		}
		if d.IsDir() {
			return ctx.Err()
		}
		rel, err := filepath.Rel(f.dir, path)
		if err != nil {
			return err
		}
		if key := filepath.ToSlash(rel); strings.HasPrefix(key, prefix) {
			keys = append(keys, key)
		}
		return nil
	})
	if err != nil {
		return f.wrap("list", prefix, err)
	}
	slices.Sort(keys)
	for _, k := range keys {
		if err := fn(k); err != nil {
			return err
		}
	}
	return nil
}

func (f *fileBackend) Ping(ctx context.Context) error {
	fi, err := os.Stat(f.dir)
	if err == nil && !fi.IsDir() {
		err = errors.New("not a directory")
	}
	if err != nil {
		return &obs.UnavailableError{Backend: f.name, Err: err}
	}
	return nil
}

func (f *fileBackend) Close() error { return nil }

// wrap classifies an error for the Backend contract.
func (f *fileBackend) wrap(op, key string, err error) error {
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("obs: %s %q: %w: %w", op, key, obs.ErrNotFound, err)
	case errors.Is(err, syscall.ENOSPC):
		return fmt.Errorf("obs: %s %q: %w: %w", op, key, obs.ErrNoSpace, err)
	case errors.Is(err, fs.ErrPermission), errors.Is(err, syscall.EROFS), errors.Is(err, syscall.EIO):
		return fmt.Errorf("obs: %s %q: %w", op, key, &obs.UnavailableError{Backend: f.name, Err: err})
	}
	return fmt.Errorf("obs: %s %q: %w", op, key, err)
}

// syncDirs makes a renamed file's entry durable: it syncs the file's
// directory and, the first time this process sees a directory, the parents
// up to the root, whose entries MkdirAll may just have created.
func (f *fileBackend) syncDirs(path string) error {
	for dir := filepath.Dir(path); ; dir = filepath.Dir(dir) {
		if err := syncPath(dir); err != nil {
			return err
		}
		if _, seen := f.synced.LoadOrStore(dir, true); seen || dir == f.dir || len(dir) <= len(f.dir) {
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
	return cmp.Or(err, f.Close())
}

// plainKey reports whether key is safe as a path: safe characters only, no
// empty, "." or ".." segment.
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

var _ obs.Backend = (*fileBackend)(nil)
