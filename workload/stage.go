package workload

import (
	"archive/zip"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"

	"github.com/atelier-dev/atelier"
)

// SourceKind is what an object path names.
type SourceKind string

// Kinds of source.
const (
	SourceDir    SourceKind = "dir"    // a directory holding at least one object
	SourceZip    SourceKind = "zip"    // a .zip object, unpacked when staged
	SourceObject SourceKind = "object" // any other object, staged as its base name
)

// Source is an existing OBS directory, .zip object or plain object.
type Source struct {
	atelier.ObjectPath
	Kind SourceKind
	Size int64 // of a zip or object
}

// Errors of ResolveSource, for callers to turn into their own codes.
var (
	// ErrNoSource: nothing exists at the path (or its bucket is missing:
	// then the error is a *NoBucketError too).
	ErrNoSource = errors.New("workload: source does not exist")
	// ErrBadZip: a .zip source is not a zip, or has an entry that would
	// land outside its directory (an *UnsafeEntryError then names it).
	ErrBadZip = errors.New("workload: bad zip")
)

// NoBucketError says that a source's bucket does not exist.
type NoBucketError struct{ Bucket string }

func (e *NoBucketError) Error() string { return "workload: no bucket " + strconv.Quote(e.Bucket) }
func (e *NoBucketError) Unwrap() error { return ErrNoSource }

// UnsafeEntryError names a zip entry that would escape its directory.
type UnsafeEntryError struct{ Entry string }

func (e *UnsafeEntryError) Error() string {
	return "workload: unsafe zip entry " + strconv.Quote(e.Entry)
}
func (e *UnsafeEntryError) Unwrap() error { return ErrBadZip }

func isZip(key string) bool { return strings.HasSuffix(strings.ToLower(key), ".zip") }

// NotFound reports whether err is the object store's not-found (bucket or
// object) or an invalid name, which cannot exist either.
func NotFound(err error) bool {
	var ae *atelier.Error
	return errors.As(err, &ae) && (ae.Kind == atelier.NotFound || ae.Code == atelier.CodeInvalidBucketName.ID || ae.Code == atelier.CodeInvalidObjectKey.ID)
}

// ResolveSource finds what op names in the caller's object store: a
// directory with at least one object, a .zip (whose directory it checks,
// a few range reads) or another object. A path without a trailing "/"
// that names no object but a non-empty directory is taken as that
// directory. It returns ErrNoSource or ErrBadZip (wrapped) for what the
// caller must refuse, other errors for failures.
func ResolveSource(ctx context.Context, objects atelier.ObjectService, op atelier.ObjectPath) (*Source, error) {
	if !op.IsDir() {
		o, err := objects.StatObject(ctx, op.Bucket, op.Key)
		switch {
		case err == nil:
			src := &Source{ObjectPath: op, Kind: SourceObject, Size: o.Size}
			if isZip(op.Key) {
				src.Kind = SourceZip
				if err := checkZip(ctx, objects, src); err != nil {
					return nil, err
				}
			}
			return src, nil
		case !NotFound(err):
			return nil, fmt.Errorf("workload: stat %s: %w", op, err)
		}
		op.Key += "/"
	}
	l, err := objects.ListObjects(ctx, op.Bucket, atelier.ListQuery{Prefix: op.Key, MaxKeys: 1})
	if err != nil {
		if NotFound(err) {
			return nil, &NoBucketError{Bucket: op.Bucket}
		}
		return nil, fmt.Errorf("workload: list %s: %w", op, err)
	}
	if len(l.Objects) == 0 {
		return nil, ErrNoSource
	}
	return &Source{ObjectPath: op, Kind: SourceDir}, nil
}

// Has reports whether the directory or zip src holds the file rel
// (slash-separated, relative).
func (src *Source) Has(ctx context.Context, objects atelier.ObjectService, rel string) (bool, error) {
	switch src.Kind {
	case SourceDir:
		_, err := objects.StatObject(ctx, src.Bucket, src.Key+rel)
		if err != nil {
			if NotFound(err) {
				return false, nil
			}
			return false, fmt.Errorf("workload: stat %s: %w", rel, err)
		}
		return true, nil
	case SourceZip:
		zr, err := zip.NewReader(&objectReaderAt{ctx: ctx, s: objects, p: src.ObjectPath, size: src.Size}, src.Size)
		if err != nil && !errors.Is(err, zip.ErrInsecurePath) {
			return false, fmt.Errorf("workload: read zip: %w", err)
		}
		for _, f := range zr.File {
			if path.Clean(strings.TrimPrefix(f.Name, "./")) == rel && !f.FileInfo().IsDir() {
				return true, nil
			}
		}
	}
	return false, nil
}

// checkZip reads the central directory of a zip and refuses one that is
// not a zip or has an entry that would land outside its target directory.
func checkZip(ctx context.Context, objects atelier.ObjectService, src *Source) error {
	zr, err := zip.NewReader(&objectReaderAt{ctx: ctx, s: objects, p: src.ObjectPath, size: src.Size}, src.Size)
	if err != nil && !errors.Is(err, zip.ErrInsecurePath) {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("workload: %s: %w", src, ErrBadZip)
	}
	for _, f := range zr.File {
		if _, err := zipEntryPath(f); err != nil {
			return &UnsafeEntryError{Entry: f.Name}
		}
	}
	return nil
}

// zipEntryPath returns the local, slash-separated path of a zip entry, or
// an error for an absolute path, a ".." element, a backslash or a link.
func zipEntryPath(f *zip.File) (string, error) {
	name := f.Name
	if name == "" || strings.HasPrefix(name, "/") || strings.Contains(name, "\\") || strings.Contains(name, "\x00") {
		return "", ErrUnsafeZip
	}
	if slices.Contains(strings.Split(name, "/"), "..") {
		return "", ErrUnsafeZip
	}
	c := path.Clean(name)
	if c == "." {
		return "", nil // the root itself
	}
	if !filepath.IsLocal(filepath.FromSlash(c)) {
		return "", ErrUnsafeZip
	}
	if f.Mode()&(fs.ModeSymlink|fs.ModeDevice|fs.ModeNamedPipe|fs.ModeSocket|fs.ModeCharDevice) != 0 {
		return "", ErrUnsafeZip
	}
	return c, nil
}

// StageError is a staging failure whose message is safe to show a
// workload's owner.
type StageError struct{ Msg string }

func (e *StageError) Error() string { return e.Msg }

// StepError says which part of a workload a staging or collection error
// is about ("spec.inputs[0]").
type StepError struct {
	What string
	Err  error
}

func (e *StepError) Error() string { return e.What + ": " + e.Err.Error() }
func (e *StepError) Unwrap() error { return e.Err }

// SafeMessage returns a message about err that is safe to show the
// workload's owner: no paths and no internals.
func SafeMessage(err error) string {
	prefix := ""
	if se, ok := errors.AsType[*StepError](err); ok {
		prefix = se.What + ": "
	}
	if se, ok := errors.AsType[*StageError](err); ok {
		return prefix + se.Msg
	}
	if ae, ok := errors.AsType[*atelier.Error](err); ok {
		return prefix + ae.Message
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return prefix + "timed out"
	}
	return prefix + "an internal error (the server log has the details)"
}

// Staging errors safe to show.
var (
	ErrUnsafeZip = &StageError{"the zip has an entry with an absolute path, a '..' element or a link"}
	ErrZipTooBig = &StageError{"the zip unpacks to more than the server allows"}
)

// objectReaderAt reads an object with range requests, one 64 KiB window at
// a time, so that archive/zip can read a zip's directory without
// downloading it.
type objectReaderAt struct {
	ctx  context.Context
	s    atelier.ObjectService
	p    atelier.ObjectPath
	size int64

	winOff int64
	win    []byte
}

const readWindow = 64 << 10

func (r *objectReaderAt) ReadAt(p []byte, off int64) (int, error) {
	n := 0
	for n < len(p) {
		o := off + int64(n)
		if o >= r.size {
			return n, io.EOF
		}
		if r.win == nil || o < r.winOff || o >= r.winOff+int64(len(r.win)) {
			start := o - o%readWindow
			length := min(int64(readWindow), r.size-start)
			_, rc, _, err := r.s.GetObject(r.ctx, r.p.Bucket, r.p.Key, &atelier.Range{Offset: start, Length: length})
			if err != nil {
				return n, err
			}
			buf := make([]byte, length)
			_, err = io.ReadFull(rc, buf)
			rc.Close()
			if err != nil {
				return n, err
			}
			r.winOff, r.win = start, buf
		}
		n += copy(p[n:], r.win[o-r.winOff:])
	}
	return n, nil
}

// StageSource puts the directory, zip or object src into the local
// directory dst: a directory's objects under their relative keys, a zip
// unpacked (at most maxUnzip bytes, through a temporary file in tmpDir),
// an object as its base name.
func StageSource(ctx context.Context, objects atelier.ObjectService, src *Source, dst, tmpDir string, maxUnzip int64) error {
	if err := os.MkdirAll(dst, 0o750); err != nil {
		return err
	}
	switch src.Kind {
	case SourceDir:
		return downloadDir(ctx, objects, src.ObjectPath, dst)
	case SourceZip:
		tmp := filepath.Join(tmpDir, "download.zip")
		if err := Download(ctx, objects, src.ObjectPath, tmp); err != nil {
			return err
		}
		defer os.Remove(tmp)
		return Unzip(tmp, dst, maxUnzip)
	default:
		return Download(ctx, objects, src.ObjectPath, filepath.Join(dst, path.Base(src.Key)))
	}
}

// downloadDir downloads every object under the directory src into dst.
func downloadDir(ctx context.Context, objects atelier.ObjectService, src atelier.ObjectPath, dst string) error {
	q := atelier.ListQuery{Prefix: src.Key}
	for {
		l, err := objects.ListObjects(ctx, src.Bucket, q)
		if err != nil {
			return err
		}
		for _, o := range l.Objects {
			rel := strings.TrimPrefix(o.Key, src.Key)
			if rel == "" || strings.HasSuffix(rel, "/") {
				continue // a directory marker
			}
			lp := filepath.FromSlash(rel)
			if !filepath.IsLocal(lp) {
				continue
			}
			if err := Download(ctx, objects, atelier.ObjectPath{Bucket: src.Bucket, Key: o.Key}, filepath.Join(dst, lp)); err != nil {
				return err
			}
		}
		if !l.IsTruncated {
			return nil
		}
		q.ContinuationToken = l.NextContinuationToken
	}
}

// Download streams one object into the file dst, creating its directory.
func Download(ctx context.Context, objects atelier.ObjectService, src atelier.ObjectPath, dst string) error {
	_, rc, _, err := objects.GetObject(ctx, src.Bucket, src.Key, nil)
	if err != nil {
		return err
	}
	defer rc.Close()
	if err := os.MkdirAll(filepath.Dir(dst), 0o750); err != nil {
		return err
	}
	f, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o640)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, ctxReader{ctx, rc}); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// ctxReader stops a copy when ctx ends, so that a stop during a large
// download takes effect at once.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// Unzip unpacks the zip file src into dst, refusing unsafe entries and
// more than maxBytes of content in all.
func Unzip(src, dst string, maxBytes int64) error {
	zr, err := zip.OpenReader(src)
	if err != nil && !errors.Is(err, zip.ErrInsecurePath) {
		return &StageError{"the file is not a valid zip"}
	}
	defer zr.Close()
	left := maxBytes
	for _, f := range zr.File {
		rel, err := zipEntryPath(f)
		if err != nil {
			return err
		}
		if rel == "" {
			continue
		}
		target := filepath.Join(dst, filepath.FromSlash(rel))
		if f.FileInfo().IsDir() {
			if err := os.MkdirAll(target, 0o750); err != nil {
				return err
			}
			continue
		}
		n, err := unzipFile(f, target, left)
		if err != nil {
			return err
		}
		left -= n
	}
	return nil
}

func unzipFile(f *zip.File, target string, left int64) (int64, error) {
	if err := os.MkdirAll(filepath.Dir(target), 0o750); err != nil {
		return 0, err
	}
	rc, err := f.Open()
	if err != nil {
		return 0, &StageError{"the zip has a corrupt entry"}
	}
	defer rc.Close()
	// O_EXCL: an entry may not overwrite an earlier one (or what it could
	// have linked to).
	out, err := os.OpenFile(target, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o640)
	if err != nil {
		if errors.Is(err, fs.ErrExist) {
			return 0, &StageError{"the zip has a duplicate entry " + strconv.Quote(f.Name)}
		}
		return 0, err
	}
	n, err := io.Copy(out, io.LimitReader(rc, left+1))
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		if errors.Is(err, zip.ErrChecksum) || errors.Is(err, zip.ErrFormat) || errors.Is(err, io.ErrUnexpectedEOF) {
			return n, &StageError{"the zip has a corrupt entry"}
		}
		return n, err
	}
	if n > left {
		return n, ErrZipTooBig
	}
	return n, nil
}

// UploadDir streams every regular file under dir to the OBS directory
// dst. Links are skipped: a task must not make the server upload files
// outside its working directory (its processes have all ended when this
// runs, so nothing can swap a file for a link meanwhile).
func UploadDir(ctx context.Context, objects atelier.ObjectService, dir string, dst atelier.ObjectPath) error {
	prefix := dst.Key
	if prefix != "" && !strings.HasSuffix(prefix, "/") {
		prefix += "/"
	}
	return WalkFiles(dir, func(p, rel string) error {
		f, size, err := OpenRegular(p)
		if err != nil || f == nil {
			return err
		}
		defer f.Close()
		_, err = objects.PutObject(ctx, dst.Bucket, prefix+rel, f, atelier.PutOptions{Size: size})
		return err
	})
}

// WalkFiles calls fn with every regular file under dir and its
// slash-separated path relative to dir, in lexical order. Links and other
// kinds of file are skipped; a missing dir holds nothing.
func WalkFiles(dir string, fn func(path, rel string) error) error {
	return filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) && p == dir {
				return nil
			}
			return err
		}
		if !d.Type().IsRegular() {
			return nil
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		return fn(p, filepath.ToSlash(rel))
	})
}

// OpenRegular opens a regular file for reading without following a link
// and returns it with its size; the file is nil (and the error too) when
// path is no longer a regular file, e.g. it became a link.
func OpenRegular(path string) (*os.File, int64, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|unixNoFollow, 0)
	if err != nil {
		if errors.Is(err, syscall.ELOOP) {
			return nil, 0, nil
		}
		return nil, 0, err
	}
	fi, err := f.Stat()
	if err != nil || !fi.Mode().IsRegular() {
		f.Close()
		return nil, 0, err
	}
	return f, fi.Size(), nil
}
